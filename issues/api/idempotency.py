"""Idempotency-Key on POST /api/v1/issues/: the header and the request's fingerprint.

The promise itself (a retry answers the first issue and creates nothing, also under concurrency) is kept by
issues.workflow.issue_submit through issues.idempotency, inside the transaction that creates the issue.
"""

import hashlib
import json

from django.core.files.uploadedfile import UploadedFile
from django.utils.translation import gettext_noop

from config.errors import Message, ValidationFailed
from issues.idempotency import IdempotencyKey, IdempotencyKeyReused
from issues.models import IdempotencyRecord

__all__ = ["HEADER", "IdempotencyKey", "IdempotencyKeyReused", "idempotency_key_of", "request_fingerprint"]

HEADER = "Idempotency-Key"
MAX_KEY_LENGTH = IdempotencyRecord._meta.get_field("key").max_length


def idempotency_key_of(request) -> str | None:
    """Return the request's Idempotency-Key, None when absent; raise ValidationFailed when it cannot be one."""
    key = request.headers.get(HEADER)
    if key is None:
        return None
    key = key.strip()
    if not key or len(key) > MAX_KEY_LENGTH or not key.isprintable():
        raise ValidationFailed.on(
            HEADER, Message(gettext_noop("Send 1 to %(max)s printable characters."), max=MAX_KEY_LENGTH)
        )
    return key


def request_fingerprint(request) -> str:
    """Return a digest of the request body (form fields and file contents alike) to recognise a different body."""
    data = request.data
    if hasattr(data, "getlist"):  # multipart or form: several values per key, files among them
        canonical = {key: [_value_digest(v) for v in data.getlist(key)] for key in sorted(data.keys())}
    else:
        canonical = data
    encoded = json.dumps(canonical, sort_keys=True, ensure_ascii=False, default=str, separators=(",", ":"))
    return hashlib.sha256(encoded.encode()).hexdigest()


def _value_digest(value):
    if not isinstance(value, UploadedFile):
        return value
    digest = hashlib.sha256()
    for chunk in value.chunks():
        digest.update(chunk)
    value.seek(0)
    return f"file:{digest.hexdigest()}"
