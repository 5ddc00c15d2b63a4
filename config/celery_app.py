"""The Celery application; its settings live in config/settings/base.py under CELERY_*."""

import os

from celery import Celery
from django_structlog.celery.steps import DjangoStructLogInitStep

from config.broker_fixes import kombu_redis_patch

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.local")

kombu_redis_patch()
app = Celery("griddesk")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()
# Workers log as JSON lines with the request id of the request that queued each task (config/logs.py).
app.steps["worker"].add(DjangoStructLogInitStep)
