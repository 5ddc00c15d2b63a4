"""Photos of an issue: accepted by content (JPEG, PNG, WebP), re-encoded, stored without metadata.

A photo is trusted only after Pillow has decoded every pixel of it, and only the pixels are kept: the stored
file is a fresh encoding, so EXIF (GPS included), XMP, comments and anything hidden inside the original's
segments never reach the storage. Wide-gamut photos are converted to sRGB and their ICC profile is dropped, so
colours stay right without keeping a blob of the client's bytes. Files that carry another file after the image's
end (polyglots: JPEG + ZIP, PNG + HTML) are refused outright, not silently cleaned: they are not photos.
"""

import time
from dataclasses import dataclass

from django.conf import settings
from django.core.files.base import ContentFile
from django.db import transaction
from django.utils.translation import gettext_noop

from config.errors import Message, NotFound, ValidationFailed
from issues.models import Issue, Photo
from issues.photo_decode import (  # noqa: F401  (the limits, read from here by forms, serializers and tests)
    ACCEPTED_FORMATS,
    MAX_PHOTO_BYTES,
    MAX_PHOTO_PIXELS,
    MAX_PHOTO_PIXELS_BY_FORMAT,
    MAX_STORED_SIDE,
    PhotoRefused,
    photo_reencode_isolated,
)

MAX_PHOTOS_PER_ISSUE = 6
# The photos of one request, however many, are decoded within this many seconds in all: past it the rest are
# refused, so a request's photo work stays under gunicorn's 30 s timeout (each photo also has its own limit).
PHOTOS_OUT_OF_TIME = gettext_noop("%(name)s was not checked: the photos took too long; send fewer or smaller photos.")


def _name_of(file) -> str:
    return getattr(file, "name", None) or "photo"


def _read_limited(file) -> bytes:
    """Return the file's bytes, refusing it as soon as it is larger than MAX_PHOTO_BYTES."""
    size = getattr(file, "size", None)
    if size is not None and size > MAX_PHOTO_BYTES:
        raise PhotoRefused(gettext_noop("%(name)s is larger than %(mb)s MB."), mb=MAX_PHOTO_BYTES // (1024 * 1024))
    if hasattr(file, "seek"):
        file.seek(0)
    data = file.read(MAX_PHOTO_BYTES + 1)
    if len(data) > MAX_PHOTO_BYTES:
        raise PhotoRefused(gettext_noop("%(name)s is larger than %(mb)s MB."), mb=MAX_PHOTO_BYTES // (1024 * 1024))
    if not data:
        raise PhotoRefused(gettext_noop("%(name)s is empty."))
    return data


def photo_validate(file, *, seconds: float | None = None) -> tuple[bytes, str, int, int]:
    """Return (clean bytes, format, width, height) of an uploaded photo, or raise PhotoRefused.

    The format comes from the content, never from the file's name or the client's content type. The decoding runs
    in a decoder process (issues.photo_decode), killed past `seconds` (default GRIDDESK_PHOTO_DECODE_SECONDS).
    """
    data = _read_limited(file)
    if seconds is None:
        seconds = settings.GRIDDESK_PHOTO_DECODE_SECONDS
    return photo_reencode_isolated(data, seconds=seconds, memory_mb=settings.GRIDDESK_PHOTO_DECODE_MEMORY_MB)


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
    deadline = time.monotonic() + settings.GRIDDESK_PHOTOS_DECODE_SECONDS
    for file in files:
        if isinstance(file, CleanPhoto):
            cleaned.append(file)
            continue
        left = deadline - time.monotonic()
        try:
            if left <= 0:
                raise PhotoRefused(PHOTOS_OUT_OF_TIME)
            cleaned.append(CleanPhoto(*photo_validate(file, seconds=min(left, settings.GRIDDESK_PHOTO_DECODE_SECONDS))))
        except PhotoRefused as exc:
            errors.append(Message(exc.msgid, **exc.params, name=_name_of(file)))
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
