"""One module of personal-data rules (issues.personal_data): the workflow, the API's representation and the export
all read "who handles the issue" and "who reads the reporter unmasked" from it, so they can never disagree."""

import pytest
from rest_framework.test import APIRequestFactory

from config.errors import PermissionDenied
from issues import workflow
from issues.api.export import export_row
from issues.api.serializers import IssueDetailSerializer
from issues.personal_data import can_see_reporter, handles_issue, mask_name, mask_phone, reporter_for
from issues.selectors import issue_list_for_user
from tests.factories import issue_in_status

pytestmark = pytest.mark.django_db

NAME, PHONE = "刘洋", "13812345678"
# Who handles the issue below, as DESIGN.md says: node staff above it and the department dispatched on it now;
# not the department that returned it (it still sees the issue), not the reporter, not another resident.
HANDLES = {
    "community_staff": True,
    "street_officer": True,
    "district_admin": True,
    "chengguan_staff": True,
    "shuiwu_staff": False,
    "resident": False,
}


@pytest.fixture
def issue(territory, resident, community_staff, category, chengguan, shuiwu, shuiwu_staff):
    """Return an issue shuiwu was dispatched and returned, then dispatched to chengguan (the lead now)."""
    issue = issue_in_status(
        "classified",
        reporter=resident,
        place=territory["grid"],
        triage=community_staff,
        category=category,
        reporter_name=NAME,
        reporter_phone=PHONE,
    )
    workflow.issue_dispatch(issue=issue, actor=community_staff, departments=[shuiwu])
    workflow.issue_return(issue=issue, actor=shuiwu_staff, reason="Not water.")
    return workflow.issue_dispatch(issue=issue, actor=community_staff, departments=[chengguan])


def as_seen_by(user, issue):
    return issue_list_for_user(user=user).get(pk=issue.pk)


@pytest.mark.parametrize("who", sorted(HANDLES))
def test_handles_issue_is_the_rule_the_workflow_checks_for_internal_notes(who, request, issue):
    user = request.getfixturevalue(who)
    seen = as_seen_by(user, issue)
    assert handles_issue(user, seen) is HANDLES[who]

    if HANDLES[who]:
        event = workflow.issue_comment(issue=issue, actor=user, text="内部：核实中", internal=True)
        assert event.internal is True
    else:
        with pytest.raises(PermissionDenied):
            workflow.issue_comment(issue=issue, actor=user, text="内部：核实中", internal=True)


@pytest.mark.parametrize("who", [*sorted(HANDLES), "other_resident"])
def test_the_api_and_the_export_show_the_reporter_as_reporter_for_says(who, request, issue):
    user = request.getfixturevalue(who)
    # Another resident cannot see the issue at all (the API answers 404); the rule still masks for them.
    seen = issue if who == "other_resident" else as_seen_by(user, issue)
    expected = reporter_for(user, seen)
    unmasked = who == "resident" or HANDLES.get(who, False)
    assert expected == ({"name": NAME, "phone": PHONE} if unmasked else {"name": "刘*", "phone": "138****5678"})
    assert can_see_reporter(user, seen) is unmasked

    http = APIRequestFactory().get("/")
    http.user = user
    assert IssueDetailSerializer(seen, context={"request": http}).data["reporter"] == expected
    row = export_row(issue=seen, viewer=user, unmasked=True)[-2:]
    assert dict(zip(["reporter_name", "reporter_phone"], row, strict=True)) == {
        "reporter_name": expected["name"],
        "reporter_phone": expected["phone"],
    }
    # Unless asked unmasked, an export masks for everyone.
    assert export_row(issue=seen, viewer=user)[-2:] == ["刘*", "138****5678"]


def test_nobody_signed_in_reads_the_reporter_masked(issue):
    assert reporter_for(None, issue) == {"name": mask_name(NAME), "phone": mask_phone(PHONE)}
    assert handles_issue(None, issue) is False
