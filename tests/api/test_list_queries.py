"""Every list endpoint answers in the same number of queries for 2 or 8 rows (no N+1)."""

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from issues import workflow
from issues.rollups import rollup_fold
from notifications.models import WebhookEndpoint
from notifications.webhooks import webhook_secret_new
from tests.api.test_issues_support import REPORTER_PHONE, client_for, make_partner, partner_client
from tests.factories import issue_in_status

pytestmark = pytest.mark.django_db


def _count(client, url) -> int:
    rollup_fold()  # what a Celery beat counts every few seconds: a statistics read's own look for more is one query
    with CaptureQueriesContext(connection) as ctx:
        response = client.get(url)
    assert response.status_code == 200, response.content
    return len(ctx.captured_queries)


@pytest.fixture
def world(territory, resident, community_staff, chengguan_staff, shuiwu, category, street_officer):
    partner, raw = make_partner(area=territory["district"])

    def add(n):
        for _ in range(n):
            issue = issue_in_status(
                "in_progress",
                reporter=resident,
                place=territory["building"],
                triage=community_staff,
                category=category,
                handler=chengguan_staff,
                reporter_phone=REPORTER_PHONE,
            )
            workflow.issue_escalate(issue=issue, actor=street_officer, departments=[shuiwu])
            workflow.issue_comment(issue=issue, actor=resident, text="Still there.")
            workflow.issue_submit(
                actor=partner.user,
                description="A partner's report.",
                grid=territory["grid"].code,
                reporter_phone=REPORTER_PHONE,
            )
            WebhookEndpoint.objects.create(
                partner=partner, url="https://partner.example/h", events=["issue.created"], secret=webhook_secret_new()
            )

    return add, raw


@pytest.mark.parametrize(
    "who, url",
    [
        ("resident", "/api/v1/issues/"),
        ("community_staff", "/api/v1/issues/"),
        ("chengguan_staff", "/api/v1/issues/"),
        ("resident", "/api/v1/notifications/"),
        ("chengguan_staff", "/api/v1/notifications/"),
        ("partner", "/api/v1/issues/"),
        ("partner", "/api/v1/webhooks/"),
        ("partner", "/open311/v2/requests.json"),
        ("anonymous", "/open311/v2/requests.json"),
        ("community_staff", "/api/v1/stats/?area=360702091005"),
    ],
)
def test_list_query_count_does_not_grow(world, request, who, url):
    add, raw = world
    if who == "partner":
        client = partner_client(raw)
    elif who == "anonymous":
        client = client_for(None)
    else:
        client = client_for(request.getfixturevalue(who))
    add(2)
    client.get(url)  # a partner key records its last use at most every few minutes: not part of the count
    few = _count(client, url)
    add(6)
    many = _count(client, url)
    assert many == few
