"""A webhook endpoint is deactivated, never deleted, so its delivery log stays (API.md: attempts logged)."""

from http import HTTPStatus

import pytest

from notifications.models import Channel, Notification, WebhookAttempt, WebhookEndpoint
from notifications.webhooks import webhook_secret_new
from orgs.models import PartnerApp
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def logged_endpoint(territory):
    partner = PartnerApp.objects.create(
        slug="hotline", name="Hotline", user=UserFactory(username="svc"), area=territory["district"]
    )
    endpoint = WebhookEndpoint.objects.create(
        partner=partner, url="https://partner.example/h", events=["issue.created"], secret=webhook_secret_new()
    )
    n = Notification.objects.create(kind="issue.created", channel=Channel.WEBHOOK, webhook=endpoint, payload={})
    WebhookAttempt.objects.create(notification=n, attempt=1, url=endpoint.url, status_code=503, error="HTTP 503")
    return endpoint


def test_the_admin_cannot_delete_an_endpoint_and_its_log(client, logged_endpoint):
    client.force_login(UserFactory(username="admin", is_staff=True, is_superuser=True))
    url = f"/admin/notifications/webhookendpoint/{logged_endpoint.pk}/delete/"

    assert client.post(url, {"post": "yes"}).status_code == HTTPStatus.FORBIDDEN

    assert WebhookEndpoint.objects.filter(pk=logged_endpoint.pk).exists()
    assert Notification.objects.filter(webhook=logged_endpoint).count() == 1
    assert WebhookAttempt.objects.filter(notification__webhook=logged_endpoint).count() == 1


def test_the_admin_deactivates_it_instead(client, logged_endpoint):
    client.force_login(UserFactory(username="admin", is_staff=True, is_superuser=True))
    page = client.get(f"/admin/notifications/webhookendpoint/{logged_endpoint.pk}/change/")
    assert page.status_code == HTTPStatus.OK
    assert b'name="is_active"' in page.content
