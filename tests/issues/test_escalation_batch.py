"""The batched escalation sweep: a constant number of queries, nothing twice, and exactly what one-at-a-time writes."""

import json
from datetime import timedelta

import pytest
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from issues.escalation import escalation_sweep
from issues.models import Event, Issue
from issues.workflow import issue_escalate, issue_escalate_overdue
from notifications.models import Notification, WebhookEndpoint
from notifications.webhooks import webhook_secret_new
from orgs.models import PartnerApp, Role
from tests.factories import UserFactory, issue_in_status, member

pytestmark = pytest.mark.django_db

MINUTE = timedelta(minutes=1)


@pytest.fixture
def listeners(territory, other_territory, community_staff, street_officer, district_admin):
    """Everyone an escalation may reach: two street officers, a district admin, a partner's webhook (and the community
    staff also triage the second community's issues)."""
    member(community_staff, Role.COMMUNITY_STAFF, area=other_territory["community"])
    member(UserFactory(username="second_street_officer"), Role.STREET_OFFICER, area=other_territory["street"])
    partner = PartnerApp.objects.create(
        slug="p", name="P", user=UserFactory(username="partner_service"), area=territory["district"]
    )
    endpoint = WebhookEndpoint.objects.create(
        partner=partner,
        url="https://partner.example/hook",
        events=list(WebhookEndpoint.EVENTS),
        secret=webhook_secret_new(),
    )
    return endpoint.partner.user


@pytest.fixture
def overdue_mix(
    make, territory, other_territory, street_officer, listeners, community_staff, category, chengguan_staff
):
    """Return a function making `n` issues of four kinds: waiting for acceptance, in progress and reported through the
    partner app (its webhook hears), already at the district, in another community."""

    def build(n: int) -> list[Issue]:
        return _overdue_mix(
            make,
            other_territory,
            street_officer,
            n,
            partner_issue=lambda: issue_in_status(
                "in_progress",
                reporter=listeners,
                place=territory["building"],
                triage=community_staff,
                category=category,
                handler=chengguan_staff,
                reporter_name="王芳",
                reporter_phone="13900000001",
            ),
        )

    return build


def _overdue_mix(make, other_territory, street_officer, n: int, partner_issue) -> list[Issue]:
    issues = []
    for i in range(n):
        kind = i % 4
        if kind == 0:
            issues.append(make("dispatched"))
        elif kind == 1:
            issues.append(partner_issue())
        elif kind == 2:
            issue = make("in_progress")
            issue = issue_escalate(issue=issue, actor=street_officer)
            issues.append(issue_escalate(issue=issue, actor=street_officer))
        else:
            issues.append(make("dispatched", place=other_territory["grid"]))
    return issues


def queries_of_sweep(now) -> tuple[int, list]:
    with CaptureQueriesContext(connection) as captured:
        done = escalation_sweep(now=now)
    return len(captured), done


def test_a_sweep_costs_the_same_queries_for_few_and_many_issues(overdue_mix, settings):
    # Both sweeps read from the horizon the one before left (the first run of all reads everything).
    settings.GRIDDESK_ESCALATION_FULL_READ_SECONDS = 10**9
    escalation_sweep(now=timezone.now())
    few = overdue_mix(4)
    few_count, few_done = queries_of_sweep(max(i.resolution_due_at for i in few) + MINUTE)
    many = overdue_mix(16)
    many_count, many_done = queries_of_sweep(max(i.resolution_due_at for i in many) + MINUTE)

    # Each sweep escalated what it found (both deadlines of the dispatched ones), notifying people and the partner.
    assert {d["issue_id"] for d in few_done} == {str(i.pk) for i in few}
    assert {d["issue_id"] for d in many_done} == {str(i.pk) for i in many}
    assert len(many_done) == 4 * len(few_done)
    # One webhook per escalation of an issue the partner reported (one in four), none for the others.
    assert Notification.objects.filter(channel="webhook", kind="issue.escalated").count() == (4 + 16) // 4
    assert many_count == few_count


