from django.apps import AppConfig


class OrgsConfig(AppConfig):
    name = "orgs"
    verbose_name = "Organisation"

    def ready(self):
        from orgs import signals  # noqa: F401  (connects the receivers)
