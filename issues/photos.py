"""Photos of an issue: accepted by content (JPEG, PNG, WebP), re-encoded, stored without metadata.

A photo is trusted only after Pillow has decoded every pixel of it, and only the pixels are kept: the stored
file is a fresh encoding, so EXIF (GPS included), XMP, comments and anything hidden inside the original's
segments never reach the storage. Wide-gamut photos are converted to sRGB and their ICC profile is dropped, so
colours stay right without keeping a blob of the client's bytes. Files that carry another file after the image's
end (polyglots: JPEG + ZIP, PNG + HTML) are refused outright, not silently cleaned: they are not photos.
"""

import io
import struct
import warnings
from dataclasses import dataclass

from django.core.files.base import ContentFile
from django.db import transaction
from django.utils.translation import gettext_noop
from PIL import Image, ImageCms, ImageOps, UnidentifiedImageError

from config.errors import Message, NotFound, ValidationFailed
from issues.models import Issue, Photo

MAX_PHOTO_BYTES = 10 * 1024 * 1024
MAX_PHOTOS_PER_ISSUE = 6
# The work per photo is bounded, so six in one request stay far inside gunicorn's 30 s (bench "photos"):
# - JPEG, what phones send, up to 50 megapixels (full-resolution modes, 8160 × 6120): the decoder scales it down
#   while decoding (`draft`, 1/2 to 1/8), so even the largest costs a fraction of a full decode;
# - PNG and WebP up to 24 megapixels (6000 × 4000; a long phone screenshot is about 20): they decode whole, and a
#   PNG of zeros is 140 KB for 48 megapixels, which took 8 s to decode and re-encode whole.
# Both are checked from the header, before a pixel is decoded.
MAX_PHOTO_PIXELS = 50_000_000
MAX_PHOTO_PIXELS_BY_FORMAT = {"JPEG": MAX_PHOTO_PIXELS, "MPO": MAX_PHOTO_PIXELS, "PNG": 24_000_000, "WEBP": 24_000_000}
# Pillow warns above this and refuses above twice this, for every image the process opens.
Image.MAX_IMAGE_PIXELS = MAX_PHOTO_PIXELS
# Stored photos are at most this long on their longer side (a 4000 × 3000 phone photo becomes 2560 × 1920):
# enough to see a crack in a wall, and every later step (colour, re-encoding) works on 5 megapixels at most.
MAX_STORED_SIDE = 2560

ACCEPTED_FORMATS = ("JPEG", "PNG", "WEBP")
JPEG_QUALITY = 85
WEBP_QUALITY = 85

_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
_SRGB = ImageCms.createProfile("sRGB")


class PhotoRefused(ValueError):
    """One file is not an acceptable photo; the message says why, for the person who sent it."""


def _name_of(file) -> str:
    return getattr(file, "name", None) or "photo"


def _read_limited(file) -> bytes:
    """Return the file's bytes, refusing it as soon as it is larger than MAX_PHOTO_BYTES."""
    size = getattr(file, "size", None)
    if size is not None and size > MAX_PHOTO_BYTES:
        raise PhotoRefused(f"is larger than {MAX_PHOTO_BYTES // (1024 * 1024)} MB")
    if hasattr(file, "seek"):
        file.seek(0)
    data = file.read(MAX_PHOTO_BYTES + 1)
    if len(data) > MAX_PHOTO_BYTES:
        raise PhotoRefused(f"is larger than {MAX_PHOTO_BYTES // (1024 * 1024)} MB")
    if not data:
        raise PhotoRefused("is empty")
    return data


def _jpeg_stream_end(data: bytes, start: int) -> int:
    """Return the offset just after the EOI marker of the JPEG stream that begins at `start`."""
    if data[start : start + 2] != b"\xff\xd8":
        raise PhotoRefused("is not a whole JPEG image")
    pos, n = start + 2, len(data)
    while pos < n:
        if data[pos] != 0xFF:
            raise PhotoRefused("is a damaged JPEG image")
        while pos < n and data[pos] == 0xFF:  # fill bytes before a marker
            pos += 1
        if pos >= n:
            break
        marker = data[pos]
        pos += 1
        if marker == 0xD9:  # EOI
            return pos
        if marker == 0x01 or 0xD0 <= marker <= 0xD7:  # TEM, RSTn: no length
            continue
        if pos + 2 > n:
            break
        (length,) = struct.unpack(">H", data[pos : pos + 2])
        if length < 2:
            raise PhotoRefused("is a damaged JPEG image")
        pos += length
        if marker == 0xDA:  # SOS: entropy-coded data follows, up to the next real marker
            while pos < n:
                hit = data.find(b"\xff", pos)
                if hit < 0 or hit + 1 >= n:
                    pos = n
                    break
                follower = data[hit + 1]
                if follower == 0x00 or 0xD0 <= follower <= 0xD7 or follower == 0xFF:
                    pos = hit + 1 if follower == 0xFF else hit + 2
                    continue
                pos = hit
                break
    raise PhotoRefused("is a truncated JPEG image")


