"""Residents' own accounts: the one-time codes that prove a phone number before sign-up."""

from django.db import models
from django.utils.translation import gettext_lazy as _


class PhoneVerification(models.Model):
    """One code sent to a phone: stored hashed, valid for minutes, a few wrong tries, used once (accounts.services)."""

    phone = models.CharField(_("phone"), max_length=20)
    # HMAC-SHA256 of the phone and the code under the site's secret (never the code itself).
    code_hash = models.CharField(max_length=64)
    # The client address that asked, for the per-address limit.
    requested_from = models.GenericIPAddressField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    expires_at = models.DateTimeField()
    wrong_tries = models.PositiveSmallIntegerField(default=0)
    used_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name = _("phone verification")
        verbose_name_plural = _("phone verifications")
        indexes = [
            # The newest code of a phone, and the per-phone limit.
            models.Index(fields=["phone", "-created_at"], name="phone_verification_phone"),
            # The per-address limit.
            models.Index(fields=["requested_from", "-created_at"], name="phone_verification_address"),
        ]

    def __str__(self):
        return f"{self.phone} {self.created_at:%Y-%m-%d %H:%M}"
