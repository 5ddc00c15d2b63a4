"""Photos are decoded in decoder processes with a hard time and memory limit (issues.photo_decode): a photo that
outruns them is a 400 naming `photos`, its decoder is killed, and the web process goes on serving."""

# The fixtures (issue, media_root) are test_photos.py's, imported by name.
# ruff: noqa: F811

import io
import os
import signal
from http import HTTPStatus

import pytest
from PIL import Image
from rest_framework.test import APIClient

from issues import photo_decode
from issues.models import Issue, Photo
from issues.photo_decode import PhotoDecoder
from issues.photos import photo_add
from tests.api.test_errors import assert_error
from tests.api.test_issues_support import png_file
from tests.issues.test_photos import assert_photos_refused, issue, media_root, upload  # noqa: F401

pytestmark = pytest.mark.django_db


def body(territory) -> dict:
    return {"description": "楼道堆满杂物，消防通道被堵。", "grid": territory["grid"].code}


def big_png(mode: str = "RGBA") -> bytes:
    """Return a 6000 × 4000 PNG of zeros: 24 megapixels, the largest PNG accepted, a second or more to decode."""
    out = io.BytesIO()
    Image.new(mode, (6000, 4000)).save(out, "PNG")
    return out.getvalue()


@pytest.fixture(autouse=True)
def fresh_decoders():
    """Start and end each test with no idle decoder of this process."""
    photo_decode.decoders_stop()
    yield
    photo_decode.decoders_stop()


@pytest.fixture
def killed(monkeypatch) -> list[int]:
    """Record how each decoder that is killed ended (its exit status: -9 for SIGKILL)."""
    statuses = []
    kill = PhotoDecoder.kill

    def spy(self):
        kill(self)
        statuses.append(self.process.returncode)

    monkeypatch.setattr(PhotoDecoder, "kill", spy)
    return statuses


def test_a_photo_over_the_time_limit_is_a_400_on_photos_and_the_web_process_goes_on(
    settings, territory, resident, killed
):
    settings.GRIDDESK_PHOTO_DECODE_SECONDS = 0.01  # far below what a 24-megapixel PNG takes
    client = APIClient(HTTP_ACCEPT_LANGUAGE="en")
    client.force_authenticate(resident)
    slow = upload(big_png(), "slow.png", "image/png")

    response = client.post("/api/v1/issues/", {**body(territory), "photos": [slow]}, format="multipart")

    assert_error(
        response,
        HTTPStatus.BAD_REQUEST,
        "validation_error",
        {"photos": ["slow.png took too long to decode: send a smaller photo."]},
    )
    assert killed == [-signal.SIGKILL]  # the stalled decoder was killed, not waited for
    assert not Issue.objects.exists()

    settings.GRIDDESK_PHOTO_DECODE_SECONDS = 10.0
    response = client.post("/api/v1/issues/", {**body(territory), "photos": [png_file()]}, format="multipart")
    assert response.status_code == HTTPStatus.CREATED, response.content  # a fresh decoder took the next photo
    assert Photo.objects.count() == 1


def test_the_refusal_is_in_chinese_too(settings, territory, resident):
    settings.GRIDDESK_PHOTO_DECODE_SECONDS = 0.01
    client = APIClient(HTTP_ACCEPT_LANGUAGE="zh-hans")
    client.force_authenticate(resident)
    slow = upload(big_png(), "slow.png", "image/png")

    response = client.post("/api/v1/issues/", {**body(territory), "photos": [slow]}, format="multipart")

    assert_error(
        response,
        HTTPStatus.BAD_REQUEST,
        "validation_error",
        {"photos": ["slow.png 解码耗时过长，请发送小一些的照片。"]},
    )


def test_a_photo_over_the_memory_limit_is_refused_by_its_decoder(settings, issue, resident):
    settings.GRIDDESK_PHOTO_DECODE_MEMORY_MB = 150  # enough to start a decoder, not to hold a 24 MP RGBA image

    assert_photos_refused(
        issue, resident, [upload(big_png(), "greedy.png")], contains="greedy.png needs too much memory to decode"
    )


def test_the_photos_of_a_request_share_one_time_budget(settings, issue, resident):
    settings.GRIDDESK_PHOTOS_DECODE_SECONDS = 0

    assert_photos_refused(
        issue, resident, [upload(big_png("L"), "a.png")], contains="a.png was not checked: the photos took too long"
    )


def test_a_decoder_is_reused_from_photo_to_photo(issue, resident, monkeypatch):
    started = []
    init = PhotoDecoder.__init__

    def spy(self, **kwargs):
        init(self, **kwargs)
        started.append(self.process.pid)

    monkeypatch.setattr(PhotoDecoder, "__init__", spy)

    photo_add(issue=issue, actor=resident, files=[png_file("a.png")])
    photo_add(issue=issue, actor=resident, files=[png_file("b.png"), png_file("c.png", color=(0, 90, 200))])

    assert len(started) == 1 and Photo.objects.filter(issue=issue).count() == 3


def test_a_decoder_that_died_while_idle_is_replaced(issue, resident):
    photo_add(issue=issue, actor=resident, files=[png_file("a.png")])
    [idle] = photo_decode._idle
    os.kill(idle.process.pid, signal.SIGKILL)
    idle.process.wait()

    [photo] = photo_add(issue=issue, actor=resident, files=[png_file("b.png")])

    assert photo.width == 32 and photo_decode._idle[0] is not idle


def test_a_decoder_that_dies_on_a_photo_refuses_that_photo_only(issue, resident, monkeypatch):
    read = PhotoDecoder._read

    def die_first(self, size, deadline):
        if not getattr(self, "died", False):  # the photo is sent: end the decoder as a crash in a codec would
            self.died = True
            os.kill(self.process.pid, signal.SIGKILL)
            self.process.wait()
        return read(self, size, deadline)

    monkeypatch.setattr(PhotoDecoder, "_read", die_first)

    assert_photos_refused(issue, resident, [png_file("a.png")], contains="a.png could not be decoded")
    assert photo_decode._idle == []  # the dead decoder was not kept
    monkeypatch.setattr(PhotoDecoder, "_read", read)
    assert len(photo_add(issue=issue, actor=resident, files=[png_file("b.png")])) == 1
