"""issue_actions_for offers exactly the actions that would succeed: it and the actions read one table."""

import pytest
from django.db import transaction

from config.errors import InvalidTransition, NotFound, PermissionDenied
from issues import workflow
from issues.models import Issue
from tests.factories import issue_in_status

pytestmark = pytest.mark.django_db

# Valid arguments of each action: what remains to decide whether it may be taken is who, where and when.
ARGUMENTS = {
    "classify": {"category": "stairwell"},
    "dispatch": {"departments": ["chengguan"]},
    "accept": {},
    "return": {"reason": "Not ours."},
    "resolve": {"note": "Done."},
    "rate": {"score": 4},
    "reopen": {"reason": "Back again."},
    "reject": {"reason": "invalid"},
    "escalate": {},
    "extend": {"workdays": 2},
    "approve_extension": {},
    "comment": {"text": "Noted."},
}
ACTORS = ["resident", "grid_worker", "community_staff", "street_officer", "chengguan_staff", "shuiwu_staff"]


def succeeds(action: str, *, issue: Issue, actor) -> bool:
    """Return whether `action` succeeds now; whatever it did is rolled back."""
    with transaction.atomic():
        try:
            getattr(workflow, f"issue_{action}")(issue=issue.pk, actor=actor, **ARGUMENTS[action])
        except (PermissionDenied, InvalidTransition):
            return False
        finally:
            transaction.set_rollback(True)
    return True


@pytest.mark.parametrize("status", ["submitted", "classified", "dispatched", "in_progress", "resolved", "closed"])
def test_the_actions_offered_are_the_ones_that_succeed(
    request, status, territory, resident, community_staff, category, chengguan_staff, shuiwu
):
    issue = issue_in_status(
        status,
        reporter=resident,
        place=territory["building"],
        triage=community_staff,
        category=category,
        handler=chengguan_staff,
    )
    checked = 0
    for name in ACTORS:
        actor = request.getfixturevalue(name)
        seen = Issue.objects.visible_to(actor).prefetch_related("dispatches").filter(pk=issue.pk).first()
        if seen is None:
            with pytest.raises(NotFound):
                workflow.issue_comment(issue=issue.pk, actor=actor, text="Hello?")
            continue
        offered = workflow.issue_actions_for(issue=seen, actor=actor)
        for action in ARGUMENTS:
            assert (action in offered) == succeeds(action, issue=issue, actor=actor), (name, action, offered)
            checked += 1
    assert checked


def test_a_pending_extension_is_offered_for_approval_to_the_street_only(
    territory, resident, community_staff, category, chengguan_staff, street_officer
):
    issue = issue_in_status(
        "in_progress",
        reporter=resident,
        place=territory["building"],
        triage=community_staff,
        category=category,
        handler=chengguan_staff,
    )
    assert "approve_extension" not in workflow.issue_actions_for(issue=issue, actor=street_officer)
    issue = workflow.issue_extend(issue=issue, actor=chengguan_staff, workdays=3)
    assert "approve_extension" in workflow.issue_actions_for(issue=issue, actor=street_officer)
    assert "approve_extension" not in workflow.issue_actions_for(issue=issue, actor=community_staff)
