from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class Open311Config(AppConfig):
    """Open311 GeoReport v2 under /open311/v2/: categories as services, issues as service requests."""

    default_auto_field = "django.db.models.BigAutoField"
    name = "open311"
    verbose_name = _("Open311 GeoReport v2")
