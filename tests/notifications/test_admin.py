"""The admin shows the outbox and the webhook attempt log, and never a webhook secret."""

from http import HTTPStatus

import pytest

from notifications.models import Channel, Notification, WebhookAttempt, WebhookEndpoint
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


def test_admin_creates_an_endpoint_with_a_secret_shown_once_and_refuses_plain_http(admin_client, partner):
    form = {"partner": partner.pk, "url": "http://partner.example/hooks", "events": '["issue.created"]'}
    refused = admin_client.post("/admin/notifications/webhookendpoint/add/", form)
    assert refused.status_code == HTTPStatus.OK  # the form again, with the error
    assert not WebhookEndpoint.objects.exists()
    form["url"] = "https://partner.example/hooks"
    created = admin_client.post("/admin/notifications/webhookendpoint/add/", {**form, "is_active": "on"}, follow=True)
    endpoint = WebhookEndpoint.objects.get()
    assert endpoint.secret.startswith("whsec_")
    assert endpoint.secret.encode() in created.content
