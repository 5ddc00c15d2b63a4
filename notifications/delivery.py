"""Deliver one outbox row on its channel; a redelivered task or a second worker sends nothing twice.

How a row is claimed: in a short transaction the worker locks the row, checks it is due, sets it to SENDING with
a lease (`claimed_until`) and commits; only then does it talk to the outside world, and afterwards it records
the outcome only if its claim is still the current one. A task delivered twice finds the row SENT, or SENDING
under a live lease, and does nothing.

When a worker dies between claim and outcome, nobody knows whether the message left. The outbox sweep finds
the expired lease and decides per channel:
- webhook and email are re-sent (at least once): a webhook carries the same webhook-id, which the receiver
  deduplicates by (Standard Webhooks); an email carries the notification id as its Message-ID.
- SMS is not re-sent (at most once) unless GRIDDESK_SMS_AT_LEAST_ONCE is on: a duplicate text costs money and
  annoys, and the console or a gateway without deduplication cannot drop it. The row ends FAILED with the reason.
The in-app inbox is the row itself: nothing can be lost or doubled.

A webhook row whose body retention emptied (issues.retention) is not rebuilt from the issue as it is now: that would
send other bytes under the same webhook-id, which the partner deduplicates, and the reporter is gone from the issue
anyway. Retried by an admin or the sweep, it ends FAILED with the reason, without an attempt.
"""

import logging
from datetime import datetime, timedelta

from django.conf import settings
from django.core.mail import EmailMessage
from django.db import transaction
from django.utils import timezone

from notifications.channels import language_for_user
from notifications.messages import email_render, message_render
from notifications.models import Channel, Notification, WebhookAttempt
from notifications.sms import get_sms_backend
from notifications.webhooks import retry_delay, webhook_post

logger = logging.getLogger(__name__)


class DeliveryFailed(Exception):
    """The channel did not take the message; retry later."""


def _lease() -> timedelta:
    return timedelta(seconds=settings.GRIDDESK_NOTIFICATION_LEASE_SECONDS)


def _resend_after_lost_worker(channel: str) -> bool:
    if channel == Channel.SMS:
        return settings.GRIDDESK_SMS_AT_LEAST_ONCE
    return True


def notification_claim(*, notification_id: str, now: datetime | None = None) -> Notification | None:
    """Claim a due notification for sending and return it, or None when there is nothing to do (once per id)."""
    now = now or timezone.now()
    with transaction.atomic():
        n = (
            Notification.objects.select_for_update(skip_locked=True, of=("self",))
            .select_related("recipient__contact", "webhook")
            .filter(pk=notification_id)
            .first()
        )
        if n is None:
            return None  # unknown, or another worker holds the lock right now
        if n.status == Notification.Status.SENDING:
            if n.claimed_until and n.claimed_until > now:
                return None  # another worker is sending it
            if not _resend_after_lost_worker(n.channel):
                n.status, n.claimed_until = Notification.Status.FAILED, None
                n.last_error = "worker lost while sending; not re-sent (at most once on this channel)"
                n.save(update_fields=["status", "claimed_until", "last_error"])
                return None
        elif n.status != Notification.Status.PENDING:
            return None
        elif n.next_attempt_at and n.next_attempt_at > now:
            return None  # waiting for its retry time
        if n.channel == Channel.INBOX:
            n.status, n.sent_at, n.attempts = Notification.Status.SENT, now, n.attempts + 1
            n.save(update_fields=["status", "sent_at", "attempts"])
            return None
        if not _address(n):
            n.status, n.last_error = Notification.Status.SKIPPED, "no address to send to"
            n.save(update_fields=["status", "last_error"])
            return None
        if n.channel == Channel.WEBHOOK and not n.payload.get("body"):
            n.status, n.claimed_until = Notification.Status.FAILED, None
            n.last_error = "nothing to send: retention removed the body (the reporter's data); not rebuilt"
            n.save(update_fields=["status", "claimed_until", "last_error"])
            return None
        n.status, n.claimed_until, n.attempts = Notification.Status.SENDING, now + _lease(), n.attempts + 1
        n.save(update_fields=["status", "claimed_until", "attempts"])
        return n