def test_a_second_sweep_escalates_nothing_and_writes_nothing(overdue_mix, settings):
    settings.GRIDDESK_ESCALATION_FULL_READ_SECONDS = 10**9  # the second sweep reads from the first one's horizon
    issues = overdue_mix(8)
    now = max(i.resolution_due_at for i in issues) + MINUTE
    escalation_sweep(now=now)
    events, rows = Event.objects.count(), Notification.objects.count()

    count, done = queries_of_sweep(now + timedelta(hours=1))

    assert done == []
    assert (Event.objects.count(), Notification.objects.count()) == (events, rows)
    # The horizon the last run left, the issues changed since, the two candidate reads (one per deadline, from that
    # horizon, through the indexes that hold only running deadlines), the horizon this run leaves.
    assert count == 5


def _written() -> tuple[list, list]:
    """Return the escalation events and their outbox rows as comparable values (no generated ids)."""
    events = sorted(
        (str(e.issue_id), e.at.isoformat(), e.actor_id, e.from_status, e.to_status, json.dumps(e.data, sort_keys=True))
        for e in Event.objects.filter(action="escalate", actor=None)
    )
    rows = sorted(
        (
            str(n.issue_id),
            str(n.event.issue_id),
            n.event.data["deadline"],
            n.kind,
            n.channel,
            n.recipient_id,
            n.webhook_id,
            json.dumps(n.payload, sort_keys=True),
            n.status,
        )
        for n in Notification.objects.filter(event__action="escalate", event__actor=None).select_related("event")
    )
    return events, rows


def test_the_batch_writes_exactly_what_one_at_a_time_writes(overdue_mix, monkeypatch):
    issues = overdue_mix(8)
    now = max(i.resolution_due_at for i in issues) + MINUTE
    frozen = timezone.now()
    monkeypatch.setattr(timezone, "now", lambda: frozen)  # events' and rows' times, and the webhooks' timestamps

    with transaction.atomic():
        one_at_a_time = [d for issue in issues for d in issue_escalate_overdue(issue=issue.pk, now=now)]
        expected = _written(), sorted(Issue.objects.values_list("pk", "escalation_level", "version", "updated_at"))
        transaction.set_rollback(True)
    assert Event.objects.filter(action="escalate", actor=None).count() == 0

    batched = escalation_sweep(now=now)

    assert sorted(batched, key=str) == sorted(one_at_a_time, key=str)
    assert _written() == expected[0]
    assert sorted(Issue.objects.values_list("pk", "escalation_level", "version", "updated_at")) == expected[1]
    assert len(expected[0][1]) > len(one_at_a_time)  # people and the partner were told: the comparison means something


def test_a_sweeps_inbox_rows_count_in_their_recipients_header_at_once(make, street_officer):
    from notifications.inbox import unread_count_for_user, unread_count_remembered

    issue = make("dispatched")
    before = unread_count_remembered(user=street_officer)  # remembered from here on

    escalation_sweep(now=issue.resolution_due_at + MINUTE)

    after = unread_count_for_user(user=street_officer)
    assert after > before
    assert unread_count_remembered(user=street_officer) == after


def test_each_chunk_names_the_span_of_its_issues_created_at_and_escalates_them_all(make):
    """The span (issues.escalation._escalate_part) lets a table partitioned by month prune its partitions; its ends
    are the chunk's own oldest and newest issues, which must escalate like the others."""
    issues = [make("dispatched") for _ in range(5)]
    for n, issue in enumerate(issues):  # created days apart, in another order than their deadlines
        Issue.objects.filter(pk=issue.pk).update(created_at=issue.created_at - timedelta(days=(n * 3) % 5))
    now = max(i.resolution_due_at for i in issues) + MINUTE

    with CaptureQueriesContext(connection) as captured:
        done = escalation_sweep(now=now, chunk=2)

    assert sorted((d["issue_id"], d["deadline"]) for d in done) == sorted(
        (str(i.pk), deadline) for i in issues for deadline in ("response", "resolution")
    )
    locks = [q["sql"] for q in captured.captured_queries if q["sql"].rstrip().endswith("SKIP LOCKED")]
    updates = [q["sql"] for q in captured.captured_queries if q["sql"].startswith('UPDATE "issues_issue"')]
    assert len(updates) == 2 * 3  # three chunks, each updating once per deadline
    assert len(locks) == (3 if connection.vendor == "postgresql" else 0)  # SQLite: no row locks, one writer at a time
    assert all('"issues_issue"."created_at" BETWEEN' in sql for sql in locks + updates)
    assert escalation_sweep(now=now, chunk=2) == []
