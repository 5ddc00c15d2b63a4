"""The in-app inbox: reads and the one way to mark messages read, shared by the API and the pages."""

from django.db.models import QuerySet
from django.utils import timezone

from config.errors import NotFound
from notifications.models import Channel, Notification


def inbox_for_user(*, user) -> QuerySet[Notification]:
    """Return the user's in-app inbox, newest first; nobody else's row is ever in it."""
    return Notification.objects.filter(recipient=user, channel=Channel.INBOX).select_related("issue")


def inbox_get_for_user(*, user, notification_id) -> Notification:
    """Return one message of the user's inbox; anyone else's (or none) is NotFound, the same answer."""
    notification = inbox_for_user(user=user).filter(pk=notification_id).first()
    if notification is None:
        raise NotFound()
    return notification


def unread_count_for_user(*, user) -> int:
    """Return how many of the user's inbox messages are unread (one COUNT query)."""
    return inbox_for_user(user=user).filter(read_at__isnull=True).count()


def notification_mark_read(*, notification: Notification) -> Notification:
    """Mark one inbox message read; marking it again changes nothing (the first read time stays)."""
    if notification.read_at is None:
        notification.read_at = timezone.now()
        notification.save(update_fields=["read_at"])
    return notification


def inbox_mark_all_read(*, user) -> int:
    """Mark every unread message of the user's inbox read; return how many were marked."""
    return inbox_for_user(user=user).filter(read_at__isnull=True).update(read_at=timezone.now())
