"""The in-app inbox: reads and the one way to mark messages read, shared by the API and the pages.

Every page's header shows the user's unread count (unread_count_remembered): it is kept in the shared cache under the
user (orgs.auth_cache's, for GRIDDESK_AUTH_CACHE_SECONDS; off where that cache is off) and forgotten by what changes
it, now and when the transaction commits (unread_counts_forget): an inbox row saved or deleted (notifications.signals),
written in bulk (notifications.outbox, notifications.alerts' digests: they forget the counts themselves), all marked
read (below). An update() elsewhere of those rows' recipient, channel or read time would show within the lifetime.
"""

from collections.abc import Iterable

from django.db.models import QuerySet
from django.utils import timezone

from config.errors import NotFound
from notifications.models import Channel, Notification
from orgs import auth_cache


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


def unread_key(user_id) -> str:
    return f"inbox:unread:{user_id}"


def unread_count_remembered(*, user) -> int:
    """Return unread_count_for_user, remembered between requests until the user's inbox changes."""
    key = unread_key(user.pk)
    count = auth_cache.remembered(key)
    if not isinstance(count, int):
        count = unread_count_for_user(user=user)
        auth_cache.remember(key, count)
    return count


def unread_counts_forget(*, user_ids: Iterable) -> None:
    """Forget the unread counts of `user_ids` (their inbox changed), now and when the transaction commits."""
    auth_cache.forget(*(unread_key(user_id) for user_id in set(user_ids) if user_id is not None))


def inbox_rows_written(rows: Iterable[tuple]) -> None:
    """Forget the unread counts of the recipients of newly written rows, given as (channel, recipient id) pairs."""
    unread_counts_forget(user_ids={recipient for channel, recipient in rows if channel == Channel.INBOX})


def notification_mark_read(*, notification: Notification) -> Notification:
    """Mark one inbox message read; marking it again changes nothing (the first read time stays)."""
    if notification.read_at is None:
        notification.read_at = timezone.now()
        notification.save(update_fields=["read_at"])  # its recipient's count is forgotten (notifications.signals)
    return notification


def inbox_mark_all_read(*, user) -> int:
    """Mark every unread message of the user's inbox read; return how many were marked."""
    marked = inbox_for_user(user=user).filter(read_at__isnull=True).update(read_at=timezone.now())
    unread_counts_forget(user_ids=[user.pk])
    return marked