def _jpeg_end(data: bytes) -> int:
    """Return where the JPEG file's images end.

    Phones store further whole JPEG images after the first one (MPF: depth maps, HDR gain maps); those are
    images too, so they may follow. Anything else after the last image is refused by the caller.
    """
    end = _jpeg_stream_end(data, 0)
    while data[end : end + 2] == b"\xff\xd8":
        end = _jpeg_stream_end(data, end)
    return end


def _png_end(data: bytes) -> int:
    """Return the offset just after the IEND chunk."""
    pos, n = len(_PNG_SIGNATURE), len(data)
    while pos + 8 <= n:
        length, kind = struct.unpack(">I4s", data[pos : pos + 8])
        pos += 8 + length + 4  # header, data, CRC
        if kind == b"IEND":
            if pos > n:
                break
            return pos
    raise PhotoRefused("is a truncated PNG image")


def _webp_end(data: bytes) -> int:
    """Return the end of the RIFF container, as its header declares it."""
    if len(data) < 12 or data[:4] != b"RIFF" or data[8:12] != b"WEBP":
        raise PhotoRefused("is a damaged WebP image")
    (riff_size,) = struct.unpack("<I", data[4:8])
    return 8 + riff_size + (riff_size & 1)


_IMAGE_END = {"JPEG": _jpeg_end, "MPO": _jpeg_end, "PNG": _png_end, "WEBP": _webp_end}


def _refuse_trailing_data(data: bytes, fmt: str) -> None:
    """Refuse a file that goes on after its image ends (a polyglot: the tail is another file or a payload).

    Zero bytes are padding some cameras write, not content: they may follow.
    """
    tail = data[_IMAGE_END[fmt](data) :]
    if not tail.strip(b"\0"):
        return
    if tail[4:8] == b"ftyp":
        # Phones' "motion photos" append a video (an MP4 file) to the picture.
        raise PhotoRefused("is a motion photo (a video follows the picture): send it as a still photo")
    raise PhotoRefused("carries data after the end of the image (another file hidden in it)")


def _decode(data: bytes) -> tuple[Image.Image, str]:
    """Return the decoded image, at most MAX_STORED_SIDE on its longer side, and its format (from the bytes alone).

    The size is checked from the header before decoding (Pillow's `open` reads only the header); JPEG decodes
    straight to a smaller scale, the others decode whole and are reduced at once.
    """
    with warnings.catch_warnings():
        # Pillow only warns between MAX_IMAGE_PIXELS and twice that: make the warning a refusal too.
        warnings.simplefilter("error", Image.DecompressionBombWarning)
        try:
            image = Image.open(io.BytesIO(data), formats=ACCEPTED_FORMATS)
            limit = MAX_PHOTO_PIXELS_BY_FORMAT[image.format]
            if image.width * image.height > limit:
                raise PhotoRefused(_too_big(limit))
            _refuse_trailing_data(data, image.format)
            if image.format in ("JPEG", "MPO"):
                image.draft(None, (MAX_STORED_SIDE, MAX_STORED_SIDE))
            image.load()
        except PhotoRefused:
            raise
        except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
            raise PhotoRefused(_too_big(MAX_PHOTO_PIXELS)) from exc
        except UnidentifiedImageError as exc:
            raise PhotoRefused("is not a JPEG, PNG or WebP image") from exc
        except (OSError, SyntaxError, ValueError, EOFError, struct.error) as exc:
            raise PhotoRefused("is a damaged or truncated image") from exc
    fmt = "JPEG" if image.format == "MPO" else image.format  # several images in one JPEG file: a JPEG for us
    if max(image.size) > MAX_STORED_SIDE:
        info = dict(image.info)  # the ICC profile and EXIF orientation, which _clean_pixels still needs
        # reducing_gap: a cheap box reduction first, then bicubic over what is left.
        image.thumbnail((MAX_STORED_SIDE, MAX_STORED_SIDE), Image.Resampling.BICUBIC, reducing_gap=1.0)
        image.info.update({k: v for k, v in info.items() if k not in image.info})
    return image, fmt


def _too_big(limit: int) -> str:
    return f"has more than {limit // 1_000_000} million pixels"


def _to_srgb(image: Image.Image, icc: bytes | None, mode: str) -> Image.Image:
    """Return the image in `mode`, its colours moved to sRGB when it has an ICC profile that works."""
    if icc and image.mode in ("RGB", "RGBA", "CMYK") and mode in ("RGB", "RGBA"):
        try:
            source = ImageCms.ImageCmsProfile(io.BytesIO(icc))
            if image.mode == "CMYK" or image.mode == mode:
                return ImageCms.profileToProfile(image, source, _SRGB, outputMode=mode)
            return ImageCms.profileToProfile(image.convert(mode), source, _SRGB, outputMode=mode)
        except (ImageCms.PyCMSError, OSError, ValueError):
            pass  # a broken or mismatched profile: keep the pixels as they are
    return image.convert(mode) if image.mode != mode else image


