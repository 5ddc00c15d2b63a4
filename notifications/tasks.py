"""Thin Celery wrappers around notifications.delivery."""

from celery import shared_task


@shared_task(name="notifications.deliver_notification")
def deliver_notification_task(notification_id: str) -> None:
    from notifications.delivery import notification_deliver

    notification_deliver(notification_id=notification_id)
