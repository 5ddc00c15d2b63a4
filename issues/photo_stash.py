"""Photos a report form already accepted, kept while the person fixes another field (a typo in the phone number).

A form post whose photos passed issues.photos.photos_clean but whose other fields did not would lose the photos:
browsers never re-fill a file input. So the cleaned bytes are kept in the media storage under a random stash id,
and the page carries a signed token naming the stash in a hidden field; the next post hands the token back and the
photos are taken again. Bounded: at most MAX_PHOTOS_PER_ISSUE photos of at most MAX_PHOTO_BYTES each, a token
older than STASH_MAX_AGE is refused, and every new stash removes the stashes older than that.
"""

import base64
import io
import secrets
import time
from datetime import timedelta

from django.core import signing
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from PIL import Image

from issues.photos import MAX_PHOTO_BYTES, MAX_PHOTOS_PER_ISSUE, CleanPhoto

STASH_DIR = "report-stash"
STASH_MAX_AGE = timedelta(hours=2)
_SALT = "issues.photo_stash"
_EXTENSIONS = {"JPEG": "jpg", "PNG": "png", "WEBP": "webp"}
_FORMATS = {extension: fmt for fmt, extension in _EXTENSIONS.items()}
THUMBNAIL_SIZE = (160, 160)


def photo_stash(*, photos: list[CleanPhoto]) -> str:
    """Keep `photos` (already cleaned) for a later post of the same form; return the token that names them."""
    photos = list(photos)[:MAX_PHOTOS_PER_ISSUE]
    if not photos:
        return ""
    photo_stash_sweep()
    stash_id = f"{int(time.time())}-{secrets.token_hex(16)}"
    names = []
    for i, photo in enumerate(photos):
        name = default_storage.save(f"{STASH_DIR}/{stash_id}/{i}.{_EXTENSIONS[photo.format]}", ContentFile(photo.data))
        names.append(name.rsplit("/", 1)[-1])
    meta = [[name, photo.width, photo.height] for name, photo in zip(names, photos, strict=True)]
    return signing.dumps({"id": stash_id, "photos": meta}, salt=_SALT, compress=True)


def photo_unstash(*, token: str) -> list[CleanPhoto]:
    """Return the photos a token names; [] for no token, a forged one, an expired one, or files already gone."""
    if not token:
        return []
    try:
        content = signing.loads(token, salt=_SALT, max_age=STASH_MAX_AGE)
        stash_id, meta = str(content["id"]), list(content["photos"])[:MAX_PHOTOS_PER_ISSUE]
    except (signing.BadSignature, KeyError, TypeError, ValueError):
        return []
    photos = []
    for name, width, height in meta:
        path = f"{STASH_DIR}/{stash_id}/{name}"
        fmt = _FORMATS.get(str(name).rsplit(".", 1)[-1])
        if fmt is None or not default_storage.exists(path) or default_storage.size(path) > MAX_PHOTO_BYTES:
            continue
        with default_storage.open(path, "rb") as file:
            photos.append(CleanPhoto(data=file.read(), format=fmt, width=int(width), height=int(height)))
    return photos


def photo_stash_drop(*, token: str) -> None:
    """Remove the files a token names (the report was sent: they are stored on the issue now)."""
    try:
        content = signing.loads(token, salt=_SALT, max_age=STASH_MAX_AGE)
    except signing.BadSignature:
        return
    _remove(str(content.get("id", "")))


def photo_stash_sweep(*, now: float | None = None) -> int:
    """Remove the stashes older than STASH_MAX_AGE (nobody can hand their tokens back any more); return how many."""
    now = time.time() if now is None else now
    try:
        stash_ids, _ = default_storage.listdir(STASH_DIR)
    except FileNotFoundError:
        return 0
    removed = 0
    for stash_id in stash_ids:
        created = stash_id.split("-", 1)[0]
        if created.isdigit() and now - int(created) > STASH_MAX_AGE.total_seconds():
            _remove(stash_id)
            removed += 1
    return removed


def _remove(stash_id: str) -> None:
    if not stash_id or "/" in stash_id or stash_id.startswith("."):
        return
    folder = f"{STASH_DIR}/{stash_id}"
    try:
        _, files = default_storage.listdir(folder)
    except FileNotFoundError:
        return
    for name in files:
        default_storage.delete(f"{folder}/{name}")
    try:
        default_storage.delete(folder)  # FileSystemStorage removes an empty folder too
    except OSError:
        pass


def photo_thumbnail(photo: CleanPhoto) -> str:
    """Return a small JPEG of `photo` as a data: URL, to show what is kept on a page rendered again."""
    image = Image.open(io.BytesIO(photo.data))
    image.thumbnail(THUMBNAIL_SIZE)
    out = io.BytesIO()
    image.convert("RGB").save(out, "JPEG", quality=70)
    return "data:image/jpeg;base64," + base64.b64encode(out.getvalue()).decode()
