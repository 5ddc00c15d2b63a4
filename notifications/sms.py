"""SMS backends: one interface, a console backend for one machine, an HTTP gateway backend for production.

Choose one with settings.GRIDDESK_SMS_BACKEND (a dotted path). Every backend receives the notification id as
`message_id`, so a gateway that deduplicates by it turns a re-sent message into a no-op.
"""

import logging
import sys
import threading

import requests
from django.conf import settings
from django.utils.module_loading import import_string

logger = logging.getLogger(__name__)


class SmsError(Exception):
    """The message was not accepted by the gateway (worth retrying)."""


class BaseSmsBackend:
    """Send one text message; raise SmsError when it was not accepted."""

    def send(self, *, to: str, text: str, message_id: str) -> None:
        raise NotImplementedError


class ConsoleSmsBackend(BaseSmsBackend):
    """Write messages to standard output (the embedded default and development)."""

    def send(self, *, to: str, text: str, message_id: str) -> None:
        sys.stdout.write(f"SMS {message_id} to {to}: {text}\n")
        sys.stdout.flush()


# Messages "sent" by LocmemSmsBackend, like django.core.mail.outbox.
outbox: list[dict] = []
_outbox_lock = threading.Lock()


class LocmemSmsBackend(BaseSmsBackend):
    """Keep messages in `notifications.sms.outbox` (tests)."""

    def send(self, *, to: str, text: str, message_id: str) -> None:
        with _outbox_lock:
            outbox.append({"to": to, "text": text, "message_id": message_id})


class HttpSmsBackend(BaseSmsBackend):
    """POST {"to", "text", "message_id"} as JSON to the gateway, authenticated with its key (Bearer)."""

    def __init__(self, *, url: str | None = None, key: str | None = None, timeout: float | None = None):
        self.url = url or settings.GRIDDESK_SMS_GATEWAY_URL
        self.key = key if key is not None else settings.GRIDDESK_SMS_GATEWAY_KEY
        self.timeout = timeout or settings.GRIDDESK_SMS_GATEWAY_TIMEOUT
        if not self.url:
            raise SmsError("GRIDDESK_SMS_GATEWAY_URL is not set")

    def send(self, *, to: str, text: str, message_id: str) -> None:
        try:
            response = requests.post(
                self.url,
                json={"to": to, "text": text, "message_id": message_id},
                headers={"Authorization": f"Bearer {self.key}", "Idempotency-Key": message_id},
                timeout=self.timeout,
            )
        except requests.RequestException as exc:
            raise SmsError(f"gateway unreachable: {exc}") from exc
        if not 200 <= response.status_code < 300:
            raise SmsError(f"gateway answered {response.status_code}: {response.text[:200]}")


def get_sms_backend() -> BaseSmsBackend:
    """Return an instance of the configured SMS backend."""
    return import_string(settings.GRIDDESK_SMS_BACKEND)()
