"""The escalation sweep reads from where the last run left off: what changed since, never the escalated backlog."""

import re
import threading
from datetime import timedelta

import pytest
from django.db import connection, connections
from django.test import override_settings
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from issues import workflow
from issues.escalation import (
    HORIZON_MARGIN,
    escalation_candidates,
    escalation_changed,
    escalation_horizon,
    escalation_sweep,
)
from issues.models import EscalationHorizon, Event, Issue
from tests.factories import indexes_only

pytestmark = pytest.mark.django_db

HOUR = timedelta(hours=1)
DAY = timedelta(days=1)


def overdue(make, status="in_progress", *, since: timedelta, now=None) -> Issue:
    """Return an issue whose resolution deadline passed `since` before `now` (set by SQL: no event, as a restore
    would)."""
    issue = make(status)
    Issue.objects.filter(pk=issue.pk).update(resolution_due_at=(now or timezone.now()) - since)
    issue.refresh_from_db()
    return issue


def escalated(issue) -> list[str]:
    return list(
        Event.objects.filter(issue=issue, action="escalate").order_by("at", "id").values_list("data__due_at", flat=True)
    )


def test_the_first_sweep_reads_everything_and_leaves_its_horizon(make):
    issue = overdue(make, since=3 * DAY)
    assert escalation_horizon(timezone.now()) is None

    now = timezone.now()
    [done] = escalation_sweep(now=now)

    assert done["issue_id"] == str(issue.pk)
    row = EscalationHorizon.objects.get()
    assert (row.covered_until, row.full_read_at) == (now, now)
    assert escalation_horizon(now + HOUR / 2) == now - HORIZON_MARGIN


def test_a_deadline_that_passes_after_the_horizon_escalates(make):
    escalation_sweep(now=timezone.now())
    issue = make("in_progress")
    later = issue.resolution_due_at + timedelta(minutes=1)
    full_read = later - timedelta(minutes=30)
    EscalationHorizon.objects.update(
        covered_until=issue.resolution_due_at - timedelta(minutes=5), full_read_at=full_read
    )

    [done] = escalation_sweep(now=later)

    assert done["issue_id"] == str(issue.pk)
    row = EscalationHorizon.objects.get()
    assert (row.covered_until, row.full_read_at) == (later, full_read)  # read from the horizon, not in full


def test_a_deadline_moved_into_the_past_by_the_workflow_escalates_on_the_next_run(make, street_officer):
    """The change is older than nothing: its deadline falls days before the horizon, but its event after it."""
    issue = overdue(make, since=4 * DAY)
    first = timezone.now()
    escalation_sweep(now=first)
    assert len(escalated(issue)) == 1

    # One working day more from a deadline four days gone is still a day or more gone.
    issue = workflow.issue_extend(issue=issue, actor=street_officer, workdays=1)
    assert issue.resolution_due_at < timezone.now() - DAY
    [done] = escalation_sweep(now=timezone.now())

    assert (done["issue_id"], done["to_level"]) == (str(issue.pk), 2)
    assert EscalationHorizon.objects.get().full_read_at == first  # found by the incremental read


def test_a_change_stamped_after_the_runs_now_is_the_next_runs(make, street_officer):
    """A server whose clock runs ahead stamps its event after this run's `now`: the next run reads it."""
    issue = overdue(make, since=4 * DAY)
    escalation_sweep(now=timezone.now() - timedelta(minutes=5))
    issue = workflow.issue_extend(issue=issue, actor=street_officer, workdays=1)
    stamped = Event.objects.filter(issue=issue, action="extend").get().at

    assert escalation_sweep(now=stamped - timedelta(minutes=2)) == []
    [done] = escalation_sweep(now=stamped + timedelta(minutes=1))
    assert done["issue_id"] == str(issue.pk)


def test_a_change_made_without_an_event_waits_for_the_next_full_read(make, settings):
    settings.GRIDDESK_ESCALATION_FULL_READ_SECONDS = 3600
    issue = make("in_progress")  # its events now, before the horizon below
    now = timezone.now() + HOUR
    assert escalation_sweep(now=now) == []
    # By SQL, after the horizon, to a deadline long before it: no event says so.
    Issue.objects.filter(pk=issue.pk).update(resolution_due_at=now - 2 * DAY)

    assert escalation_sweep(now=now + timedelta(minutes=1)) == []  # the incremental read does not see it
    [done] = escalation_sweep(now=now + timedelta(seconds=3600))  # the hour's full read does

    assert done["issue_id"] == str(issue.pk)
    assert EscalationHorizon.objects.get().full_read_at == now + timedelta(seconds=3600)


