"""Idempotency keys of submissions: the same key from the same caller within 24 hours answers the first issue.

issues.workflow.issue_submit claims the key first thing inside its own transaction, the one that creates the
issue. A concurrent submission with the same key blocks on the unique constraint until the first one commits, then
finds the record and answers its issue; if the first one failed and rolled back, the record went with it and the
second one runs as if it came first. Only a created issue is remembered: a refused request may be retried with its
key. The HTTP side (the header, the body's fingerprint) lives in issues.api.idempotency.
"""

from dataclasses import dataclass
from datetime import timedelta
from http import HTTPStatus

from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.translation import gettext_noop

from config.errors import WorkflowError
from issues.models import IdempotencyRecord, Issue

WINDOW = timedelta(hours=24)


class IdempotencyKeyReused(WorkflowError):
    """Refuse a request whose Idempotency-Key was already used by the same caller with a different body.

    Answering with an issue that does not match the body would hide a client bug.
    """

    code = "idempotency_key_reused"
    status = HTTPStatus.UNPROCESSABLE_ENTITY
    default_message = gettext_noop("This Idempotency-Key was already used with a different request; use a new key.")


@dataclass(frozen=True)
class IdempotencyKey:
    """A caller's key for one submission and a digest of what it sent (to recognise a different request)."""

    user: object
    key: str
    fingerprint: str


def idempotency_claim(*, claim: IdempotencyKey) -> tuple[IdempotencyRecord | None, Issue | None]:
    """Take `claim`'s key inside the caller's transaction: return (new record, None), or (None, the issue it answered).

    Raise IdempotencyKeyReused when the key was taken with a different fingerprint.
    """
    user, key = claim.user, claim.key
    IdempotencyRecord.objects.filter(user=user, key=key, created_at__lt=timezone.now() - WINDOW).delete()
    try:
        with transaction.atomic():
            return IdempotencyRecord.objects.create(user=user, key=key, request_hash=claim.fingerprint), None
    except IntegrityError:
        # The key is taken: by an earlier request, or by a concurrent one that has just committed.
        record = IdempotencyRecord.objects.select_related("issue").get(user=user, key=key)
        if record.request_hash != claim.fingerprint:
            raise IdempotencyKeyReused() from None
        return None, record.issue


def idempotency_settle(*, record: IdempotencyRecord, issue: Issue) -> None:
    """Remember `issue` as the answer to the record's key."""
    record.issue = issue
    record.response_status = HTTPStatus.CREATED
    record.save(update_fields=["issue", "response_status"])
