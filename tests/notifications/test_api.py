"""The inbox API (list with unread_count, mark read, unread count, preferences) and partner webhook management."""

from http import HTTPStatus

import pytest
from django.core.cache import cache
from rest_framework.test import APIClient

from notifications.models import Channel, Contact, Notification, NotificationPreference, WebhookEndpoint
from orgs.models import ApiKey

pytestmark = pytest.mark.django_db

INBOX = "/api/v1/notifications/"
WEBHOOKS = "/api/v1/webhooks/"


def client_for(user) -> APIClient:
    cache.clear()  # throttle counters start from zero
    client = APIClient()
    client.force_authenticate(user)
    return client


def partner_client(partner) -> APIClient:
    cache.clear()
    _, raw = ApiKey.issue(partner=partner)
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Api-Key {raw}")
    return client


def inbox_row(user, number="GD-20261122-00001", channel=Channel.INBOX):
    return Notification.objects.create(
        kind="issue.resolved", channel=channel, recipient=user, payload={"number": number, "note": "已清理。"}
    )


def test_inbox_lists_own_messages_with_unread_count(resident, other_resident):
    first, second = inbox_row(resident, "GD-1"), inbox_row(resident, "GD-2")
    inbox_row(other_resident, "GD-3")
    inbox_row(resident, "GD-4", channel=Channel.EMAIL)
    response = client_for(resident).get(INBOX)
    assert response.status_code == HTTPStatus.OK
    body = response.json()
    assert body["unread_count"] == 2
    assert [n["id"] for n in body["results"]] == [str(second.pk), str(first.pk)]
    assert body["results"][0]["subject"] == "您的诉求 GD-2 已办结"
    assert body["results"][0]["read"] is False


def test_inbox_speaks_english_when_asked(resident):
    inbox_row(resident, "GD-1")
    response = client_for(resident).get(INBOX, HTTP_ACCEPT_LANGUAGE="en")
    assert response.json()["results"][0]["subject"] == "Your report GD-1 was resolved"


def test_mark_read_and_unread_count(resident):
    first, _ = inbox_row(resident, "GD-1"), inbox_row(resident, "GD-2")
    client = client_for(resident)
    response = client.post(f"{INBOX}{first.pk}/read/")
    assert response.status_code == HTTPStatus.OK
    assert response.json()["read"] is True
    assert client.get(f"{INBOX}unread_count/").json() == {"unread_count": 1}
    assert client.post(f"{INBOX}read_all/").json() == {"unread_count": 0}
    assert Notification.objects.filter(recipient=resident, read_at__isnull=True).count() == 0


def test_another_users_notification_is_not_found_and_stays_unread(resident, other_resident):
    theirs = inbox_row(other_resident)
    response = client_for(resident).post(f"{INBOX}{theirs.pk}/read/")
    assert response.status_code == HTTPStatus.NOT_FOUND
    assert response.json()["error"]["code"] == "not_found"
    assert Notification.objects.get(pk=theirs.pk).read_at is None


def test_inbox_needs_authentication():
    cache.clear()
    response = APIClient().get(INBOX)
    assert response.status_code == HTTPStatus.UNAUTHORIZED


def test_preferences_read_and_change(resident):
    client = client_for(resident)
    assert client.get(f"{INBOX}preferences/").json() == {
        "channels": {"inbox": True, "email": True, "sms": False},
        "phone": "",
    }
    response = client.patch(
        f"{INBOX}preferences/", {"channels": {"sms": True, "email": False}, "phone": "13800138000"}, format="json"
    )
    assert response.status_code == HTTPStatus.OK
    assert response.json() == {"channels": {"inbox": True, "email": False, "sms": True}, "phone": "13800138000"}
    assert Contact.objects.get(user=resident).phone == "13800138000"


def test_preferences_refuse_a_bad_phone_and_change_nothing(resident):
    response = client_for(resident).patch(
        f"{INBOX}preferences/", {"channels": {"sms": True}, "phone": "call me"}, format="json"
    )
    assert response.status_code == HTTPStatus.BAD_REQUEST
    assert response.json()["error"]["code"] == "validation_error"
    assert "phone" in response.json()["error"]["fields"]
    assert not NotificationPreference.objects.filter(user=resident).exists()
    assert not Contact.objects.filter(user=resident).exists()


def test_partner_registers_a_webhook_and_sees_the_secret_once(partner):
    client = partner_client(partner)
    response = client.post(
        WEBHOOKS, {"url": "https://partner.example/hooks", "events": ["issue.created", "issue.escalated"]}, "json"
    )
    assert response.status_code == HTTPStatus.CREATED
    body = response.json()
    assert set(body) >= {"id", "url", "events", "secret"}
    assert body["secret"].startswith("whsec_")
    assert WebhookEndpoint.objects.get(pk=body["id"]).secret == body["secret"]
    listed = client.get(WEBHOOKS).json()
    assert [e["url"] for e in listed] == ["https://partner.example/hooks"]
    assert "secret" not in listed[0]


def test_webhook_url_must_be_https_and_nothing_is_created(partner):
    response = partner_client(partner).post(
        WEBHOOKS, {"url": "http://partner.example/hooks", "events": ["issue.created"]}, "json"
    )
    assert response.status_code == HTTPStatus.BAD_REQUEST
    assert response.json()["error"]["code"] == "validation_error"
    assert "url" in response.json()["error"]["fields"]
    assert not WebhookEndpoint.objects.exists()


def test_webhook_events_must_be_known(partner):
    response = partner_client(partner).post(
        WEBHOOKS, {"url": "https://partner.example/hooks", "events": ["issue.deleted"]}, "json"
    )
    assert response.status_code == HTTPStatus.BAD_REQUEST
    assert not WebhookEndpoint.objects.exists()


def test_partner_deletes_its_webhook(partner, endpoint_for):
    endpoint = endpoint_for("https://partner.example/hooks")
    client = partner_client(partner)
    assert client.delete(f"{WEBHOOKS}{endpoint.pk}/").status_code == HTTPStatus.NO_CONTENT
    assert client.get(WEBHOOKS).json() == []
    assert WebhookEndpoint.objects.get(pk=endpoint.pk).is_active is False


def test_another_partners_webhook_is_not_found(partner, endpoint_for, territory):
    from orgs.models import PartnerApp
    from tests.factories import UserFactory

    endpoint = endpoint_for("https://partner.example/hooks")
    other = PartnerApp.objects.create(
        slug="other", name="other", user=UserFactory(username="other_service"), area=territory["district"]
    )
    response = partner_client(other).delete(f"{WEBHOOKS}{endpoint.pk}/")
    assert response.status_code == HTTPStatus.NOT_FOUND
    assert WebhookEndpoint.objects.get(pk=endpoint.pk).is_active is True


def test_people_cannot_manage_webhooks(community_staff):
    response = client_for(community_staff).post(
        WEBHOOKS, {"url": "https://partner.example/hooks", "events": ["issue.created"]}, "json"
    )
    assert response.status_code == HTTPStatus.FORBIDDEN
    assert response.json()["error"]["code"] == "permission_denied"
    assert not WebhookEndpoint.objects.exists()
