"""The sweeps: a passed deadline escalates the issue one level exactly once; unrated resolved issues auto-close."""

from datetime import timedelta

import pytest
from django.db import connection
from django.test import override_settings
from django.utils import timezone

from issues import events, workflow
from issues.escalation import ESCALATION_LIMIT, auto_close_sweep, escalation_due_q, escalation_sweep
from issues.models import EscalationMark, Event, Issue, Rating
from notifications.models import Notification
from tests.factories import indexes_only

pytestmark = pytest.mark.django_db

MINUTE = timedelta(minutes=1)


def escalations(issue) -> list[Event]:
    return list(Event.objects.filter(issue=issue, action="escalate").order_by("at", "id"))


def marks(issue) -> list[tuple]:
    """Return the deadline values the issue escalated for, as (deadline, due_at)."""
    return sorted(EscalationMark.objects.filter(issue=issue).values_list("deadline", "due_at"))


def test_a_passed_response_deadline_escalates_to_the_street_once(make, street_officer):
    issue = make("dispatched")
    now = issue.response_due_at + MINUTE

    done = escalation_sweep(now=now)

    issue.refresh_from_db()
    assert issue.escalation_level == Issue.EscalationLevel.STREET
    assert marks(issue) == [("response", issue.response_due_at)]
    assert issue.status == Issue.Status.DISPATCHED
    [event] = escalations(issue)
    assert (event.actor, event.from_status, event.to_status) == (None, "dispatched", "dispatched")
    assert event.data["deadline"] == "response"
    assert event.data["due_at"] == workflow._iso(issue.response_due_at)
    assert (event.data["from_level"], event.data["to_level"]) == (0, 1)
    assert Notification.objects.filter(event=event, recipient=street_officer).exists()
    assert done == [{"issue_id": str(issue.pk), "number": issue.number, **event.data}]
    # The same deadline never escalates twice.
    assert escalation_sweep(now=now + timedelta(hours=1)) == []
    assert len(escalations(issue)) == 1


def test_nothing_escalates_before_the_deadline(make):
    issue = make("classified")
    assert escalation_sweep(now=issue.response_due_at - MINUTE) == []
    issue.refresh_from_db()
    assert issue.escalation_level == 0
    assert escalations(issue) == []


def test_an_accepted_issue_escalates_on_its_resolution_deadline_only(make):
    issue = make("in_progress")
    assert escalation_sweep(now=issue.response_due_at + MINUTE) == []

    [done] = escalation_sweep(now=issue.resolution_due_at + MINUTE)

    issue.refresh_from_db()
    assert (done["deadline"], issue.escalation_level) == ("resolution", 1)
    assert marks(issue) == [("resolution", issue.resolution_due_at)]


def test_both_deadlines_passed_escalate_once_each(make, district_admin):
    issue = make("dispatched")
    done = escalation_sweep(now=issue.resolution_due_at + MINUTE)
    assert [(d["deadline"], d["to_level"]) for d in done] == [("response", 1), ("resolution", 2)]
    issue.refresh_from_db()
    assert issue.escalation_level == Issue.EscalationLevel.DISTRICT
    assert Notification.objects.filter(event=escalations(issue)[-1], recipient=district_admin).exists()


def test_at_the_district_a_passed_deadline_is_recorded_without_going_further(make, street_officer):
    issue = make("in_progress")
    issue = workflow.issue_escalate(issue=issue, actor=street_officer)
    issue = workflow.issue_escalate(issue=issue, actor=street_officer)

    [done] = escalation_sweep(now=issue.resolution_due_at + MINUTE)

    issue.refresh_from_db()
    assert (done["from_level"], done["to_level"], issue.escalation_level) == (2, 2, 2)
    assert escalation_sweep(now=issue.resolution_due_at + timedelta(days=1)) == []


def test_an_extended_deadline_escalates_again_when_it_passes(make, street_officer):
    issue = make("in_progress")
    first_due = issue.resolution_due_at
    escalation_sweep(now=first_due + MINUTE)
    issue = workflow.issue_extend(issue=issue, actor=street_officer, workdays=2)
    assert escalation_sweep(now=first_due + 2 * MINUTE) == []

    [done] = escalation_sweep(now=issue.resolution_due_at + MINUTE)

    assert (done["deadline"], done["to_level"]) == ("resolution", 2)


@pytest.mark.parametrize("status", ["submitted", "resolved", "closed", "rejected"])
def test_issues_without_a_running_deadline_never_escalate(make, status):
    issue = make(status)
    assert escalation_sweep(now=Issue.objects.get(pk=issue.pk).created_at + timedelta(days=400)) == []
    assert escalations(issue) == []


@override_settings(GRIDDESK_AUTO_CLOSE_DAYS=7)
def test_auto_close_closes_unrated_resolved_issues_after_the_waiting_days(make, resident):
    waiting, recent = make("resolved"), make("resolved")
    Issue.objects.filter(pk=recent.pk).update(resolved_at=waiting.resolved_at + timedelta(days=2))
    now = waiting.resolved_at + timedelta(days=7, seconds=1)

    assert auto_close_sweep(now=now) == 1

    waiting.refresh_from_db()
    assert (waiting.status, waiting.closed_how, waiting.closed_at) == ("closed", "auto_closed", now)
    assert not Rating.objects.filter(issue=waiting).exists()
    event = Event.objects.filter(issue=waiting).last()
    assert (event.action, event.actor, event.from_status, event.to_status) == ("auto_close", None, "resolved", "closed")
    assert Notification.objects.filter(event=event, recipient=resident).exists()
    assert Issue.objects.get(pk=recent.pk).status == Issue.Status.RESOLVED
    assert auto_close_sweep(now=now) == 0


