"""Internal notes are written by the same staff who read them (DESIGN.md: internal notes only for staff)."""

import pytest

from config.errors import PermissionDenied
from issues import workflow
from tests.api.test_issues_support import client_for
from tests.factories import issue_in_status, issue_state

pytestmark = pytest.mark.django_db


@pytest.fixture
def returned(territory, resident, community_staff, category, chengguan_staff):
    """Return an issue chengguan was dispatched, then returned: chengguan still sees it, but no longer handles it."""
    issue = issue_in_status(
        "dispatched", reporter=resident, place=territory["grid"], triage=community_staff, category=category
    )
    return workflow.issue_return(issue=issue, actor=chengguan_staff, reason="Not ours.")


def test_a_department_that_returned_the_issue_cannot_write_internal_notes(returned, chengguan_staff):
    before = issue_state(returned)
    with pytest.raises(PermissionDenied):
        workflow.issue_comment(issue=returned, actor=chengguan_staff, text="Between us: skip it.", internal=True)
    assert issue_state(returned) == before


def test_it_still_comments_in_the_open_and_reads_no_internal_notes(returned, chengguan_staff, community_staff):
    workflow.issue_comment(issue=returned, actor=community_staff, text="内部：再派水务", internal=True)
    workflow.issue_comment(issue=returned, actor=chengguan_staff, text="Returned: a water pipe.")
    notes = [e["note"] for e in client_for(chengguan_staff).get(f"/api/v1/issues/{returned.pk}/").json()["events"]]
    assert "Returned: a water pipe." in notes
    assert "内部：再派水务" not in notes


def test_a_dispatched_department_writes_and_reads_internal_notes(returned, community_staff, chengguan, chengguan_staff):
    issue = workflow.issue_dispatch(issue=returned, actor=community_staff, departments=[chengguan])
    workflow.issue_comment(issue=issue, actor=chengguan_staff, text="内部：需要吊车", internal=True)
    notes = [e["note"] for e in client_for(chengguan_staff).get(f"/api/v1/issues/{issue.pk}/").json()["events"]]
    assert "内部：需要吊车" in notes
