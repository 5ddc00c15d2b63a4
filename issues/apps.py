from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class IssuesConfig(AppConfig):
    name = "issues"
    verbose_name = _("Issues")

    def ready(self):
        # Bind the shared tasks (issues.tasks, notifications.tasks) to GridDesk's Celery app in every Django
        # process (web, shell, commands), after the entrypoint chose the settings (config/__init__.py).
        import config.celery_app  # noqa: F401
        from issues.api.serializers import partner_representation, partner_representations
        from issues.audience import partner_representation_set

        # Partners' webhooks carry the issue as the API shows it; the API hands its representation down to the
        # audience (which sits below the API and must not import it).
        partner_representation_set(partner_representation, many=partner_representations)
        # Its receivers forget the desks' remembered category choices when a category or department changes.
        from issues import desks  # noqa: F401
