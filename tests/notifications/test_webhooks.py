"""Webhook rules: https only (loopback http for development), Standard Webhooks signatures, the body of API.md."""

import base64
import json
import time
from http import HTTPStatus

import pytest
from django.core.exceptions import ValidationError
from standardwebhooks.webhooks import Webhook, WebhookVerificationError

from notifications.models import Channel, Notification
from notifications.webhooks import webhook_secret_new, webhook_sign, webhook_url_validate
from orgs.models import ApiKey
from tests.api.test_issues_support import partner_client, png_file
from tests.factories import issue_in_status


@pytest.mark.parametrize(
    "url",
    ["https://partner.example/hooks", "http://127.0.0.1:8080/hooks", "http://localhost/hooks", "http://[::1]:9000/h"],
)
def test_https_and_loopback_http_urls_are_accepted(url):
    webhook_url_validate(url)


@pytest.mark.parametrize(
    "url",
    [
        "http://partner.example/hooks",
        "http://10.0.0.5/hooks",
        "https://10.0.0.5/hooks",
        "https://169.254.169.254/latest/meta-data",
        "https://[fd00::1]/hooks",
        "ftp://partner.example/hooks",
        "https://user:pw@partner.example/hooks",
        "not a url",
    ],
)
def test_other_urls_are_refused(url):
    with pytest.raises(ValidationError):
        webhook_url_validate(url)


def test_loopback_can_be_turned_off(settings):
    settings.GRIDDESK_WEBHOOK_ALLOW_LOOPBACK_HTTP = False
    with pytest.raises(ValidationError):
        webhook_url_validate("http://127.0.0.1:8080/hooks")
    with pytest.raises(ValidationError):
        webhook_url_validate("https://localhost/hooks")


def test_secret_is_whsec_and_at_least_24_random_bytes():
    secret = webhook_secret_new()
    assert secret.startswith("whsec_")
    assert len(base64.b64decode(secret.removeprefix("whsec_"))) >= 24
    assert secret != webhook_secret_new()


def test_signature_verifies_with_the_standardwebhooks_library():
    secret, body = webhook_secret_new(), '{"type":"issue.created","data":{"issue":{"number":"GD-1"}}}'
    timestamp = int(time.time())
    headers = {
        "webhook-id": "msg_1",
        "webhook-timestamp": str(timestamp),
        "webhook-signature": webhook_sign(secret=secret, msg_id="msg_1", timestamp=timestamp, body=body.encode()),
    }
    assert Webhook(secret).verify(body, headers)["type"] == "issue.created"
    with pytest.raises(WebhookVerificationError):
        Webhook(webhook_secret_new()).verify(body, headers)
    with pytest.raises(WebhookVerificationError):
        Webhook(secret).verify(body.replace("GD-1", "GD-2"), headers)


@pytest.mark.django_db
def test_webhook_body_carries_the_issue_as_the_partner_sees_it(partner, endpoint_for, territory):
    endpoint_for("https://partner.example/hooks")
    issue = issue_in_status(
        "submitted",
        reporter=partner.user,
        place=territory["grid"],
        reporter_name="刘洋",
        reporter_phone="13812345678",
        external_id="wx-1",
    )
    n = Notification.objects.get(issue=issue, channel=Channel.WEBHOOK)
    body = json.loads(n.payload["body"])
    assert body["type"] == "issue.created"
    assert set(body) == {"type", "timestamp", "data"}
    sent = body["data"]["issue"]
    assert (sent["id"], sent["number"], sent["status"]) == (str(issue.pk), issue.number, "submitted")
    assert sent["area"]["grid"] == territory["grid"].code
    assert sent["reporter"] == {"name": "刘洋", "phone": "13812345678"}  # the partner reported it
    assert sent["external_id"] == "wx-1"
    assert sent["rating"] is None
    assert set(sent) >= {"escalation_level", "response_due_at", "dispatches", "photos", "version"}


def test_the_created_webhook_of_a_submission_with_photos_lists_them_as_the_api_answer_does(
    partner, endpoint_for, territory, settings, tmp_path
):
    # The photos are stored inside the submit transaction, before its event and outbox rows are written.
    settings.MEDIA_ROOT = tmp_path
    endpoint_for("https://partner.example/hooks")
    body = {
        "description": "楼道里堆满了旧家具，挡住了消防通道",
        "grid": territory["grid"].code,
        "reporter.phone": "13812345678",
        "photos": [png_file("a.png"), png_file("b.png", color=(0, 90, 200))],
    }

    _, raw_key = ApiKey.issue(partner=partner)

    response = partner_client(raw_key).post("/api/v1/issues/", body, format="multipart")

    assert response.status_code == HTTPStatus.CREATED, response.json()
    answered = response.json()["photos"]
    assert len(answered) == 2
    n = Notification.objects.get(issue_id=response.json()["id"], channel=Channel.WEBHOOK)
    sent = json.loads(n.payload["body"])
    assert sent["type"] == "issue.created"
    assert [url.rsplit("/", 1)[-1] for url in sent["data"]["issue"]["photos"]] == [
        url.rsplit("/", 1)[-1] for url in answered
    ]