def test_auto_close_leaves_rated_and_reopened_issues_alone(make, resident):
    rated = make("closed")
    reopened = workflow.issue_rate(issue=make("resolved"), actor=resident, score=1)
    assert auto_close_sweep(now=reopened.resolved_at + timedelta(days=365)) == 0
    assert Issue.objects.get(pk=rated.pk).closed_how == "rated"
    assert Issue.objects.get(pk=reopened.pk).status == Issue.Status.DISPATCHED


@pytest.mark.skipif(connection.vendor != "postgresql", reason="query plans are PostgreSQL's")
@pytest.mark.parametrize("deadline", ["response", "resolution"])
def test_the_sweep_finds_overdue_issues_through_the_partial_index(deadline):
    """The candidate read's condition matches its partial index, so the planner can serve it from that index.

    Which usable index the planner prefers depends on the table's statistics, which a test database does not have
    (the benchmark checks the real choice at 1,000,000 issues: bench/plans/sweep.txt). So the test leaves the
    planner only the partial index and the primary key (the other indexes dropped inside the test's transaction,
    rolled back after it) and no sequential scan: an index scan of the partial index means the condition implies it.
    """
    indexes_only("issues_issue", f"issue_{deadline}_escalation", "issues_issue_pkey")
    overdue = Issue.objects.filter(escalation_due_q(deadline, timezone.now())).order_by(f"{deadline}_due_at")
    plan = overdue.values_list("pk", flat=True)[:ESCALATION_LIMIT].explain().lower()
    # An index scan of it, or a bitmap index scan (the planner's pick for a few rows, by the statistics of the moment).
    index = f"issue_{deadline}_escalation"
    assert f"using {index} on issues_issue" in plan or f"bitmap index scan on {index}" in plan, plan


def test_one_failing_issue_does_not_hold_up_the_sweep(make, monkeypatch):
    broken, fine = make("dispatched"), make("dispatched")
    real_outbox_write, real_outbox_write_many = events.outbox_write, events.outbox_write_many

    def outbox_write(*, event, **audience):
        if event.issue_id == broken.pk:
            raise RuntimeError("notification tables unavailable")
        return real_outbox_write(event=event, **audience)

    def outbox_write_many(*, writes, **kwargs):
        if any(write["event"].issue_id == broken.pk for write in writes):
            raise RuntimeError("notification tables unavailable")
        return real_outbox_write_many(writes=writes, **kwargs)

    monkeypatch.setattr(events, "outbox_write", outbox_write)
    monkeypatch.setattr(events, "outbox_write_many", outbox_write_many)
    now = max(broken.response_due_at, fine.response_due_at) + MINUTE

    assert [d["issue_id"] for d in escalation_sweep(now=now)] == [str(fine.pk)]
    # The broken issue's escalation was rolled back whole, and the next run takes it.
    assert Issue.objects.get(pk=broken.pk).escalation_level == 0
    assert escalations(broken) == []
    monkeypatch.setattr(events, "outbox_write", real_outbox_write)
    monkeypatch.setattr(events, "outbox_write_many", real_outbox_write_many)
    assert [d["issue_id"] for d in escalation_sweep(now=now)] == [str(broken.pk)]


def test_a_backlog_is_swept_with_the_older_objects_frozen_out_of_the_collector_and_thawed_after(make, monkeypatch):
    import gc

    from issues import escalation

    issues = [make("dispatched") for _ in range(3)]
    now = max(i.resolution_due_at for i in issues) + MINUTE
    frozen_during, real_escalate = [], escalation.issues_escalate_overdue

    def chunk(*, issues, now, created_between):
        frozen_during.append(gc.get_freeze_count())
        if len(frozen_during) == 2:
            raise RuntimeError("a chunk fails: retried one issue at a time, still frozen")
        return real_escalate(issues=issues, now=now, created_between=created_between)

    monkeypatch.setattr(escalation, "issues_escalate_overdue", chunk)
    gc.unfreeze()

    done = escalation_sweep(now=now, chunk=1)

    assert len(frozen_during) == 3 and all(frozen_during), frozen_during
    assert gc.get_freeze_count() == 0
    assert {d["issue_id"] for d in done} == {str(i.pk) for i in issues}
    # A single chunk (every minute's run) leaves the collector alone.
    issue = make("dispatched")
    frozen_during.clear()
    escalation_sweep(now=issue.resolution_due_at + MINUTE)
    assert frozen_during == [0]
    # What the process froze itself (a pre-forking server) stays frozen, and nothing more is.
    late = [make("dispatched") for _ in range(2)]
    gc.freeze()
    try:
        kept, frozen_during[:] = gc.get_freeze_count(), []
        escalation_sweep(now=max(i.resolution_due_at for i in late) + MINUTE, chunk=1)
        # (the count only falls as frozen objects are freed; a second freeze would have added the newer ones)
        assert len(frozen_during) == 2 and all(0 < n <= kept for n in frozen_during)
        assert 0 < gc.get_freeze_count() <= kept
    finally:
        gc.unfreeze()
