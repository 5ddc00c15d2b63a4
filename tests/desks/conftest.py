"""Fixtures of the desk tests."""

import io

import pytest
from PIL import Image


@pytest.fixture
def png_bytes() -> bytes:
    """Return a small real PNG (a photo of the result)."""
    out = io.BytesIO()
    Image.new("RGB", (40, 30), (30, 160, 60)).save(out, "PNG")
    return out.getvalue()
