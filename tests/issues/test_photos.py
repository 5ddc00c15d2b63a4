"""issues.photos: photos are accepted by content, re-encoded without metadata, and refused when they are not photos."""

import io
import uuid
import zipfile

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from PIL import Image

from config.errors import NotFound, ValidationFailed
from issues.models import Issue, Photo
from issues.photos import MAX_PHOTO_PIXELS, MAX_PHOTOS_PER_ISSUE, CleanPhoto, photo_add, photos_clean
from tests.factories import assert_refused

# EXIF tag ids: Orientation, GPSInfo (an IFD), and inside it GPSLatitudeRef / GPSLatitude.
ORIENTATION, GPS_IFD, GPS_LAT_REF, GPS_LAT = 0x0112, 0x8825, 1, 2


@pytest.fixture(autouse=True)
def media_root(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "media"
    return settings.MEDIA_ROOT


@pytest.fixture
def issue(territory, resident):
    """An issue reported by `resident` in the territory's grid, built directly (no workflow needed here)."""
    grid = territory["grid"]
    codes = grid.path_codes
    return Issue.objects.create(
        number=f"GD-TEST-{uuid.uuid4().hex[:8]}",
        description="楼道堆满杂物，堵住了消防通道",
        grid=grid,
        area_path=grid.path,
        district_code=codes[0],
        street_code=codes[1],
        community_code=codes[2],
        grid_code=codes[3],
        reporter_user=resident,
    )


def image_bytes(fmt: str, *, size=(64, 48), mode="RGB", gps=True, orientation=None) -> bytes:
    """Return an image file in `fmt` with GPS EXIF (and an orientation) in it."""
    image = Image.new(mode, size, (200, 30, 30) if mode == "RGB" else None)
    # A left half of another colour shows which way the picture was turned.
    image.paste((30, 30, 200) if mode == "RGB" else 0, (0, 0, size[0] // 2, size[1]))
    exif = Image.Exif()
    if gps:
        exif.get_ifd(GPS_IFD).update({GPS_LAT_REF: "N", GPS_LAT: (25.0, 49.0, 30.0)})
    if orientation:
        exif[ORIENTATION] = orientation
    out = io.BytesIO()
    image.save(out, fmt, exif=exif.tobytes())
    return out.getvalue()


def upload(data: bytes, name: str = "photo.jpg", content_type: str = "image/jpeg") -> SimpleUploadedFile:
    return SimpleUploadedFile(name, data, content_type=content_type)


def stored_image(photo: Photo) -> Image.Image:
    with photo.image.open("rb") as f:
        image = Image.open(io.BytesIO(f.read()))
        image.load()
    return image


def assert_photos_refused(issue, resident, files, *, contains: str):
    """Assert that photo_add refuses `files` naming why, and (tests.factories.assert_refused) changes nothing."""
    refused = assert_refused(ValidationFailed, lambda: photo_add(issue=issue, actor=resident, files=files), issue)
    assert refused.code == "validation_error"
    assert any(contains in m for m in refused.fields["photos"]), refused.fields
    assert Photo.objects.filter(issue=issue).count() == 0


@pytest.mark.parametrize(("fmt", "name"), [("JPEG", "a.jpg"), ("PNG", "a.png"), ("WEBP", "a.webp")])
def test_each_format_is_stored_reencoded_without_exif_or_gps(issue, resident, media_root, fmt, name):
    original = image_bytes(fmt)
    assert Image.open(io.BytesIO(original)).getexif().get_ifd(GPS_IFD)  # the test image really carries GPS

    [photo] = photo_add(issue=issue, actor=resident, files=[upload(original, name)])

    image = stored_image(photo)
    assert (photo.format, image.format, photo.width, photo.height) == (fmt, fmt, 64, 48)
    assert photo.size == photo.image.size
    assert photo.uploaded_by == resident
    assert len(image.getexif()) == 0
    assert "exif" not in image.info and "icc_profile" not in image.info
    with photo.image.open("rb") as f:
        raw = f.read()
    assert raw != original and b"Exif" not in raw
    assert (media_root / photo.image.name).is_file()


def test_exif_orientation_is_applied_before_it_is_dropped(issue, resident):
    # Orientation 6: the camera was turned; viewers rotate 90° clockwise, so 64×48 shows as 48×64.
    [photo] = photo_add(issue=issue, actor=resident, files=[upload(image_bytes("JPEG", orientation=6))])

    image = stored_image(photo)
    assert (photo.width, photo.height) == (48, 64) == image.size
    assert len(image.getexif()) == 0
    # The blue left half is on top after turning.
    assert image.getpixel((24, 5))[2] > 150
    assert image.getpixel((24, 60))[0] > 150


def test_png_named_jpg_is_stored_as_png(issue, resident):
    [photo] = photo_add(issue=issue, actor=resident, files=[upload(image_bytes("PNG"), "holiday.jpg", "image/jpeg")])

    assert photo.format == "PNG"
    assert photo.image.name.endswith(".png")
    assert stored_image(photo).format == "PNG"


def test_transparent_png_keeps_its_alpha(issue, resident):
    [photo] = photo_add(issue=issue, actor=resident, files=[upload(image_bytes("PNG", mode="RGBA"), "a.png")])

    assert stored_image(photo).mode == "RGBA"


def test_text_named_jpg_is_refused(issue, resident):
    assert_photos_refused(
        issue,
        resident,
        [upload(b"hello, this is not a picture\n" * 10, "a.jpg")],
        contains="is not a JPEG, PNG or WebP image",
    )


@pytest.mark.parametrize("fmt", ["GIF", "BMP"])
def test_other_image_formats_are_refused(issue, resident, fmt):
    out = io.BytesIO()
    Image.new("RGB", (8, 8)).save(out, fmt)

    assert_photos_refused(
        issue, resident, [upload(out.getvalue(), "a.jpg")], contains="is not a JPEG, PNG or WebP image"
    )


def test_svg_disguised_as_png_is_refused(issue, resident):
    svg = b'<svg xmlns="http://www.w3.org/2000/svg"><script>alert(1)</script></svg>'

    assert_photos_refused(
        issue, resident, [upload(svg, "a.png", "image/png")], contains="is not a JPEG, PNG or WebP image"
    )


def test_file_over_10_mb_is_refused(issue, resident):
    # A real JPEG header followed by padding: refused on size before anything is decoded.
    data = image_bytes("JPEG") + b"\0" * (11 * 1024 * 1024)

    assert_photos_refused(issue, resident, [upload(data)], contains="larger than 10 MB")


def test_seventh_photo_is_refused_and_the_first_six_stay(issue, resident):
    photo_add(issue=issue, actor=resident, files=[upload(image_bytes("JPEG")) for _ in range(4)])
    photo_add(issue=issue, actor=resident, files=[upload(image_bytes("PNG"), "b.png") for _ in range(2)])
    before = sorted(Photo.objects.filter(issue=issue).values_list("image", flat=True))
    assert len(before) == MAX_PHOTOS_PER_ISSUE

    with pytest.raises(ValidationFailed) as exc_info:
        photo_add(issue=issue, actor=resident, files=[upload(image_bytes("JPEG"))])

    assert exc_info.value.code == "validation_error"
    assert "at most 6 photos" in exc_info.value.fields["photos"][0]
    assert sorted(Photo.objects.filter(issue=issue).values_list("image", flat=True)) == before


def test_seven_photos_at_once_write_nothing(issue, resident, media_root):
    with pytest.raises(ValidationFailed):
        photo_add(issue=issue, actor=resident, files=[upload(image_bytes("JPEG")) for _ in range(7)])

    assert Photo.objects.filter(issue=issue).count() == 0
    assert [p for p in media_root.rglob("*") if p.is_file()] == []


def test_decompression_bomb_is_refused(issue, resident):
    # A one-colour PNG compresses to almost nothing, whatever its size: ~60 megapixels in a few kilobytes.
    out = io.BytesIO()
    Image.new("L", (8000, 7600)).save(out, "PNG")
    assert 8000 * 7600 > MAX_PHOTO_PIXELS and len(out.getvalue()) < 1024 * 1024

    assert_photos_refused(issue, resident, [upload(out.getvalue(), "bomb.png")], contains="million pixels")


def _zip_bytes() -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as z:
        z.writestr("payload.html", "<script>alert(document.cookie)</script>")
    return out.getvalue()


@pytest.mark.parametrize(
    ("fmt", "tail"),
    [
        ("JPEG", _zip_bytes()),
        ("PNG", b"<html><script>alert(document.cookie)</script></html>"),
        ("WEBP", b"<html><script>alert(1)</script></html>"),
    ],
    ids=["jpeg+zip", "png+html", "webp+html"],
)
def test_polyglot_with_data_after_the_image_is_refused(issue, resident, fmt, tail):
    data = image_bytes(fmt) + tail
    assert Image.open(io.BytesIO(data)).format == fmt  # Pillow alone would take it for an image

    assert_photos_refused(issue, resident, [upload(data, "a.jpg")], contains="data after the end of the image")


def test_jpeg_followed_by_a_second_whole_jpeg_is_accepted(issue, resident):
    # Phones append further images (MPF depth maps, HDR gain maps): still only images.
    [photo] = photo_add(issue=issue, actor=resident, files=[upload(image_bytes("JPEG") + image_bytes("JPEG"))])

    assert photo.format == "JPEG"


def test_truncated_jpeg_is_refused(issue, resident):
    data = image_bytes("JPEG", size=(256, 256))

    assert_photos_refused(issue, resident, [upload(data[: len(data) // 2])], contains="truncated")


def test_one_bad_file_refuses_the_whole_batch(issue, resident):
    with pytest.raises(ValidationFailed) as exc_info:
        photo_add(issue=issue, actor=resident, files=[upload(image_bytes("JPEG")), upload(b"not an image", "b.jpg")])

    assert exc_info.value.fields["photos"] == ["b.jpg is not a JPEG, PNG or WebP image."]
    assert Photo.objects.filter(issue=issue).count() == 0


def test_actor_who_cannot_see_the_issue_gets_not_found(issue, other_resident):
    with pytest.raises(NotFound):
        photo_add(issue=issue, actor=other_resident, files=[upload(image_bytes("JPEG"))])

    assert Photo.objects.filter(issue=issue).count() == 0


def test_staff_in_scope_may_add_photos(issue, community_staff):
    [photo] = photo_add(issue=issue, actor=community_staff, files=[upload(image_bytes("WEBP"), "a.webp")])

    assert photo.uploaded_by == community_staff


def test_icc_profile_is_not_kept(issue, resident):
    from PIL import ImageCms

    out = io.BytesIO()
    icc = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()
    Image.new("RGB", (32, 32), (10, 120, 200)).save(out, "JPEG", icc_profile=icc)

    [photo] = photo_add(issue=issue, actor=resident, files=[upload(out.getvalue())])

    image = stored_image(photo)
    assert "icc_profile" not in image.info
    assert all(abs(a - b) <= 6 for a, b in zip(image.getpixel((16, 16)), (10, 120, 200), strict=True))


def test_cmyk_jpeg_is_stored_as_rgb_jpeg(issue, resident):
    out = io.BytesIO()
    Image.new("CMYK", (32, 32), (0, 255, 255, 0)).save(out, "JPEG")

    [photo] = photo_add(issue=issue, actor=resident, files=[upload(out.getvalue())])

    image = stored_image(photo)
    assert (photo.format, image.mode) == ("JPEG", "RGB")


def test_multi_picture_jpeg_from_a_phone_is_stored_as_one_jpeg(issue, resident):
    out = io.BytesIO()
    first, depth_map = Image.new("RGB", (40, 30), (200, 10, 10)), Image.new("RGB", (20, 15), (90, 90, 90))
    first.save(out, "MPO", save_all=True, append_images=[depth_map])
    assert Image.open(io.BytesIO(out.getvalue())).format == "MPO"

    [photo] = photo_add(issue=issue, actor=resident, files=[upload(out.getvalue())])

    image = stored_image(photo)
    assert (photo.format, image.format, image.size, getattr(image, "n_frames", 1)) == ("JPEG", "JPEG", (40, 30), 1)


def test_zero_padding_after_the_image_is_accepted(issue, resident):
    [photo] = photo_add(issue=issue, actor=resident, files=[upload(image_bytes("JPEG") + b"\0" * 64)])

    assert photo.format == "JPEG"


def test_motion_photo_is_refused_with_a_hint(issue, resident):
    mp4_start = b"\0\0\0\x18ftypmp42\0\0\0\0mp42isom" + b"\0\0\0\x08free"

    assert_photos_refused(issue, resident, [upload(image_bytes("JPEG") + mp4_start)], contains="motion photo")


@pytest.mark.django_db(transaction=True)
def test_two_uploads_at_once_cannot_pass_the_limit_together(issue, resident):
    import threading

    from django.db import connection, connections

    if connection.vendor != "postgresql":
        pytest.skip("needs PostgreSQL: row locks between concurrent connections")
    files = [[upload(image_bytes("JPEG")) for _ in range(4)] for _ in range(2)]
    barrier, outcomes = threading.Barrier(2), []

    def add(batch):
        try:
            barrier.wait()
            photo_add(issue=issue, actor=resident, files=batch)
            outcomes.append("stored")
        except ValidationFailed as exc:
            outcomes.append(exc.code)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=add, args=(batch,)) for batch in files]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert sorted(outcomes) == ["stored", "validation_error"]
    assert Photo.objects.filter(issue=issue).count() == 4


def test_photos_cleaned_ahead_are_stored_as_they_are(issue, resident):
    # The issues API cleans photos before its submit transaction, then stores them inside it.
    [clean] = photos_clean(files=[upload(image_bytes("PNG"), "a.png")])
    assert isinstance(clean, CleanPhoto) and clean.format == "PNG"

    [photo] = photo_add(issue=issue, actor=resident, files=[clean])

    with photo.image.open("rb") as f:
        assert f.read() == clean.data


def test_more_than_six_files_are_refused_before_any_is_decoded(issue, resident):
    with pytest.raises(ValidationFailed) as exc_info:
        photos_clean(files=[upload(b"not even looked at")] * 7)

    assert exc_info.value.fields == {"photos": ["Send at most 6 photos."]}
