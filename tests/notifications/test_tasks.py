"""The Celery side: every timer is on the beat schedule, every scheduled task exists, wrappers call the sweeps."""

from datetime import timedelta

import pytest
from django.conf import settings
from django.utils import timezone

from config.celery_app import app as celery_app
from issues.models import Issue
from issues.tasks import escalation_sweep_task
from notifications.tasks import outbox_sweep_task
from tests.factories import issue_in_status


def test_beat_schedule_runs_every_timer_and_every_task_exists():
    celery_app.loader.import_default_modules()
    tasks = {entry["task"] for entry in settings.CELERY_BEAT_SCHEDULE.values()}
    assert tasks == {
        "issues.escalation_sweep",
        "notifications.outbox_sweep",
        "issues.auto_close_sweep",
        "issues.reminders_sweep",
        "issues.retention_sweep",
        "notifications.area_alerts_digest",
        "triage.train",
        "triage.hotspots_close_sweep",
        "issues.partitions_ensure",
        "issues.stats_fold",
    }
    assert tasks <= set(celery_app.tasks)
    assert settings.CELERY_BEAT_SCHEDULE["escalation-sweep"]["schedule"] == 60


def test_at_least_once_settings():
    assert celery_app.conf.task_acks_late is True
    assert celery_app.conf.task_reject_on_worker_lost is True
    assert celery_app.conf.worker_prefetch_multiplier == 1
    visibility = settings.CELERY_BROKER_TRANSPORT_OPTIONS.get("visibility_timeout")
    assert visibility is None or visibility > celery_app.conf.task_time_limit


@pytest.mark.django_db
def test_escalation_task_escalates_an_overdue_issue(resident, community_staff, chengguan_staff, category, territory):
    issue = issue_in_status(
        "dispatched",
        reporter=resident,
        place=territory["grid"],
        triage=community_staff,
        category=category,
        handler=chengguan_staff,
    )
    Issue.objects.filter(pk=issue.pk).update(response_due_at=timezone.now() - timedelta(minutes=1))
    assert escalation_sweep_task.apply().get() == 1
    assert Issue.objects.get(pk=issue.pk).escalation_level == 1


@pytest.mark.django_db
def test_outbox_sweep_task_with_nothing_pending_queues_nothing():
    assert outbox_sweep_task.apply().get() == 0


@pytest.mark.django_db
def test_many_rows_are_queued_in_chunks_and_each_is_delivered(make, resident, celery_eager):
    from notifications import tasks
    from notifications.models import Notification

    event = make("submitted").events.get()
    rows = Notification.objects.bulk_create(
        Notification(kind="issue.accepted", channel="inbox", recipient=resident, issue=event.issue, event=event)
        for _ in range(tasks.DELIVERY_ONE_BY_ONE + tasks.DELIVERY_CHUNK + 1)
    )

    assert tasks.notifications_queue(ids=[str(n.pk) for n in rows]) == len(rows)

    assert set(Notification.objects.filter(pk__in=[n.pk for n in rows]).values_list("status", flat=True)) == {"sent"}


@pytest.mark.django_db
def test_a_sweeps_chunk_of_rows_is_sent_as_one_message_and_each_row_is_delivered(
    make, resident, celery_eager, monkeypatch
):
    from notifications import tasks
    from notifications.models import Notification

    monkeypatch.setattr(tasks, "DELIVERY_FAN_OUT", tasks.DELIVERY_ONE_BY_ONE + 1)
    sent = []
    fan_out = tasks.queue_deliveries_task.delay
    monkeypatch.setattr(tasks.queue_deliveries_task, "delay", lambda ids: sent.append(ids) or fan_out(ids))
    event = make("submitted").events.get()
    rows = Notification.objects.bulk_create(
        Notification(kind="issue.accepted", channel="inbox", recipient=resident, issue=event.issue, event=event)
        for _ in range(tasks.DELIVERY_FAN_OUT + tasks.DELIVERY_CHUNK + 1)
    )
    ids = [str(n.pk) for n in rows]

    assert tasks.notifications_queue(ids=ids) == len(rows)

    assert sent == [ids]  # one message for all of them, split by the worker
    assert set(Notification.objects.filter(pk__in=[n.pk for n in rows]).values_list("status", flat=True)) == {"sent"}
