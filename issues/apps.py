from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class IssuesConfig(AppConfig):
    name = "issues"
    verbose_name = _("Issues")

    def ready(self):
        # Bind the shared tasks (issues.tasks, notifications.tasks) to GridDesk's Celery app in every Django
        # process (web, shell, commands), after the entrypoint chose the settings (config/__init__.py).
        import config.celery_app  # noqa: F401
