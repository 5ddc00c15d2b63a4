"""Webhooks to partner apps, per API.md and the Standard Webhooks specification (standardwebhooks.com).

The signature is HMAC-SHA256 over "<webhook-id>.<webhook-timestamp>.<raw body>" with the base64-decoded part of
the endpoint's "whsec_…" secret; the webhook-id is the notification id, the same across retries, so a receiver
deduplicates redeliveries by it.

A partner's URL must not make the server reach into its own network (server-side request forgery): the host is
resolved at registration and again right before every attempt, every address it resolves to must be public (loopback
only while GRIDDESK_WEBHOOK_ALLOW_LOOPBACK_HTTP is on), and the request connects to the address that was vetted,
with the partner's name in the Host header, in SNI and in the certificate check, so a second lookup by the HTTP
client cannot be answered differently (DNS rebinding). Proxies from the environment are not used for the same
reason: a proxy would resolve the name again on its side.
"""

import base64
import hashlib
import hmac
import ipaddress
import json
import secrets
import socket
import time
from dataclasses import dataclass
from datetime import timedelta
from urllib.parse import urlsplit, urlunsplit

import requests
from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.serializers.json import DjangoJSONEncoder
from django.core.validators import URLValidator
from django.utils import timezone
from django.utils.translation import gettext as _
from requests.adapters import HTTPAdapter
from urllib3.exceptions import NewConnectionError

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


class WebhookAddressRefused(Exception):
    """The webhook host resolves to an address the server must not reach, or to nothing."""


class WebhookHostUnresolved(WebhookAddressRefused):
    """The webhook host does not resolve (now): nothing to connect to, nothing private either."""


def _refusal(ip) -> str:
    """Return why the server must not connect to `ip` ("" when it may)."""
    ip = getattr(ip, "ipv4_mapped", None) or ip  # ::ffff:10.0.0.5 is 10.0.0.5
    if ip.is_loopback:
        return "" if settings.GRIDDESK_WEBHOOK_ALLOW_LOOPBACK_HTTP else "a loopback address"
    for test, why in (
        ("is_unspecified", "an unspecified address"),
        ("is_link_local", "a link-local address"),
        ("is_multicast", "a multicast address"),
        ("is_reserved", "a reserved address"),
        ("is_private", "a private address"),
    ):
        if getattr(ip, test):
            return why
    return "" if ip.is_global else "not a public address"  # e.g. 100.64.0.0/10, shared by carriers


def webhook_host_resolve(*, host: str, port: int) -> list:
    """Return the addresses `host` resolves to; refuse (WebhookAddressRefused) if ANY must not be reached (SSRF)."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (OSError, UnicodeError) as exc:
        raise WebhookHostUnresolved(f"{host} does not resolve: {exc}") from exc
    addresses = []
    for info in infos:
        ip = ipaddress.ip_address(info[4][0])
        why = _refusal(ip)
        if why:
            raise WebhookAddressRefused(f"{host} resolves to {ip}, {why}")
        if ip not in addresses:
            addresses.append(ip)
    if not addresses:
        raise WebhookHostUnresolved(f"{host} resolves to no address")
    return addresses


def webhook_url_validate(url: str) -> None:
    """Refuse a URL that is not https, except plain http to a loopback host for development (API.md).

    An address inside a private network (10.x, 192.168.x, link-local metadata services …) is refused too, https or
    not, and so is a name that resolves to one now: a partner's URL must not make the server reach into its own
    network. A name that does not resolve yet is accepted (a partner may register before its DNS is live); every
    delivery attempt resolves and checks it again.
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
    if ip is None:
        try:
            webhook_host_resolve(host=host, port=parts.port or 443)
        except WebhookHostUnresolved:
            pass  # checked again before every attempt
        except WebhookAddressRefused as exc:
            raise ValidationError(
                _("A webhook URL must not point into a private network (%(reason)s).") % {"reason": exc},
                code="invalid",
            ) from exc
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


