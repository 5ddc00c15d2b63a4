"""The API's oversight actions (supervise, refuse_extension) and the answer after an action that leaves the scope."""

from http import HTTPStatus

import pytest

from issues import workflow
from issues.models import Event, ExtensionRequest
from tests.api.test_issues_support import client_for, error_code
from tests.factories import issue_state

pytestmark = pytest.mark.django_db


def act(user, issue, action, body):
    return client_for(user).post(f"/api/v1/issues/{issue.pk}/{action}/", body, format="json")


def test_supervise_answers_the_issue_at_its_new_version(make, street_officer):
    issue = make("in_progress")
    response = act(street_officer, issue, "supervise", {"note": "Today, please.", "version": issue.version})
    assert response.status_code == HTTPStatus.OK
    assert response.json()["version"] == issue.version + 1
    assert "GridDesk-Out-Of-Scope" not in response.headers
    assert Event.objects.filter(issue=issue, action="supervise", note="Today, please.").exists()


def test_supervise_without_a_note_is_400_and_by_community_staff_403(make, street_officer, community_staff):
    issue = make("in_progress")
    before = issue_state(issue)
    response = act(street_officer, issue, "supervise", {})
    assert (response.status_code, error_code(response)) == (HTTPStatus.BAD_REQUEST, "validation_error")
    assert "note" in response.json()["error"]["fields"]
    response = act(community_staff, issue, "supervise", {"note": "x"})
    assert (response.status_code, error_code(response)) == (HTTPStatus.FORBIDDEN, "permission_denied")
    assert issue_state(issue) == before


def test_refuse_extension_settles_the_request(make, street_officer, chengguan_staff):
    issue = make("in_progress")
    workflow.issue_extend(issue=issue, actor=chengguan_staff, workdays=3, reason="Parts.")
    response = act(street_officer, issue, "refuse_extension", {"reason": "Not needed."})
    assert response.status_code == HTTPStatus.OK
    assert ExtensionRequest.objects.get(issue=issue).status == "rejected"
    again = act(street_officer, issue, "refuse_extension", {})
    assert (again.status_code, error_code(again)) == (HTTPStatus.CONFLICT, "invalid_transition")


def test_a_classify_that_moves_the_issue_to_another_community_answers_its_new_state_and_says_so(
    make, community_staff, other_territory
):
    issue = make("submitted", reporter_name="刘洋", reporter_phone="13812345678")
    response = act(
        community_staff,
        issue,
        "classify",
        {"category": "stairwell", "grid": other_territory["grid"].code, "version": 1},
    )
    assert response.status_code == HTTPStatus.OK
    data = response.json()
    assert (data["status"], data["version"]) == ("classified", 2)
    assert data["area"]["community"] == other_territory["community"].code
    assert response.headers["GridDesk-Out-Of-Scope"] == "true"
    # Out of scope now: the reporter is masked, and the issue is not found any more.
    assert data["reporter"] == {"name": "刘*", "phone": "138****5678"}
    assert client_for(community_staff).get(f"/api/v1/issues/{issue.pk}/").status_code == HTTPStatus.NOT_FOUND


def test_a_classify_within_the_scope_answers_without_the_header(make, community_staff):
    issue = make("submitted")
    response = act(community_staff, issue, "classify", {"category": "stairwell"})
    assert response.status_code == HTTPStatus.OK
    assert (response.json()["status"], response.json()["version"]) == ("classified", 2)
    assert "GridDesk-Out-Of-Scope" not in response.headers
