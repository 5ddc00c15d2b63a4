"""Side effects on accounts that belong to no workflow: a password change revokes the user's API tokens, and what
orgs.auth_cache remembers of a caller is forgotten when the rows it was read from change."""

from django.contrib.auth import get_user_model
from django.db.models.signals import post_delete, post_save, pre_save
from django.dispatch import receiver
from rest_framework.authtoken.models import Token

from orgs import auth_cache, staff_cache
from orgs.models import ApiKey, Membership, PartnerApp

User = get_user_model()


@receiver(pre_save, sender=User, dispatch_uid="orgs.revoke_tokens_on_password_change")
def revoke_tokens_on_password_change(sender, instance, raw=False, **kwargs):
    """Delete the user's tokens when their password changes: whoever held the old password loses the API too.

    Every way of changing a password (the admin, `changepassword`, set_password + save) ends in saving the user.
    """
    if raw or instance.pk is None:
        return
    stored = sender.objects.filter(pk=instance.pk).values_list("password", flat=True).first()
    if stored is not None and stored != instance.password:
        Token.objects.filter(user_id=instance.pk).delete()


# --- What orgs.auth_cache remembers --------------------------------------------------------------------------------


def _user_keys(user_id) -> list[str]:
    """Return the cache keys of what is remembered of user `user_id`: their scope and their tokens' users."""
    if not auth_cache.enabled():
        return []
    tokens = Token.objects.filter(user_id=user_id).values_list("key", flat=True)
    return [auth_cache.scope_key(user_id), *(auth_cache.token_key(key) for key in tokens)]


def _partner_keys(partner: PartnerApp) -> list[str]:
    if not auth_cache.enabled():
        return []
    hashes = ApiKey.objects.filter(partner_id=partner.pk).values_list("key_hash", flat=True)
    return [auth_cache.scope_key(partner.user_id), *(auth_cache.api_key_key(h) for h in hashes)]


@receiver(post_save, sender=User, dispatch_uid="orgs.forget_user")
@receiver(post_delete, sender=User, dispatch_uid="orgs.forget_deleted_user")
def forget_user(sender, instance, raw=False, created=False, **kwargs):
    """A user saved (active, staff, password, name) or deleted: their tokens and scope are read again."""
    if raw or created:
        return
    auth_cache.forget(*_user_keys(instance.pk))


@receiver(post_delete, sender=Token, dispatch_uid="orgs.forget_token")
def forget_token(sender, instance, **kwargs):
    """A token deleted (signed out, revoked, a password change): it stops at once."""
    auth_cache.forget(auth_cache.token_key(instance.key))


@receiver(post_save, sender=Membership, dispatch_uid="orgs.forget_scope_of_saved_membership")
@receiver(post_delete, sender=Membership, dispatch_uid="orgs.forget_scope_of_deleted_membership")
def forget_scope_of_membership(sender, instance, raw=False, **kwargs):
    """A membership granted, changed or removed: its user's scope is read again."""
    if raw:
        return
    auth_cache.forget(auth_cache.scope_key(instance.user_id))


@receiver(pre_save, sender=Membership, dispatch_uid="orgs.forget_node_staff_of_moved_membership")
def forget_node_staff_before(sender, instance, raw=False, **kwargs):
    """A membership about to change: the nodes under the node it held are read again (it may move elsewhere)."""
    if raw or instance.pk is None or not auth_cache.enabled():
        return
    before = sender.objects.filter(pk=instance.pk).values_list("area_id", flat=True).first()
    if before is not None and before != instance.area_id:
        staff_cache.node_staff_forget(before)


@receiver(post_save, sender=Membership, dispatch_uid="orgs.forget_node_staff_of_saved_membership")
@receiver(post_delete, sender=Membership, dispatch_uid="orgs.forget_node_staff_of_deleted_membership")
def forget_node_staff(sender, instance, raw=False, **kwargs):
    """A membership granted, changed or removed: who is told of issues at and under its node is read again."""
    if raw:
        return
    staff_cache.node_staff_forget(instance.area_id)


@receiver(post_save, sender=PartnerApp, dispatch_uid="orgs.forget_saved_partner")
@receiver(post_delete, sender=PartnerApp, dispatch_uid="orgs.forget_deleted_partner")
def forget_partner(sender, instance, raw=False, **kwargs):
    """A partner app changed (its area, active or not) or removed: its keys and its user's scope are read again."""
    if raw:
        return
    auth_cache.forget(*_partner_keys(instance))


@receiver(post_save, sender=ApiKey, dispatch_uid="orgs.forget_saved_api_key")
@receiver(post_delete, sender=ApiKey, dispatch_uid="orgs.forget_deleted_api_key")
def forget_api_key(sender, instance, raw=False, update_fields=None, **kwargs):
    """A key revoked or removed: it stops at once."""
    if raw:
        return
    auth_cache.forget(auth_cache.api_key_key(instance.key_hash))
