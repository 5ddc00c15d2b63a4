"""What notifications.outbox remembers of the partners' webhook subscriptions is forgotten when they change."""

from django.db.models.signals import post_delete, post_save
from django.dispatch import receiver

from notifications.models import WebhookEndpoint
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
