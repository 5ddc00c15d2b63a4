"""A response deadline the lead department met never escalates, even after the issue is reopened."""

from datetime import timedelta
from unittest import mock

import pytest

from issues import workflow
from issues.escalation import escalation_sweep
from issues.models import Event, Issue
from notifications.models import Notification
from tests.factories import issue_in_status

pytestmark = pytest.mark.django_db


@pytest.fixture
def resolved_on_time(territory, resident, community_staff, category, chengguan_staff):
    """Return an issue whose lead accepted and resolved well within both deadlines."""
    return issue_in_status(
        "resolved",
        reporter=resident,
        place=territory["grid"],
        triage=community_staff,
        category=category,
        handler=chengguan_staff,
    )


@pytest.mark.parametrize("how", ["rated_unsatisfied", "reopened_by_staff"])
def test_reopen_after_a_met_response_deadline_does_not_escalate_for_it(
    resolved_on_time, resident, community_staff, street_officer, how
):
    issue = resolved_on_time
    assert issue.accepted_at <= issue.response_due_at  # the lead responded in time
    if how == "rated_unsatisfied":
        issue = workflow.issue_rate(issue=issue, actor=resident, score=1)
    else:
        issue = workflow.issue_reopen(issue=issue, actor=community_staff, reason="Boxes are back.")
    assert issue.status == Issue.Status.DISPATCHED
    # After the response deadline, before the resolution deadline.
    now = issue.response_due_at + timedelta(minutes=1)
    assert now < issue.resolution_due_at

    assert escalation_sweep(now=now) == []

    issue.refresh_from_db()
    assert issue.escalation_level == Issue.EscalationLevel.COMMUNITY
    assert not issue.escalation_marks.exists()
    assert not Event.objects.filter(issue=issue, action="escalate").exists()
    assert not Notification.objects.filter(issue=issue, kind="issue.escalated").exists()


def test_a_missed_response_deadline_still_escalates_once(territory, resident, community_staff, category):
    issue = issue_in_status(
        "dispatched", reporter=resident, place=territory["grid"], triage=community_staff, category=category
    )
    now = issue.response_due_at + timedelta(minutes=1)
    [done] = escalation_sweep(now=now)
    assert done["deadline"] == "response"
    assert escalation_sweep(now=now + timedelta(hours=1)) == []


def test_a_late_acceptance_the_sweep_never_saw_is_not_escalated_after_a_reopen(
    territory, resident, community_staff, category, chengguan_staff
):
    issue = issue_in_status(
        "dispatched", reporter=resident, place=territory["grid"], triage=community_staff, category=category
    )
    late = issue.response_due_at + timedelta(hours=1)
    with mock.patch("django.utils.timezone.now", return_value=late):  # accepted late, before any sweep ran
        issue = workflow.issue_accept(issue=issue, actor=chengguan_staff)
        issue = workflow.issue_resolve(issue=issue, actor=chengguan_staff, note="Cleared.")
    issue = workflow.issue_rate(issue=issue, actor=resident, score=2)
    assert issue.status == Issue.Status.DISPATCHED

    assert escalation_sweep(now=issue.response_due_at + timedelta(hours=2)) == []
    issue.refresh_from_db()
    assert issue.escalation_level == Issue.EscalationLevel.COMMUNITY
