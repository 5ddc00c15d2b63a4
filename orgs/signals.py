"""Side effects on accounts that belong to no workflow: a password change revokes the user's API tokens."""

from django.contrib.auth import get_user_model
from django.db.models.signals import pre_save
from django.dispatch import receiver
from rest_framework.authtoken.models import Token


@receiver(pre_save, sender=get_user_model(), dispatch_uid="orgs.revoke_tokens_on_password_change")
def revoke_tokens_on_password_change(sender, instance, raw=False, **kwargs):
    """Delete the user's tokens when their password changes: whoever held the old password loses the API too.

    Every way of changing a password (the admin, `changepassword`, set_password + save) ends in saving the user.
    """
    if raw or instance.pk is None:
        return
    stored = sender.objects.filter(pk=instance.pk).values_list("password", flat=True).first()
    if stored is not None and stored != instance.password:
        Token.objects.filter(user_id=instance.pk).delete()
