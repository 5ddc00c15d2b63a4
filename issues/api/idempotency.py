"""Idempotency-Key on POST /api/v1/issues/: a retried submission answers the first response and creates nothing.

The (caller, key) record is inserted first, inside the same transaction that creates the issue. A concurrent
request with the same key blocks on the unique constraint until the first one commits, then finds the record
and replays it; if the first one failed and rolled back, the second one runs as if it came first. Only a
successful creation is remembered: a refused request (400, 403 …) may be retried with the same key.

Reusing a key with a different body is refused with 422 `idempotency_key_reused` (nothing is created), because
answering with an issue that does not match the body would hide a client bug.
"""

import hashlib
import json
from collections.abc import Callable
from datetime import timedelta
from http import HTTPStatus

from django.core.files.uploadedfile import UploadedFile
from django.db import IntegrityError, transaction
from django.utils import timezone

from config.errors import ValidationFailed, WorkflowError
from issues.models import IdempotencyRecord, Issue

HEADER = "Idempotency-Key"
WINDOW = timedelta(hours=24)
MAX_KEY_LENGTH = IdempotencyRecord._meta.get_field("key").max_length


class IdempotencyKeyReused(WorkflowError):
    """Refuse a request whose Idempotency-Key was already used by the same caller with a different body."""

    code = "idempotency_key_reused"
    status = HTTPStatus.UNPROCESSABLE_ENTITY
    default_message = "This Idempotency-Key was already used with a different request; use a new key."


def idempotency_key_of(request) -> str | None:
    """Return the request's Idempotency-Key, None when absent; raise ValidationFailed when it cannot be one."""
    key = request.headers.get(HEADER)
    if key is None:
        return None
    key = key.strip()
    if not key or len(key) > MAX_KEY_LENGTH or not key.isprintable():
        raise ValidationFailed.on(HEADER, f"Send 1 to {MAX_KEY_LENGTH} printable characters.")
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


def idempotent_create(*, user, key: str, fingerprint: str, create: Callable[[], Issue]) -> tuple[Issue, int, bool]:
    """Run `create` once per (user, key) within 24 hours; return (issue, HTTP status, whether it is a replay)."""
    with transaction.atomic():
        IdempotencyRecord.objects.filter(user=user, key=key, created_at__lt=timezone.now() - WINDOW).delete()
        try:
            with transaction.atomic():
                record = IdempotencyRecord.objects.create(user=user, key=key, request_hash=fingerprint)
        except IntegrityError:
            # The same key is taken: by an earlier request, or by a concurrent one that has just committed.
            record = IdempotencyRecord.objects.select_related("issue").get(user=user, key=key)
            if record.request_hash != fingerprint:
                raise IdempotencyKeyReused() from None
            return record.issue, record.response_status or HTTPStatus.CREATED, True
        issue = create()
        record.issue = issue
        record.response_status = HTTPStatus.CREATED
        record.save(update_fields=["issue", "response_status"])
        return issue, HTTPStatus.CREATED, False
