"""The set-based sweep against the one-at-a-time escalation on randomized cities: the same events, people's rows,
webhook rows, issue rows and statistics rollups, whatever the mix (PostgreSQL: the unnest path; SQLite: the generic
one)."""

import random
from datetime import timedelta

import pytest
from django.db import transaction
from django.utils import timezone

from issues.audience import partner_issue_data, partner_issues_data
from issues.escalation import escalation_sweep
from issues.models import DepartmentEntry, DepartmentRollup, EscalationMark, Event, Issue, StatsEntry, StatsRollup
from issues.workflow import issue_escalate, issue_escalate_overdue
from notifications.channels import preferences_set
from notifications.models import Notification, WebhookEndpoint
from notifications.webhooks import webhook_secret_new
from orgs.models import PartnerApp, Role
from tests.factories import UserFactory, issue_in_status, member
from tests.issues.test_escalation_batch import _written

pytestmark = pytest.mark.django_db

ISSUES = 24


@pytest.fixture
def city(territory, other_territory, resident, community_staff, street_officer, district_admin, category):
    """People an escalation reaches, with varied channels, and a partner whose webhook hears every event type."""
    member(community_staff, Role.COMMUNITY_STAFF, area=other_territory["community"])
    second = UserFactory(username="second_street_officer")
    member(second, Role.STREET_OFFICER, area=other_territory["street"])
    preferences_set(user=second, channels={"sms": True, "email": False}, phone="13900000002")
    preferences_set(user=district_admin, channels={"sms": True}, phone="13900000003")
    # An inactive account still holding the role: among the recipients, but it hears nothing.
    member(UserFactory(username="retired_officer", is_active=False), Role.STREET_OFFICER, area=territory["street"])
    partner = PartnerApp.objects.create(
        slug="p", name="P", user=UserFactory(username="partner_service"), area=territory["district"]
    )
    WebhookEndpoint.objects.create(
        partner=partner,
        url="https://partner.example/hook",
        events=list(WebhookEndpoint.EVENTS),
        secret=webhook_secret_new(),
    )
    return partner.user


def _random_issues(rng, *, territory, other_territory, resident, partner_user, community_staff, category, handler,
                   street_officer) -> list[Issue]:  # fmt: skip
    places = [territory["building"], territory["grid"], other_territory["grid"]]
    issues = []
    for _ in range(ISSUES):
        status = rng.choice(["classified", "dispatched", "dispatched", "in_progress"])
        reporter = rng.choice([resident, resident, partner_user])
        place = rng.choice(places)
        issue = issue_in_status(
            status,
            reporter=reporter,
            place=place,
            triage=community_staff,
            category=category,
            handler=handler,
            title=rng.choice(["", "Blocked stairwell"]),
            reporter_name="王芳",
            reporter_phone="13900000001",
        )
        # Some already escalated by the street office (one or two levels), so levels differ and some stay at the top.
        for _ in range(rng.choice([0, 0, 1, 2]) if status != "classified" else 0):
            issue = issue_escalate(issue=issue, actor=street_officer)
        issues.append(issue)
    return issues


def _state() -> tuple:
    """Return what the sweep changes, as comparable values: events and outbox rows, issue rows, rollups."""
    issues = sorted(Issue.objects.values_list("pk", "escalation_level", "version", "updated_at"))
    marks = sorted(EscalationMark.objects.values_list("issue_id", "deadline", "due_at"))
    rollups = sorted(
        StatsRollup.objects.exclude(total=0).values_list(
            "grain", "level", "period", "area_path", "category_pk", "channel", "kind", "resolved_on", "total",
            "escalated", "status_dispatched", "status_in_progress",
        )
    )  # fmt: skip
    entries = sorted(StatsEntry.objects.values_list("issue_id", "flags", "ratings", "satisfied", "kind"))
    # The department rows: the batch skips their refresh (an overdue escalation changes no dispatch), one at a time not.
    departments = sorted(
        repr(sorted((k, v) for k, v in row.items() if k != "id"))
        for model in (DepartmentEntry, DepartmentRollup)
        for row in model.objects.values()
    )
    return _written(), issues, marks, rollups, entries, departments


@pytest.mark.parametrize("seed", [1, 2, 3, 4])
def test_the_set_based_sweep_writes_what_one_at_a_time_writes_on_a_random_city(
    seed, city, territory, other_territory, resident, community_staff, category, chengguan_staff, street_officer,
    monkeypatch,
):  # fmt: skip
    rng = random.Random(seed)
    issues = _random_issues(
        rng,
        territory=territory,
        other_territory=other_territory,
        resident=resident,
        partner_user=city,
        community_staff=community_staff,
        category=category,
        handler=chengguan_staff,
        street_officer=street_officer,
    )
    # A moment when some deadlines have passed and others not (both, one or none per issue).
    deadlines = sorted(d for i in issues for d in (i.response_due_at, i.resolution_due_at) if d is not None)
    now = deadlines[rng.randrange(len(deadlines) // 3, len(deadlines))] + timedelta(seconds=1)
    frozen = timezone.now()
    monkeypatch.setattr(timezone, "now", lambda: frozen)  # events' and rows' times, and the webhooks' timestamps
    before = Notification.objects.count()

    with transaction.atomic():
        one_at_a_time = [
            d for issue in rng.sample(issues, len(issues)) for d in issue_escalate_overdue(issue=issue.pk, now=now)
        ]
        expected = _state()
        transaction.set_rollback(True)
    assert Event.objects.filter(action="escalate", actor=None).count() == 0
    assert Notification.objects.count() == before

    batched = escalation_sweep(now=now, chunk=rng.choice([1, 5, 1000]))

    assert sorted(batched, key=str) == sorted(one_at_a_time, key=str)
    assert _state() == expected
    events, rows = expected[0]
    assert events and rows  # something escalated and someone heard of it: the comparison means something
    assert {row[4] for row in rows} >= {"inbox", "webhook"}
    # And a second sweep finds nothing more to do.
    assert escalation_sweep(now=now) == []
    assert _state() == expected


def test_partner_bodies_rendered_together_are_each_issue_s_own(city, make, territory):
    issues = [make("dispatched"), make("in_progress"), make("classified", place=territory["grid"])]

    together = partner_issues_data(issues=issues, viewer=city)

    assert together == {issue.pk: partner_issue_data(issue=issue, viewer=city) for issue in issues}
