"""What accounts.session_user remembers of a session's user is forgotten when the rows it was read from change."""

from django.contrib.auth import get_user_model
from django.db.models.signals import post_delete, post_save
from django.dispatch import receiver

from accounts.session_user import session_user_forget
from orgs.models import Membership


@receiver(post_save, sender=get_user_model(), dispatch_uid="accounts.forget_session_user")
@receiver(post_delete, sender=get_user_model(), dispatch_uid="accounts.forget_deleted_session_user")
def forget_session_user(sender, instance, raw=False, created=False, **kwargs):
    """A user saved (password, active, staff, name) or deleted: their sessions read them again."""
    if raw or created:
        return
    session_user_forget(instance.pk)


@receiver(post_save, sender=Membership, dispatch_uid="accounts.forget_session_user_of_saved_membership")
@receiver(post_delete, sender=Membership, dispatch_uid="accounts.forget_session_user_of_deleted_membership")
def forget_session_user_of_membership(sender, instance, raw=False, **kwargs):
    """A membership granted, changed or removed: the header's roles and links are read again."""
    if raw:
        return
    session_user_forget(instance.user_id)
