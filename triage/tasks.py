"""The nightly retraining (Celery beat, config/settings/base.py), also run by `manage.py triage_train`."""

from celery import shared_task

from triage.training import triage_train


@shared_task(name="triage.train")
def triage_train_task() -> int | None:
    model = triage_train()
    return model.pk if model else None


from triage.hotspots import (  # noqa: E402,F401 — Celery finds them here
    hotspot_detect_task,
    hotspots_close_ended_task,
    hotspots_close_sweep_task,
    hotspots_drain_task,
)
