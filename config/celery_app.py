"""The Celery application; its settings live in config/settings/base.py under CELERY_*."""

import os

from celery import Celery

from config.broker_fixes import kombu_redis_patch

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.local")

kombu_redis_patch()
app = Celery("griddesk")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()
