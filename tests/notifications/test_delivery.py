"""Delivery: each channel sends once per notification however often its task runs; failures back off for ≥ 24 h."""

import json
from datetime import timedelta

import pytest
from django.core import mail
from django.utils import timezone
from standardwebhooks.webhooks import Webhook

from notifications.delivery import notification_claim, notification_deliver
from notifications.models import Channel, Contact, Notification, WebhookAttempt
from notifications.tasks import outbox_sweep
from notifications.webhooks import retry_delay
from tests.notifications.receiver import Receiver

pytestmark = pytest.mark.django_db


@pytest.fixture
def reporter(resident):
    Contact.objects.create(user=resident, phone="13800138000")
    return resident


def row(channel, *, recipient=None, webhook=None, **fields):
    payload = fields.pop("payload", {"number": "GD-20261122-00001", "summary": "楼道堆物", "note": "已清理。"})
    return Notification.objects.create(
        kind=fields.pop("kind", "issue.resolved"),
        channel=channel,
        recipient=recipient,
        webhook=webhook,
        payload=payload,
        **fields,
    )


def test_inbox_row_is_marked_sent_once(reporter):
    n = row(Channel.INBOX, recipient=reporter)
    notification_deliver(notification_id=n.pk)
    notification_deliver(notification_id=n.pk)
    n.refresh_from_db()
    assert (n.status, n.attempts) == (Notification.Status.SENT, 1)


def test_email_delivered_twice_is_sent_once_in_chinese_with_the_notification_id(reporter):
    n = row(Channel.EMAIL, recipient=reporter)
    notification_deliver(notification_id=n.pk)
    notification_deliver(notification_id=n.pk)
    assert len(mail.outbox) == 1
    assert mail.outbox[0].subject == "[GridDesk] 您的诉求 GD-20261122-00001 已办结"
    assert mail.outbox[0].extra_headers["Message-ID"] == f"<{n.pk}@griddesk>"
    assert Notification.objects.get(pk=n.pk).status == Notification.Status.SENT


def test_email_in_the_users_language(reporter):
    reporter.contact.language = "en"
    reporter.contact.save()
    n = row(Channel.EMAIL, recipient=reporter)
    notification_deliver(notification_id=n.pk)
    assert mail.outbox[0].subject == "[GridDesk] Your report GD-20261122-00001 was resolved"


def test_sms_delivered_twice_is_sent_once(reporter, sms_outbox):
    n = row(Channel.SMS, recipient=reporter)
    notification_deliver(notification_id=n.pk)
    notification_deliver(notification_id=n.pk)
    assert [(m["to"], m["message_id"]) for m in sms_outbox] == [("13800138000", str(n.pk))]
    assert sms_outbox[0]["text"] == "您的诉求 GD-20261122-00001 已办结：已清理。 请对办理结果进行评价。"


def test_http_sms_gateway_gets_the_message_with_its_key_and_id(reporter, settings):
    settings.GRIDDESK_SMS_BACKEND = "notifications.sms.HttpSmsBackend"
    settings.GRIDDESK_SMS_GATEWAY_KEY = "gateway-key"
    with Receiver(answers=[503]) as gateway:
        settings.GRIDDESK_SMS_GATEWAY_URL = gateway.url
        n = row(Channel.SMS, recipient=reporter)
        now = timezone.now()
        assert notification_deliver(notification_id=n.pk, now=now) == "pending"  # 503: retried later
        assert notification_deliver(notification_id=n.pk, now=now + timedelta(seconds=6)) == "sent"
    assert len(gateway.requests) == 2
    request = gateway.requests[1]
    assert request["headers"]["authorization"] == "Bearer gateway-key"
    assert json.loads(request["body"]) == {
        "to": "13800138000",
        "text": "您的诉求 GD-20261122-00001 已办结：已清理。 请对办理结果进行评价。",
        "message_id": str(n.pk),
    }


def test_sms_without_a_phone_is_skipped(resident, sms_outbox):
    n = row(Channel.SMS, recipient=resident)
    notification_deliver(notification_id=n.pk)
    assert sms_outbox == []
    assert Notification.objects.get(pk=n.pk).status == Notification.Status.SKIPPED


def test_webhook_delivered_twice_is_posted_once_and_verifies(endpoint_for):
    with Receiver() as receiver:
        endpoint = endpoint_for(receiver.url)
        n = row(Channel.WEBHOOK, webhook=endpoint, kind="issue.created", payload={"body": '{"type":"issue.created"}'})
        notification_deliver(notification_id=n.pk)
        notification_deliver(notification_id=n.pk)
    assert receiver.ids() == [str(n.pk)]
    request = receiver.requests[0]
    assert Webhook(endpoint.secret).verify(request["body"], request["headers"]) == {"type": "issue.created"}
    assert list(WebhookAttempt.objects.filter(notification=n).values_list("attempt", "status_code")) == [(1, 200)]


