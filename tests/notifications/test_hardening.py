"""Hardening found by review: webhook hosts resolved and pinned, retention reaching every notification, an emptied
webhook row failing cleanly, partner visibility read in a constant number of queries."""

import json
import socket
from datetime import timedelta

import pytest
from django.contrib.admin.sites import site
from django.core.exceptions import ValidationError
from django.test import RequestFactory
from django.utils import timezone

from issues import workflow
from issues.models import Issue
from issues.retention import retention_sweep
from notifications.delivery import notification_deliver
from notifications.models import Channel, Notification, WebhookAttempt, WebhookEndpoint
from notifications.outbox import _partner_endpoints
from notifications.webhooks import webhook_secret_new, webhook_url_validate
from orgs.models import PartnerApp, Role
from tests.factories import UserFactory, issue_in_status, member
from tests.notifications.receiver import Receiver

pytestmark = pytest.mark.django_db

HOST = "hooks.partner.test"  # made up: only the patched resolver knows it


@pytest.fixture
def resolve_as(monkeypatch):
    """Make HOST resolve to the given addresses (nothing leaves the machine); return the names looked up."""
    real = socket.getaddrinfo
    looked_up: list[str] = []

    def install(*addresses):
        def fake(host, port, *args, **kwargs):
            looked_up.append(host)
            if host != HOST:
                return real(host, port, *args, **kwargs)  # IP literals only: no name reaches a DNS server
            return [
                (socket.AF_INET6 if ":" in a else socket.AF_INET, socket.SOCK_STREAM, 6, "", (a, port or 0))
                for a in addresses
            ]

        monkeypatch.setattr(socket, "getaddrinfo", fake)
        return looked_up

    return install


# 1. A webhook host is resolved at registration and before each attempt; the connection goes to the vetted address.


@pytest.mark.parametrize(
    "addresses",
    [["10.0.0.5"], ["93.184.216.34", "192.168.1.9"], ["169.254.169.254"], ["fd00::1"], ["0.0.0.0"], ["224.0.0.1"]],
)
def test_a_host_resolving_to_a_private_address_is_refused_at_registration(resolve_as, addresses):
    resolve_as(*addresses)
    with pytest.raises(ValidationError) as refused:
        webhook_url_validate(f"https://{HOST}/hooks")
    assert refused.value.code == "invalid"


def test_a_host_resolving_to_loopback_is_refused_when_loopback_is_off(resolve_as, settings):
    settings.GRIDDESK_WEBHOOK_ALLOW_LOOPBACK_HTTP = False
    resolve_as("127.0.0.1")
    with pytest.raises(ValidationError):
        webhook_url_validate(f"https://{HOST}/hooks")


def test_a_host_resolving_to_public_addresses_is_accepted(resolve_as):
    looked_up = resolve_as("93.184.216.34", "2606:2800:220:1:248:1893:25c8:1946")
    webhook_url_validate(f"https://{HOST}/hooks")
    assert looked_up == [HOST]


def test_registering_through_the_api_refuses_a_host_resolving_privately(resolve_as, partner, client):
    resolve_as("10.0.0.5")
    client.force_login(partner.user)
    form = {"url": f"https://{HOST}/hooks", "events": ["issue.created"]}
    response = client.post("/api/v1/webhooks/", form, content_type="application/json")
    assert response.status_code == 400
    assert not WebhookEndpoint.objects.exists()


def _webhook_row(partner, territory, url):
    WebhookEndpoint.objects.create(partner=partner, url=url, events=["issue.created"], secret=webhook_secret_new())
    issue = issue_in_status("submitted", reporter=partner.user, place=territory["grid"], reporter_phone="13812345678")
    return Notification.objects.get(issue=issue, channel=Channel.WEBHOOK)


def test_delivery_to_a_host_now_resolving_privately_is_refused_logged_and_retried(resolve_as, partner, territory):
    n = _webhook_row(partner, territory, f"https://{HOST}/hooks")  # registered when it resolved publicly
    looked_up = resolve_as("93.184.216.34", "10.0.0.5")

    assert notification_deliver(notification_id=n.pk) == Notification.Status.PENDING

    n.refresh_from_db()
    assert (n.status, n.attempts) == ("pending", 1)
    assert n.next_attempt_at is not None
    assert "10.0.0.5" in n.last_error
    attempt = WebhookAttempt.objects.get(notification=n)
    assert (attempt.attempt, attempt.status_code) == (1, None)
    assert "10.0.0.5" in attempt.error
    assert looked_up == [HOST]  # resolved, refused, never connected (a connection would look up the IP literal)


