"""What notifications remembers is forgotten when it changes: the partners' webhook subscriptions (outbox), a user's
unread count (inbox: here for rows saved or deleted one by one; the bulk writes forget it themselves)."""

from django.db.models.signals import post_delete, post_save
from django.dispatch import receiver

from notifications.inbox import inbox_rows_written
from notifications.models import Notification, WebhookEndpoint
from notifications.outbox import SUBSCRIBED_TYPES_KEY
from orgs import auth_cache
from orgs.models import PartnerApp


@receiver(post_save, sender=WebhookEndpoint, dispatch_uid="notifications.forget_types_of_saved_endpoint")
@receiver(post_delete, sender=WebhookEndpoint, dispatch_uid="notifications.forget_types_of_deleted_endpoint")
@receiver(post_save, sender=PartnerApp, dispatch_uid="notifications.forget_types_of_saved_partner")
@receiver(post_delete, sender=PartnerApp, dispatch_uid="notifications.forget_types_of_deleted_partner")
def forget_subscribed_types(sender, instance, raw=False, **kwargs):
    """An endpoint subscribed, changed or removed, a partner app (de)activated: the next event reads them again."""
    if raw:
        return
    auth_cache.forget(SUBSCRIBED_TYPES_KEY)


@receiver(post_save, sender=Notification, dispatch_uid="notifications.forget_unread_of_saved_row")
@receiver(post_delete, sender=Notification, dispatch_uid="notifications.forget_unread_of_deleted_row")
def forget_unread_count(sender, instance, raw=False, **kwargs):
    """An inbox row written, marked read or deleted: its recipient's header counts again."""
    if raw:
        return
    inbox_rows_written([(instance.channel, instance.recipient_id)])
