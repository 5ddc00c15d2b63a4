"""The work per photo is bounded: sizes checked from the header before decoding, JPEG decoded at a smaller scale,
everything stored at most MAX_STORED_SIDE long, so six photos in one request cannot stall a web worker."""

# The fixtures (issue, media_root) are test_photos.py's, imported by name.
# ruff: noqa: F811

import io
import struct
import zlib
from http import HTTPStatus

import pytest
from PIL import Image, ImageFile
from PIL.JpegImagePlugin import JpegImageFile
from rest_framework.test import APIClient

from config.errors import ValidationFailed
from issues.models import Issue, Photo
from issues.photo_decode import photo_reencode
from issues.photos import MAX_STORED_SIDE, photo_add
from tests.api.test_errors import assert_error
from tests.issues.test_photos import (  # noqa: F401
    ORIENTATION,
    assert_photos_refused,
    issue,
    media_root,
    stored_image,
    upload,
)


def zeros_png(size, mode="RGB") -> bytes:
    out = io.BytesIO()
    Image.new(mode, size).save(out, "PNG")
    return out.getvalue()


def png_header_only(width: int, height: int) -> bytes:
    """Return a PNG whose header claims `width` × `height` and whose pixels are missing (a bomb's header)."""

    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"")) + chunk(b"IEND", b"")


@pytest.fixture
def no_decoding(monkeypatch):
    """Fail the test if any pixel gets decoded."""

    def load(self):
        raise AssertionError("decoded pixels of an image that should have been refused from its header")

    monkeypatch.setattr(ImageFile.ImageFile, "load", load)


def test_a_48_megapixel_png_of_zeros_is_refused_from_its_header(issue, resident, no_decoding):
    data = zeros_png((8000, 6000), mode="L")
    assert len(data) < 200 * 1024  # 48 megapixels in a few kilobytes: cheap to send, 1 s to decode

    assert_photos_refused(issue, resident, [upload(data, "zeros.png")], contains="more than 24 million pixels")


@pytest.mark.parametrize("size", [(12_000, 12_000), (65_000, 65_000)])
def test_a_header_past_pillows_bomb_limit_is_refused_as_too_many_pixels(issue, resident, size):
    assert_photos_refused(issue, resident, [upload(png_header_only(*size), "bomb.png")], contains="million pixels")


def test_a_24_megapixel_png_is_accepted_and_25_is_not(issue, resident):
    [photo] = photo_add(issue=issue, actor=resident, files=[upload(zeros_png((6000, 4000), mode="L"), "24.png")])
    assert (photo.width, photo.height) == (MAX_STORED_SIDE, 1707) == stored_image(photo).size  # reduced

    with pytest.raises(ValidationFailed) as exc_info:
        photo_add(issue=issue, actor=resident, files=[upload(zeros_png((6000, 4200), mode="L"), "25.png")])
    assert "more than 24 million pixels" in exc_info.value.fields["photos"][0]


def test_a_50_megapixel_jpeg_is_decoded_at_a_smaller_scale_and_keeps_its_orientation(issue, resident, monkeypatch):
    image = Image.new("RGB", (8160, 6120), (200, 30, 30))
    image.paste((30, 30, 200), (0, 0, 4080, 6120))  # left half blue
    exif = Image.Exif()
    exif[ORIENTATION] = 6  # the camera was held upright: turn 90° clockwise to view
    out = io.BytesIO()
    image.save(out, "JPEG", quality=80, exif=exif.tobytes())
    scales = []
    draft = JpegImageFile.draft

    def spy(self, mode, size):
        result = draft(self, mode, size)
        if result is not None:  # None: nothing left to configure (already decoded)
            scales.append(self.size)
        return result

    monkeypatch.setattr(JpegImageFile, "draft", spy)

    # The spy sees this process only: ask the decoder's own function here, then store through a decoder process.
    photo_reencode(out.getvalue())
    [photo] = photo_add(issue=issue, actor=resident, files=[upload(out.getvalue(), "phone.jpg")])

    assert scales == [(4080, 3060)]  # decoded at half scale: a quarter of the pixels
    stored = stored_image(photo)
    assert (photo.width, photo.height) == (1920, MAX_STORED_SIDE) == stored.size
    assert stored.getpixel((960, 10))[2] > 150  # the blue half is on top once turned
    assert "exif" not in stored.info


def test_the_api_answers_400_on_photos_for_an_oversized_png(resident, territory, media_root):  # noqa: F811
    client = APIClient()
    client.force_authenticate(resident)
    body = {
        "description": "楼道堆满杂物，消防通道被堵。",
        "grid": territory["grid"].code,
        "photos": [upload(zeros_png((8000, 6000), mode="L"), "zeros.png", "image/png")],
    }

    response = client.post("/api/v1/issues/", body, format="multipart")

    error = assert_error(response, HTTPStatus.BAD_REQUEST, "validation_error")
    assert list(error["fields"]) == ["photos"]
    assert not Issue.objects.exists() and not Photo.objects.exists()