def test_a_clock_that_went_back_reads_everything(make):
    now = timezone.now()
    escalation_sweep(now=now + DAY)
    issue = overdue(make, since=2 * DAY)

    [done] = escalation_sweep(now=now)

    assert done["issue_id"] == str(issue.pk)


def test_deadlines_beyond_the_limit_stay_within_the_next_runs_reach(make):
    # The sweeps run an hour from now: the issues' own events (now) lie before their horizon.
    now = timezone.now() + HOUR
    older, newer = overdue(make, since=3 * DAY, now=now), overdue(make, since=2 * DAY, now=now)

    [first] = escalation_sweep(now=now, limit=1)
    # The run read one deadline of several: it covered up to that deadline, not to `now`.
    assert EscalationHorizon.objects.get().covered_until == older.resolution_due_at
    [second] = escalation_sweep(now=now + timedelta(minutes=1))

    assert (first["issue_id"], second["issue_id"]) == (str(older.pk), str(newer.pk))


@override_settings(GRIDDESK_SWEEP_CONNECTIONS=1)
@pytest.mark.django_db(transaction=True)
@pytest.mark.skipif(connection.vendor != "postgresql", reason="row locks held by another connection")
def test_an_issue_another_transaction_holds_is_escalated_by_the_next_run(make):
    now = timezone.now() + HOUR  # as above: the issues' events before the horizon
    held, free = overdue(make, since=3 * DAY, now=now), overdue(make, since=2 * DAY, now=now)
    locked, release = threading.Event(), threading.Event()

    def hold() -> None:
        try:
            with connections["default"].cursor() as cursor:
                cursor.execute("BEGIN")
                cursor.execute("SELECT 1 FROM issues_issue WHERE id = %s FOR UPDATE", [held.pk])
                locked.set()
                release.wait(30)
                cursor.execute("ROLLBACK")
        finally:
            connections.close_all()

    holder = threading.Thread(target=hold)
    holder.start()
    assert locked.wait(30)
    try:
        first = escalation_sweep(now=now)
    finally:
        release.set()
        holder.join(30)

    # The held issue was skipped (SKIP LOCKED), and the horizon stayed at its deadline, so the next run, reading from
    # there, escalates it although nothing about it changed.
    assert [d["issue_id"] for d in first] == [str(free.pk)]
    assert EscalationHorizon.objects.get().covered_until == held.resolution_due_at
    [second] = escalation_sweep(now=now + timedelta(minutes=1))
    assert second["issue_id"] == str(held.pk)


@pytest.mark.skipif(connection.vendor != "postgresql", reason="PostgreSQL's planner")
@pytest.mark.parametrize("deadline", ["response", "resolution"])
def test_the_read_from_a_horizon_goes_through_indexes_only(make, deadline):
    """No part of the read may scan a table: the changed issues come from an index of the events' `at`, the deadlines
    since the horizon from the partial index's range. (The issue table keeps only that index and its key:
    tests.factories.indexes_only; the benchmark checks the real plans at 1 M and 10 M issues: bench/plans/.)"""
    indexes_only("issues_issue", f"issue_{deadline}_escalation", "issues_issue_pkey")
    issue = make("dispatched")
    since = timezone.now() - HOUR
    with CaptureQueriesContext(connection) as captured:
        changed = escalation_changed(since, timezone.now())
    assert changed == [issue.pk]
    plans = [captured[-1]["sql"], escalation_candidates(deadline, now=timezone.now(), since=since, changed=changed)]
    with connection.cursor() as cursor:
        cursor.execute(f"EXPLAIN {plans[0]}")
        plans[0] = "\n".join(row[0] for row in cursor.fetchall()).lower()
    plans[1] = plans[1].explain().lower()

    assert "seq scan" not in plans[0] + plans[1], plans
    assert "event_action_at" in plans[0] or "issues_event_at" in plans[0], plans[0]
    # The deadlines since the horizon: a range of the partial index, both bounds in its condition. (How the changed
    # issues are found among the running deadlines, by primary key or by the partial index, is the planner's call on
    # the statistics: by key for a few, bench/plans/*sweep.txt at 1 M and 10 M.)
    conditions = re.findall(rf"using issue_{deadline}_escalation on issues_issue\b.*\n\s*index cond: (.*)", plans[1])
    assert any(">=" in condition and "<" in condition for condition in conditions), plans[1]
