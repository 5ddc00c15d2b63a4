"""The admin shows the outbox and the webhook attempt log, and never a webhook secret."""

from http import HTTPStatus

import pytest

from notifications.models import Channel, Notification, WebhookAttempt
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def admin_client(client):
    client.force_login(UserFactory(username="admin", is_staff=True, is_superuser=True))
    return client


def test_notification_page_shows_its_webhook_attempts(admin_client, endpoint_for):
    endpoint = endpoint_for("https://partner.example/hooks")
    n = Notification.objects.create(kind="issue.created", channel=Channel.WEBHOOK, webhook=endpoint, payload={})
    WebhookAttempt.objects.create(notification=n, attempt=1, url=endpoint.url, status_code=503, error="HTTP 503")
    assert admin_client.get("/admin/notifications/notification/").status_code == HTTPStatus.OK
    page = admin_client.get(f"/admin/notifications/notification/{n.pk}/change/")
    assert page.status_code == HTTPStatus.OK
    assert b"HTTP 503" in page.content
    assert admin_client.get("/admin/notifications/webhookattempt/").status_code == HTTPStatus.OK


def test_webhook_endpoint_page_hides_the_secret(admin_client, endpoint_for):
    endpoint = endpoint_for("https://partner.example/hooks")
    page = admin_client.get(f"/admin/notifications/webhookendpoint/{endpoint.pk}/change/")
    assert page.status_code == HTTPStatus.OK
    assert endpoint.secret.encode() not in page.content
