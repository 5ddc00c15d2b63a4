"""The delivery queue: the Celery tasks, and queueing outbox rows for them (now, after commit, or by the sweep)."""

import logging
from datetime import datetime, timedelta

from celery import shared_task
from django.conf import settings
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from notifications.alerts import area_alerts_digest
from notifications.delivery import notification_deliver
from notifications.models import Notification

logger = logging.getLogger(__name__)


@shared_task(name="notifications.deliver_notification")
def deliver_notification_task(notification_id: str) -> None:
    notification_deliver(notification_id=notification_id)


@shared_task(name="notifications.deliver_notifications")
def deliver_notifications_task(notification_ids: list[str]) -> None:
    """Deliver a chunk of outbox rows one after the other (a sweep's thousands, queued as tens of tasks)."""
    for notification_id in notification_ids:
        notification_deliver(notification_id=notification_id)


@shared_task(name="notifications.queue_deliveries")
def queue_deliveries_task(notification_ids: list[str]) -> int:
    """Queue the delivery of many outbox rows, DELIVERY_CHUNK to a task (a sweep's chunk, sent as one message)."""
    return _queue_chunks(notification_ids)


@shared_task(name="notifications.outbox_sweep")
def outbox_sweep_task() -> int:
    return outbox_sweep()


@shared_task(name="notifications.area_alerts_digest")
def area_alerts_digest_task() -> int:
    """Send the daily digests of area alerts (notifications.alerts); the rows are committed, so queue them now."""
    ids = area_alerts_digest()
    _queue_delivery(ids)
    return len(ids)


def notifications_queue_on_commit(*, ids: list[str]) -> None:
    """Queue delivery of the given outbox rows once the current transaction commits."""
    if ids:
        transaction.on_commit(lambda: _queue_delivery(ids))


def notifications_queue(*, ids: list[str]) -> int:
    """Queue delivery of the given outbox rows now; return how many were queued (the sweep takes the rest)."""
    return _queue_delivery(ids)


# Up to this many rows get a task each; more (an escalation sweep's) go DELIVERY_CHUNK rows to a task, so queueing
# them costs tens of broker round trips, not thousands. Each row is still claimed and retried on its own.
DELIVERY_ONE_BY_ONE = 50
DELIVERY_CHUNK = 100
# More rows than this (a sweep's chunk: 2,000 outbox rows for 1,000 escalations) go to the broker as one message
# that a worker splits into DELIVERY_CHUNK tasks (queue_deliveries_task): publishing a message costs the sender a
# few milliseconds, twenty of them per chunk were a tenth of a 1,000-escalation transaction's time.
DELIVERY_FAN_OUT = 1000


def _queue_delivery(ids: list[str]) -> int:
    """Queue delivery tasks; if the broker is down, log it and leave the rows to the outbox sweep."""
    if len(ids) > DELIVERY_FAN_OUT:
        try:
            queue_deliveries_task.delay(ids)
            return len(ids)
        except Exception:  # noqa: BLE001 — the row is the truth: the sweep queues it once the broker is back
            logger.warning("broker unavailable: %d notifications left to the outbox sweep", len(ids))
            return 0
    return _queue_chunks(ids)


def _queue_chunks(ids: list[str]) -> int:
    """Queue a task per row, or for more than DELIVERY_ONE_BY_ONE rows per DELIVERY_CHUNK rows; return how many rows
    were queued (if the broker is down, log it and leave the rest to the outbox sweep)."""
    queued = 0
    try:
        if len(ids) > DELIVERY_ONE_BY_ONE:
            for start in range(0, len(ids), DELIVERY_CHUNK):
                chunk = ids[start : start + DELIVERY_CHUNK]
                deliver_notifications_task.delay(chunk)
                queued += len(chunk)
            return queued
        for nid in ids:
            deliver_notification_task.delay(nid)
            queued += 1
    except Exception:  # noqa: BLE001 — the row is the truth: the sweep queues it once the broker is back
        logger.warning("broker unavailable: %d notifications left to the outbox sweep", len(ids) - queued)
    return queued


def outbox_sweep(*, now: datetime | None = None, limit: int = 500) -> int:
    """Re-queue outbox rows still pending after a delay, due retries and claims whose worker died; return how many."""
    now = now or timezone.now()
    settled = now - timedelta(seconds=settings.GRIDDESK_OUTBOX_REQUEUE_AFTER_SECONDS)
    due = Q(status=Notification.Status.PENDING) & (
        Q(next_attempt_at__lte=now) | Q(next_attempt_at__isnull=True, created_at__lte=settled)
    )
    lost = Q(status=Notification.Status.SENDING, claimed_until__lte=now)
    pks = Notification.objects.filter(due | lost).order_by("created_at").values_list("pk", flat=True)[:limit]
    ids = [str(pk) for pk in pks]
    return _queue_delivery(ids)