def test_delivery_connects_to_the_vetted_address_with_the_partners_host_name(resolve_as, partner, territory):
    with Receiver() as receiver:
        port = receiver.server.server_address[1]
        n = _webhook_row(partner, territory, f"http://{HOST}:{port}/hooks")
        looked_up = resolve_as("127.0.0.1")  # loopback allowed in development (the test settings)

        assert notification_deliver(notification_id=n.pk) == Notification.Status.SENT

    assert receiver.ids() == [str(n.pk)]
    assert receiver.requests[0]["headers"]["host"] == f"{HOST}:{port}"
    # The name was resolved once, by the check; the connection used the vetted address, not a second lookup.
    assert looked_up.count(HOST) == 1


# 2. Retention reaches the inbox, email and SMS rows too.


def test_retention_leaves_no_reporter_detail_in_any_notification_of_the_issue(
    resident, community_staff, chengguan_staff, category, territory, settings
):
    details = {"reporter_name": "刘洋", "reporter_phone": "13812345678", "address": "3栋2单元401"}
    issue = issue_in_status(
        "dispatched",
        reporter=resident,
        place=territory["grid"],
        triage=community_staff,
        category=category,
        description="刘洋 13812345678 3栋2单元401: the stairwell light is out",
        lat=25.825,
        lng=114.955,
        **details,
    )
    issue = workflow.issue_accept(issue=issue, actor=chengguan_staff)
    issue = workflow.issue_resolve(issue=issue, actor=chengguan_staff, note="Called 刘洋 at 13812345678, 3栋2单元401.")
    issue = workflow.issue_rate(issue=issue, actor=resident, score=5)
    rows = Notification.objects.filter(issue=issue)
    assert {"inbox", "email"} <= set(rows.values_list("channel", flat=True))
    assert any("13812345678" in json.dumps(p, ensure_ascii=False) for p in rows.values_list("payload", flat=True))
    rows.filter(recipient=resident, channel=Channel.INBOX).update(read_at=timezone.now())
    before = sorted(rows.values_list("pk", "kind", "channel", "status", "read_at"))

    assert retention_sweep(now=timezone.now() + timedelta(days=settings.GRIDDESK_RETENTION_DAYS + 1)) == 1

    rows = Notification.objects.filter(issue=issue)
    assert sorted(rows.values_list("pk", "kind", "channel", "status", "read_at")) == before
    for payload in rows.values_list("payload", flat=True):
        text = json.dumps(payload, ensure_ascii=False)
        for secret in [*details.values(), "25.825", "114.955"]:
            assert secret not in text
        assert payload.get("number") == issue.number


# 3. A webhook row emptied by retention fails cleanly when retried.


def test_retrying_a_webhook_row_emptied_by_retention_fails_it_with_a_clear_reason(partner, territory, settings):
    n = _webhook_row(partner, territory, "https://partner.example/hooks")
    Notification.objects.filter(pk=n.pk).update(status=Notification.Status.FAILED, attempts=8, last_error="HTTP 500")
    Issue.objects.filter(pk=n.issue_id).update(status=Issue.Status.REJECTED, closed_at=timezone.now())
    assert retention_sweep(now=timezone.now() + timedelta(days=settings.GRIDDESK_RETENTION_DAYS + 1)) == 1
    admin = site._registry[Notification]
    request = RequestFactory().post("/")

    admin.retry_now(request, Notification.objects.filter(pk=n.pk))  # queues delivery (broker down: left to sweep)
    assert notification_deliver(notification_id=n.pk) is None

    n.refresh_from_db()
    assert (n.status, n.attempts, n.payload) == ("failed", 8, {})
    assert "retention" in n.last_error
    assert not WebhookAttempt.objects.filter(notification=n).exists()  # nothing was sent


# 4. Partner visibility: a constant number of queries whatever the number of partners.


def _partners(territory, count, *, issue_reporter):
    partners = []
    for i in range(count):
        user = issue_reporter if i == 0 else UserFactory(username=f"partner_{i}")
        partner = PartnerApp.objects.create(slug=f"p{i}", name=f"P{i}", user=user, area=territory["district"])
        for _ in range(2):
            WebhookEndpoint.objects.create(
                partner=partner, url=f"https://p{i}.example/h", events=["issue.created"], secret=webhook_secret_new()
            )
        partners.append(partner)
    return partners


@pytest.mark.parametrize("count", [1, 5])
def test_partner_endpoints_take_a_constant_number_of_queries(count, territory, resident, django_assert_max_num_queries):
    reporter = UserFactory(username="partner_0")
    issue = issue_in_status("submitted", reporter=resident, place=territory["grid"])
    partners = _partners(territory, count, issue_reporter=reporter)
    issue.reporter_user_id = reporter.pk  # the first partner reported it
    Issue.objects.filter(pk=issue.pk).update(reporter_user=reporter)
    if count > 1:
        member(partners[-1].user, Role.COMMUNITY_STAFF, area=territory["community"])  # sees the subtree

    with django_assert_max_num_queries(3):
        endpoints = _partner_endpoints(issue, "issue.created")

    expected = {partners[0].pk} | ({partners[-1].pk} if count > 1 else set())
    assert {e.partner_id for e in endpoints} == expected
    assert len(endpoints) == 2 * len(expected)
