"""Every issues and notifications admin changelist renders in the same number of queries for 2 or 12 rows."""

from http import HTTPStatus

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from issues.models import Category, Event, Issue
from notifications.models import (
    Channel,
    Contact,
    DeadlineReminder,
    Notification,
    NotificationPreference,
    WebhookAttempt,
    WebhookEndpoint,
)
from orgs.models import PartnerApp, Role
from tests.factories import UserFactory, issue_in_status, member

MODELS = [
    Category,
    Issue,
    Event,
    Notification,
    WebhookAttempt,
    WebhookEndpoint,
    NotificationPreference,
    Contact,
    DeadlineReminder,
]


@pytest.fixture
def admin_client(client, territory):
    # The admin's issue views are scoped like the API: the operator holds the district's admin role to see them.
    admin = UserFactory(username="admin", is_staff=True, is_superuser=True)
    client.force_login(member(admin, Role.DISTRICT_ADMIN, area=territory["district"]))
    return client


@pytest.fixture
def add_rows(territory, resident, community_staff, chengguan_staff, category):
    """Return a function adding `n` closed issues with everything each changelist lists hanging off them."""
    counter = iter(range(1000))

    def add(n: int) -> None:
        for _ in range(n):
            i = next(counter)
            issue = issue_in_status(
                "closed",
                reporter=resident,
                place=territory["grid"],
                triage=community_staff,
                category=category,
                handler=chengguan_staff,
            )
            user = UserFactory(username=f"person{i}", email=f"p{i}@example.com")
            Contact.objects.create(user=user, phone=f"1380000{i:04d}")
            NotificationPreference.objects.create(user=user, channel=Channel.SMS, enabled=True)
            DeadlineReminder.objects.create(issue=issue, deadline="response", due_at=timezone.now())
            partner = PartnerApp.objects.create(
                slug=f"p{i}", name=f"P{i}", user=UserFactory(username=f"svc{i}"), area=territory["district"]
            )
            endpoint = WebhookEndpoint.objects.create(
                partner=partner, url=f"https://p{i}.example/h", events=["issue.created"], secret="whsec_AAAA"
            )
            n_row = Notification.objects.create(
                kind="issue.created", channel=Channel.WEBHOOK, webhook=endpoint, issue=issue, payload={}
            )
            WebhookAttempt.objects.create(notification=n_row, attempt=1, url=endpoint.url, status_code=500)

    return add


def _queries(client, url) -> int:
    with CaptureQueriesContext(connection) as ctx:
        response = client.get(url)
    assert response.status_code == HTTPStatus.OK
    return len(ctx.captured_queries)


@pytest.mark.parametrize("model", MODELS, ids=lambda m: m._meta.model_name)
def test_changelist_query_count_does_not_grow_with_rows(admin_client, add_rows, model):
    url = reverse(f"admin:{model._meta.app_label}_{model._meta.model_name}_changelist")
    add_rows(2)
    admin_client.get(url)  # the operator's scope is read once, then remembered (orgs.auth_cache): not counted
    few = _queries(admin_client, url)
    add_rows(10)
    many = _queries(admin_client, url)
    assert many == few
