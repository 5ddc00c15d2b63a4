"""An extension request of a department that returned the issue does not outlive its dispatch."""

import pytest

from config.errors import InvalidTransition
from issues import workflow
from issues.models import ExtensionRequest, Issue
from tests.factories import issue_in_status, issue_state

pytestmark = pytest.mark.django_db


@pytest.fixture
def returned_with_a_pending_request(territory, resident, community_staff, category, chengguan_staff):
    """Return an issue chengguan asked more time for, then returned as misrouted: classified again."""
    issue = issue_in_status(
        "dispatched", reporter=resident, place=territory["grid"], triage=community_staff, category=category
    )
    workflow.issue_extend(issue=issue, actor=chengguan_staff, workdays=3, reason="Need a lorry.")
    issue = workflow.issue_return(issue=issue, actor=chengguan_staff, reason="Not ours: a water pipe.")
    assert issue.status == Issue.Status.CLASSIFIED
    return issue


def test_returning_settles_the_departments_pending_extension_request(returned_with_a_pending_request):
    [request] = ExtensionRequest.objects.filter(issue=returned_with_a_pending_request)
    assert request.status == ExtensionRequest.Status.REJECTED
    assert request.decided_at is not None


def test_the_next_department_may_ask_for_more_time(
    returned_with_a_pending_request, community_staff, shuiwu, shuiwu_staff
):
    issue = workflow.issue_dispatch(issue=returned_with_a_pending_request, actor=community_staff, departments=[shuiwu])
    workflow.issue_accept(issue=issue, actor=shuiwu_staff)

    workflow.issue_extend(issue=issue, actor=shuiwu_staff, workdays=2, reason="Parts on order.")

    pending = ExtensionRequest.objects.get(issue=issue, status=ExtensionRequest.Status.PENDING)
    assert pending.department == shuiwu


def test_the_street_cannot_approve_the_returned_departments_request(
    returned_with_a_pending_request, community_staff, shuiwu, street_officer
):
    issue = workflow.issue_dispatch(issue=returned_with_a_pending_request, actor=community_staff, departments=[shuiwu])
    before = issue_state(issue)

    with pytest.raises(InvalidTransition):
        workflow.issue_approve_extension(issue=issue, actor=street_officer)

    assert issue_state(issue) == before
