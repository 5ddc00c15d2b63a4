"""Thin Celery wrappers around notifications.delivery and the outbox sweep."""

from celery import shared_task


@shared_task(name="notifications.deliver_notification")
def deliver_notification_task(notification_id: str) -> None:
    from notifications.delivery import notification_deliver

    notification_deliver(notification_id=notification_id)


@shared_task(name="notifications.outbox_sweep")
def outbox_sweep_task() -> int:
    from notifications.outbox import outbox_sweep

    return outbox_sweep()
