"""Deliver one outbox row on its channel, at most once per notification id."""

from django.db import transaction
from django.utils import timezone

from notifications.models import Channel, Notification


def notification_deliver(*, notification_id: str) -> None:
    """Deliver the notification if still pending; the in-app inbox needs nothing more than the row."""
    with transaction.atomic():
        n = Notification.objects.select_for_update(skip_locked=True).filter(pk=notification_id).first()
        if n is None or n.status != Notification.Status.PENDING:
            return
        if n.channel == Channel.INBOX:
            n.status, n.sent_at = Notification.Status.SENT, timezone.now()
            n.attempts += 1
            n.save(update_fields=["status", "sent_at", "attempts"])