def _address(n: Notification) -> str:
    if n.channel == Channel.EMAIL:
        return n.recipient.email if n.recipient else ""
    if n.channel == Channel.SMS:
        contact = getattr(n.recipient, "contact", None) if n.recipient else None
        return contact.phone if contact else ""
    if n.channel == Channel.WEBHOOK:
        return n.webhook.url if n.webhook and n.webhook.is_active else ""
    return ""


def _send(n: Notification) -> None:
    """Hand the message to its channel; raise DeliveryFailed when it was not taken."""
    if n.channel == Channel.WEBHOOK:
        # Log the attempt before it leaves, so a worker killed mid-request still leaves its row (no outcome).
        attempt = WebhookAttempt.objects.create(notification=n, attempt=n.attempts, url=n.webhook.url)
        result = webhook_post(url=n.webhook.url, secret=n.webhook.secret, msg_id=str(n.id), body=n.payload["body"])
        attempt.status_code, attempt.error, attempt.duration_ms = result.status_code, result.error, result.duration_ms
        attempt.finished_at = timezone.now()
        attempt.save(update_fields=["status_code", "error", "duration_ms", "finished_at"])
        if not result.ok:
            raise DeliveryFailed(result.error)
        return
    language = language_for_user(n.recipient)
    if n.channel == Channel.EMAIL:
        subject, body = email_render(kind=n.kind, payload=n.payload, language=language)
        headers = {"Message-ID": f"<{n.id}@griddesk>"}
        if n.payload.get("unsubscribe_url"):  # area alerts: one-click unsubscribe (RFC 2369, RFC 8058)
            headers["List-Unsubscribe"] = f"<{n.payload['unsubscribe_url']}>"
            headers["List-Unsubscribe-Post"] = "List-Unsubscribe=One-Click"
        message = EmailMessage(subject, body, to=[n.recipient.email], headers=headers)
        try:
            message.send()
        except Exception as exc:  # noqa: BLE001 — any backend error is a failed attempt, retried with backoff
            raise DeliveryFailed(f"email: {exc}") from exc
        return
    if n.channel == Channel.SMS:
        text = message_render(kind=n.kind, payload=n.payload, language=language).body
        try:
            get_sms_backend().send(to=n.recipient.contact.phone, text=text, message_id=str(n.id))
        except Exception as exc:  # noqa: BLE001 — SmsError or a broken backend: retried with backoff
            raise DeliveryFailed(f"sms: {exc}") from exc
        return
    raise DeliveryFailed(f"unknown channel {n.channel}")


def notification_deliver(*, notification_id: str, now: datetime | None = None) -> str | None:
    """Deliver the notification if it is due and nobody else is on it; return its status afterwards."""
    n = notification_claim(notification_id=notification_id, now=now)
    if n is None:
        return None
    try:
        _send(n)
    except DeliveryFailed as exc:
        return _record_failure(n, str(exc), now=now)
    mine = Notification.objects.filter(pk=n.pk, status=Notification.Status.SENDING, attempts=n.attempts)
    mine.update(status=Notification.Status.SENT, sent_at=timezone.now(), claimed_until=None, last_error="")
    return Notification.Status.SENT


def _record_failure(n: Notification, error: str, *, now: datetime | None) -> str:
    delay = retry_delay(n.attempts)
    mine = Notification.objects.filter(pk=n.pk, status=Notification.Status.SENDING, attempts=n.attempts)
    if delay is None:
        logger.warning("notification %s failed for good after %d attempts: %s", n.pk, n.attempts, error)
        mine.update(status=Notification.Status.FAILED, claimed_until=None, last_error=error[:2000])
        return Notification.Status.FAILED
    mine.update(
        status=Notification.Status.PENDING,
        claimed_until=None,
        next_attempt_at=(now or timezone.now()) + delay,
        last_error=error[:2000],
    )
    return Notification.Status.PENDING