def test_a_live_claim_keeps_a_second_worker_away(reporter):
    n = row(Channel.EMAIL, recipient=reporter)
    claimed = notification_claim(notification_id=n.pk)
    assert claimed is not None
    notification_deliver(notification_id=n.pk)  # a redelivered task while the first worker is sending
    assert mail.outbox == []
    n.refresh_from_db()
    assert (n.status, n.attempts) == (Notification.Status.SENDING, 1)


def test_a_lost_webhook_claim_is_resent_with_the_same_webhook_id(endpoint_for, settings):
    with Receiver() as receiver:
        endpoint = endpoint_for(receiver.url)
        n = row(Channel.WEBHOOK, webhook=endpoint, kind="issue.created", payload={"body": "{}"})
        notification_claim(notification_id=n.pk)  # the worker dies right after claiming
        later = timezone.now() + timedelta(seconds=settings.GRIDDESK_NOTIFICATION_LEASE_SECONDS + 1)
        notification_deliver(notification_id=n.pk, now=later)
    assert receiver.ids() == [str(n.pk)]
    n.refresh_from_db()
    assert (n.status, n.attempts) == (Notification.Status.SENT, 2)


def test_a_lost_sms_claim_is_not_resent(reporter, sms_outbox, settings):
    n = row(Channel.SMS, recipient=reporter)
    notification_claim(notification_id=n.pk)
    later = timezone.now() + timedelta(seconds=settings.GRIDDESK_NOTIFICATION_LEASE_SECONDS + 1)
    notification_deliver(notification_id=n.pk, now=later)
    assert sms_outbox == []
    n.refresh_from_db()
    assert n.status == Notification.Status.FAILED
    assert "not re-sent" in n.last_error


def test_a_refused_webhook_waits_for_its_retry_time(endpoint_for):
    with Receiver(answers=[500]) as receiver:
        endpoint = endpoint_for(receiver.url)
        n = row(Channel.WEBHOOK, webhook=endpoint, kind="issue.created", payload={"body": "{}"})
        now = timezone.now()
        notification_deliver(notification_id=n.pk, now=now)
        notification_deliver(notification_id=n.pk, now=now + timedelta(seconds=1))  # too early: nothing
        n.refresh_from_db()
        assert (n.status, n.attempts, n.next_attempt_at) == ("pending", 1, now + timedelta(seconds=5))
        assert len(receiver.requests) == 1
        notification_deliver(notification_id=n.pk, now=now + timedelta(seconds=6))
    n.refresh_from_db()
    assert (n.status, n.attempts) == ("sent", 2)
    assert list(n.attempt_log.values_list("status_code", flat=True)) == [500, 200]


def test_backoff_schedule_covers_at_least_24_hours_then_gives_up():
    delays, attempt = [], 1
    while (delay := retry_delay(attempt)) is not None:
        delays.append(delay)
        attempt += 1
    assert delays == sorted(delays)
    assert sum(delays, timedelta()) >= timedelta(hours=24)


def test_a_webhook_failing_past_the_schedule_ends_failed(endpoint_for, settings):
    settings.GRIDDESK_NOTIFICATION_RETRY_SCHEDULE = [5, 60]
    endpoint = endpoint_for("http://127.0.0.1:9/hooks")  # nothing listens on the discard port
    n = row(Channel.WEBHOOK, webhook=endpoint, kind="issue.created", payload={"body": "{}"})
    now = timezone.now()
    for offset in (0, 10, 100):
        notification_deliver(notification_id=n.pk, now=now + timedelta(seconds=offset))
    n.refresh_from_db()
    assert (n.status, n.attempts) == ("failed", 3)
    assert WebhookAttempt.objects.filter(notification=n, status_code=None).count() == 3


def test_a_deleted_endpoint_is_not_posted_to(endpoint_for):
    with Receiver() as receiver:
        endpoint = endpoint_for(receiver.url)
        n = row(Channel.WEBHOOK, webhook=endpoint, kind="issue.created", payload={"body": "{}"})
        endpoint.is_active = False
        endpoint.save()
        notification_deliver(notification_id=n.pk)
    assert receiver.requests == []
    assert Notification.objects.get(pk=n.pk).status == Notification.Status.SKIPPED


def test_outbox_sweep_requeues_settled_pending_rows_and_lost_claims(reporter, celery_eager):
    fresh = row(Channel.EMAIL, recipient=reporter)  # its own task is on the way
    settled = row(Channel.EMAIL, recipient=reporter)  # its task was lost with the broker
    lost = row(Channel.EMAIL, recipient=reporter)  # its worker died while sending
    notification_claim(notification_id=lost.pk)
    an_hour_ago = timezone.now() - timedelta(hours=1)
    Notification.objects.filter(pk=settled.pk).update(created_at=an_hour_ago)
    Notification.objects.filter(pk=lost.pk).update(claimed_until=an_hour_ago)
    assert outbox_sweep() == 2
    statuses = dict(Notification.objects.values_list("pk", "status"))
    assert statuses == {fresh.pk: "pending", settled.pk: "sent", lost.pk: "sent"}
