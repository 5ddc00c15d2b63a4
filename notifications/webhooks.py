"""Webhooks to partner apps, per API.md and the Standard Webhooks specification (standardwebhooks.com).

The signature is HMAC-SHA256 over "<webhook-id>.<webhook-timestamp>.<raw body>" with the base64-decoded part of
the endpoint's "whsec_…" secret; the webhook-id is the notification id, the same across retries, so a receiver
deduplicates redeliveries by it.
"""

import base64
import hashlib
import hmac
import ipaddress
import json
import secrets
import time
from dataclasses import dataclass
from datetime import timedelta
from urllib.parse import urlsplit

import requests
from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.serializers.json import DjangoJSONEncoder
from django.core.validators import URLValidator
from django.utils import timezone
from django.utils.translation import gettext as _

SECRET_PREFIX = "whsec_"
SECRET_BYTES = 32  # at least 24 (API.md)
LOOPBACK_NAMES = {"localhost", "localhost.localdomain"}


def webhook_secret_new() -> str:
    """Return a new signing secret: "whsec_" + base64 of 32 random bytes."""
    return SECRET_PREFIX + base64.b64encode(secrets.token_bytes(SECRET_BYTES)).decode()


def webhook_sign(*, secret: str, msg_id: str, timestamp: int, body: bytes) -> str:
    """Return the webhook-signature header value ("v1,<base64 HMAC-SHA256>") for one message."""
    key = base64.b64decode(secret.removeprefix(SECRET_PREFIX))
    signed = f"{msg_id}.{timestamp}.".encode() + body
    return "v1," + base64.b64encode(hmac.new(key, signed, hashlib.sha256).digest()).decode()


def _ip(host: str):
    try:
        return ipaddress.ip_address(host)
    except ValueError:
        return None


def _is_loopback(host: str) -> bool:
    ip = _ip(host)
    return ip.is_loopback if ip else host.lower() in LOOPBACK_NAMES


def webhook_url_validate(url: str) -> None:
    """Refuse a URL that is not https, except plain http to a loopback host for development (API.md).

    An address inside a private network (10.x, 192.168.x, link-local metadata services …) is refused too, https or
    not: a partner's URL must not make the server reach into its own network.
    """
    URLValidator(schemes=["http", "https"])(url)
    parts = urlsplit(url)
    host = parts.hostname or ""
    if parts.username or parts.password:
        raise ValidationError(_("A webhook URL must not carry credentials."), code="invalid")
    loopback = _is_loopback(host)
    if loopback and not settings.GRIDDESK_WEBHOOK_ALLOW_LOOPBACK_HTTP:
        raise ValidationError(_("A webhook URL must not point to this machine."), code="invalid")
    ip = _ip(host)
    if ip is not None and not loopback and not ip.is_global:
        raise ValidationError(_("A webhook URL must not point into a private network."), code="invalid")
    if parts.scheme == "https" or loopback:
        return
    raise ValidationError(_("A webhook URL must use https (plain http only to a loopback host)."), code="invalid")


def retry_delay(attempt: int) -> timedelta | None:
    """Return how long to wait after failed attempt number `attempt` (1-based), or None when it is time to give up.

    The default schedule is Standard Webhooks' (5 s, 5 min, 30 min, 2 h, 5 h, 10 h, 10 h): about 27.5 hours of
    retries after the first attempt, more than the 24 hours API.md asks for.
    """
    schedule = settings.GRIDDESK_NOTIFICATION_RETRY_SCHEDULE
    if attempt < 1 or attempt > len(schedule):
        return None
    return timedelta(seconds=schedule[attempt - 1])


class _PartnerViewer:
    """What the issue serializer needs of a request: who is looking (the partner app's service user)."""

    def __init__(self, user):
        self.user = user

    def build_absolute_uri(self, location: str) -> str:
        return location  # no request, no host: photo URLs stay relative


def webhook_issue_data(*, issue, viewer) -> dict:
    """Return the issue as the partner app acting through `viewer` sees it in the API (issues-api's serializer).

    Read afresh from the database (the caller's copy may hold stale prefetched rows), plus `external_id`, the
    partner's own reference. It is built when the event happens and stored, so every retry sends the same bytes.
    """
    from issues.api.serializers import IssueSerializer
    from issues.models import Issue

    fresh = (
        Issue.objects.select_related("category")
        .prefetch_related("dispatches__department", "ratings", "photos")
        .get(pk=issue.pk)
    )
    data = IssueSerializer(fresh, context={"request": _PartnerViewer(viewer)}).data
    return {**data, "external_id": fresh.external_id}


def _iso(value) -> str | None:
    return timezone.localtime(value).isoformat() if value else None


def webhook_body(*, event_type: str, at, issue, viewer) -> str:
    """Return the JSON body of a webhook: {"type", "timestamp", "data": {"issue": …}} as `viewer` may see it."""
    body = {
        "type": event_type,
        "timestamp": _iso(at),
        "data": {"issue": webhook_issue_data(issue=issue, viewer=viewer)},
    }
    return json.dumps(body, ensure_ascii=False, separators=(",", ":"), cls=DjangoJSONEncoder)


@dataclass(frozen=True)
class WebhookResult:
    ok: bool
    status_code: int | None
    error: str
    duration_ms: int


def webhook_post(*, url: str, secret: str, msg_id: str, body: str) -> WebhookResult:
    """POST one signed message; a 2xx answer is a delivery, anything else (or no answer) a failure."""
    data = body.encode()
    timestamp = int(time.time())
    headers = {
        "content-type": "application/json",
        "user-agent": "GridDesk-Webhooks/1.0",
        "webhook-id": msg_id,
        "webhook-timestamp": str(timestamp),
        "webhook-signature": webhook_sign(secret=secret, msg_id=msg_id, timestamp=timestamp, body=data),
    }
    started = time.monotonic()
    try:
        response = requests.post(
            url, data=data, headers=headers, timeout=settings.GRIDDESK_WEBHOOK_TIMEOUT, allow_redirects=False
        )
    except requests.RequestException as exc:
        return WebhookResult(False, None, f"{type(exc).__name__}: {exc}"[:500], _ms_since(started))
    ok = 200 <= response.status_code < 300
    error = "" if ok else f"HTTP {response.status_code}: {response.text[:200]}"
    return WebhookResult(ok, response.status_code, error, _ms_since(started))


def _ms_since(started: float) -> int:
    return int((time.monotonic() - started) * 1000)