def _iso(value) -> str | None:
    return timezone.localtime(value).isoformat() if value else None


def webhook_body(*, event_type: str, at, issue_data: dict) -> str:
    """Return the JSON body of a webhook: {"type", "timestamp", "data": {"issue": …}}.

    `issue_data` is the issue as the receiving partner may see it (issues.audience.partner_issue_data).
    """
    return webhook_event_body(event_type=event_type, at=at, data={"issue": issue_data})


def webhook_event_body(*, event_type: str, at, data: dict) -> str:
    """Return the JSON body of a webhook about something other than one issue (a hot spot): {"type", "timestamp",
    "data"}."""
    body = {"type": event_type, "timestamp": _iso(at), "data": data}
    return json.dumps(body, ensure_ascii=False, separators=(",", ":"), cls=DjangoJSONEncoder)


@dataclass(frozen=True)
class WebhookResult:
    ok: bool
    status_code: int | None
    error: str
    duration_ms: int


class _PinnedAdapter(HTTPAdapter):
    """Check the server's certificate against the partner's host name (and send it as SNI) while the connection goes
    to the vetted IP address."""

    def __init__(self, *, hostname: str):
        self._hostname = hostname
        super().__init__(max_retries=0)

    def init_poolmanager(self, *args, **kwargs):
        kwargs["server_hostname"] = self._hostname
        kwargs["assert_hostname"] = self._hostname
        super().init_poolmanager(*args, **kwargs)


def _post_pinned(*, parts, ip, data: bytes, headers: dict) -> requests.Response:
    """POST to `ip` for the URL `parts`: the partner's host name goes in the Host header, SNI and certificate check."""
    port = parts.port or (443 if parts.scheme == "https" else 80)
    address = f"[{ip}]" if ip.version == 6 else str(ip)
    url = urlunsplit((parts.scheme, f"{address}:{port}", parts.path or "/", parts.query, ""))
    with requests.Session() as session:
        session.trust_env = False  # no proxy from the environment: it would resolve the name again
        session.mount("https://", _PinnedAdapter(hostname=parts.hostname))
        return session.post(
            url,
            data=data,
            headers={**headers, "host": parts.netloc.rpartition("@")[2]},
            timeout=settings.GRIDDESK_WEBHOOK_TIMEOUT,
            allow_redirects=False,
        )


def _connect_failed(exc: requests.RequestException) -> bool:
    """Tell whether `exc` happened before anything was sent (then the next vetted address may be tried)."""
    reason = getattr(exc.args[0], "reason", None) if exc.args else None
    return isinstance(exc, requests.ConnectTimeout) or isinstance(reason, NewConnectionError)


def webhook_post(*, url: str, secret: str, msg_id: str, body: str) -> WebhookResult:
    """POST one signed message to a vetted address of the URL's host (SSRF rule, module docstring); a 2xx answer
    is a delivery, anything else (no answer, or a host now resolving into a private network) a failure."""
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
    parts = urlsplit(url)
    try:
        addresses = webhook_host_resolve(
            host=parts.hostname or "", port=parts.port or (443 if parts.scheme == "https" else 80)
        )
    except WebhookAddressRefused as exc:
        return WebhookResult(False, None, f"refused: {exc}"[:500], _ms_since(started))
    for ip in addresses:
        try:
            response = _post_pinned(parts=parts, ip=ip, data=data, headers=headers)
        except requests.RequestException as exc:
            if _connect_failed(exc) and ip != addresses[-1]:
                continue  # nothing was sent: try the host's next vetted address
            return WebhookResult(False, None, f"{type(exc).__name__}: {exc}"[:500], _ms_since(started))
        break
    ok = 200 <= response.status_code < 300
    error = "" if ok else f"HTTP {response.status_code}: {response.text[:200]}"
    return WebhookResult(ok, response.status_code, error, _ms_since(started))


def _ms_since(started: float) -> int:
    return int((time.monotonic() - started) * 1000)
