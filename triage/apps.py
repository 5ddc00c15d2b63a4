from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class TriageConfig(AppConfig):
    name = "triage"
    verbose_name = _("Triage suggestions")

    def ready(self):
        from issues.events import events_after_commit
        from triage.hotspots import hotspot_events_hook

        events_after_commit(hotspot_events_hook)
