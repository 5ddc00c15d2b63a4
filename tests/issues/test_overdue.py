"""Overdue means the same to the list filter, the statistics and the escalation sweep (issues.sla.deadline_passed_q)."""

from datetime import timedelta

import pytest

from issues import workflow
from issues.escalation import escalation_due_q
from issues.models import Issue
from issues.sla import overdue_q
from issues.stats import issue_stats
from tests.factories import issue_in_status

pytestmark = pytest.mark.django_db


@pytest.fixture
def reopened_after_an_answered_response(territory, resident, community_staff, category, chengguan_staff):
    """Return an issue the lead accepted in time, resolved, then the reporter rated 1: dispatched again."""
    issue = issue_in_status(
        "resolved",
        reporter=resident,
        place=territory["grid"],
        triage=community_staff,
        category=category,
        handler=chengguan_staff,
    )
    return workflow.issue_rate(issue=issue, actor=resident, score=1)


def test_an_answered_response_deadline_is_not_overdue_after_a_reopen(reopened_after_an_answered_response, territory):
    issue = reopened_after_an_answered_response
    now = issue.response_due_at + timedelta(minutes=1)
    assert now < issue.resolution_due_at
    assert not Issue.objects.filter(overdue_q(now=now), pk=issue.pk).exists()
    assert not Issue.objects.filter(escalation_due_q("response", now), pk=issue.pk).exists()
    assert issue_stats(area=territory["community"], date_from=None, date_to=None, now=now)["overdue"] == 0


def test_its_resolution_deadline_runs_again_for_the_filter_the_stats_and_the_sweep(
    reopened_after_an_answered_response, territory
):
    issue = reopened_after_an_answered_response
    now = issue.resolution_due_at + timedelta(minutes=1)
    assert Issue.objects.filter(overdue_q(now=now), pk=issue.pk).exists()
    assert Issue.objects.filter(escalation_due_q("resolution", now), pk=issue.pk).exists()
    assert issue_stats(area=territory["community"], date_from=None, date_to=None, now=now)["overdue"] == 1


def test_an_unanswered_response_deadline_is_overdue(territory, resident, community_staff, category):
    issue = issue_in_status(
        "dispatched", reporter=resident, place=territory["grid"], triage=community_staff, category=category
    )
    now = issue.response_due_at + timedelta(minutes=1)
    assert Issue.objects.filter(overdue_q(now=now), pk=issue.pk).exists()
    assert Issue.objects.filter(escalation_due_q("response", now), pk=issue.pk).exists()