def _clean_pixels(image: Image.Image, fmt: str) -> Image.Image:
    """Return a new image holding only the pixels, upright, in sRGB, in a mode the target format stores."""
    icc = image.info.get("icc_profile")
    image = ImageOps.exif_transpose(image) or image
    has_alpha = image.mode in ("RGBA", "LA", "PA") or (image.mode == "P" and "transparency" in image.info)
    if image.mode in ("L", "1"):
        mode = "L"
    elif has_alpha and fmt != "JPEG":
        mode = "RGBA"
    else:
        mode = "RGB"
    converted = _to_srgb(image, icc, mode)
    # A fresh image from raw pixels carries no info at all: no EXIF, XMP, ICC, text chunks or comments.
    return Image.frombytes(converted.mode, converted.size, converted.tobytes())


def _encode(image: Image.Image, fmt: str) -> bytes:
    out = io.BytesIO()
    if fmt == "JPEG":
        image.save(out, "JPEG", quality=JPEG_QUALITY, optimize=True)
    elif fmt == "PNG":
        image.save(out, "PNG", optimize=False)
    else:
        image.save(out, "WEBP", quality=WEBP_QUALITY, method=4)
    return out.getvalue()


def photo_validate(file) -> tuple[bytes, str, int, int]:
    """Return (clean bytes, format, width, height) of an uploaded photo, or raise PhotoRefused.

    The format comes from the content, never from the file's name or the client's content type.
    """
    data = _read_limited(file)
    image, fmt = _decode(data)
    clean = _clean_pixels(image, fmt)
    return _encode(clean, fmt), fmt, clean.width, clean.height


@dataclass(frozen=True)
class CleanPhoto:
    """A checked, re-encoded photo, ready to store."""

    data: bytes
    format: str
    width: int
    height: int


def photos_clean(*, files) -> list[CleanPhoto]:
    """Check and re-encode every file (at most six), or raise ValidationFailed naming each bad one.

    Decoding and re-encoding take time: a caller that submits an issue with photos calls this first, outside any
    transaction, and hands the result to issues.workflow.issue_submit (or photo_add).
    """
    files = list(files)
    if not files:
        raise ValidationFailed.on("photos", gettext_noop("Send at least one photo."))
    if len(files) > MAX_PHOTOS_PER_ISSUE:
        raise ValidationFailed.on(
            "photos", Message(gettext_noop("Send at most %(count)s photos."), count=MAX_PHOTOS_PER_ISSUE)
        )
    cleaned, errors = [], []
    for file in files:
        if isinstance(file, CleanPhoto):
            cleaned.append(file)
            continue
        try:
            cleaned.append(CleanPhoto(*photo_validate(file)))
        except PhotoRefused as exc:
            errors.append(f"{_name_of(file)} {exc}.")
    if errors:
        raise ValidationFailed(gettext_noop("A photo was refused."), fields={"photos": errors})
    return cleaned


def photo_add(*, issue: Issue, actor, files) -> list[Photo]:
    """Store photos on an issue the actor can see: at most six in all, each checked and re-encoded.

    `files` are uploads, or CleanPhoto from photos_clean. Every file is checked before anything is written:
    one bad file refuses the whole batch.
    """
    if not Issue.objects.visible_to(actor).filter(pk=issue.pk).exists():
        raise NotFound(gettext_noop("Issue not found."))
    return photos_store(issue=issue, actor=actor, files=files)


def photos_store(*, issue: Issue, actor, files, stage: str = Photo.Stage.REPORT) -> list[Photo]:
    """Store photos on `issue` without asking whether `actor` can see it: at most six per stage, each checked.

    Only for photos sent with a submission or a resolution, inside its transaction: the workflow has checked the
    actor already, and an anonymous submitter (`actor` None) could not pass photo_add's check. Everything else goes
    through photo_add. `stage`: before (the report) or after (the resolution), six of each at most.
    """
    cleaned = photos_clean(files=files)

    stored: list[Photo] = []
    try:
        with transaction.atomic():
            # Lock the issue so two uploads at once cannot pass the limit together.
            Issue.objects.select_for_update().only("pk").get(pk=issue.pk)
            existing = Photo.objects.filter(issue_id=issue.pk, stage=stage).count()
            if existing + len(cleaned) > MAX_PHOTOS_PER_ISSUE:
                raise ValidationFailed(
                    gettext_noop("Too many photos."),
                    fields={
                        "photos": [
                            Message(
                                gettext_noop(
                                    "An issue holds at most %(max)s photos; it has %(existing)s, "
                                    "%(sent)s more were sent."
                                ),
                                max=MAX_PHOTOS_PER_ISSUE,
                                existing=existing,
                                sent=len(cleaned),
                            )
                        ]
                    },
                )
            for clean in cleaned:
                photo = Photo(
                    issue_id=issue.pk,
                    format=clean.format,
                    width=clean.width,
                    height=clean.height,
                    size=len(clean.data),
                    uploaded_by=actor,
                    stage=stage,
                )
                photo.image.save(f"photo.{clean.format.lower()}", ContentFile(clean.data), save=False)
                stored.append(photo)
                photo.save()
    except BaseException:
        # The rows rolled back; remove the files written before the failure as well.
        for photo in stored:
            photo.image.delete(save=False)
        raise
    return stored
