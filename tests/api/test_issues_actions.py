"""POST /api/v1/issues/<id>/<action>/: bodies, codes turned into objects, version and state conflicts, detail, stats."""

from http import HTTPStatus

import pytest

from issues import workflow
from issues.models import Dispatch, Event, ExtensionRequest, Issue
from tests.api.test_issues_support import client_for, error_code, issue_in


@pytest.fixture
def drive(territory, resident, community_staff, chengguan, chengguan_staff, category):
    def drive_to(state: str, **overrides) -> Issue:
        kwargs = {
            "reporter": resident,
            "territory": territory,
            "community_staff": community_staff,
            "department": chengguan,
            "department_staff": chengguan_staff,
            "category": category,
        }
        return issue_in(state, **{**kwargs, **overrides})

    return drive_to


def act(user, issue, action, body):
    return client_for(user).post(f"/api/v1/issues/{issue.pk}/{action}/", body, format="json")


def unchanged(issue: Issue):
    """Return what a refused action must leave as it was."""
    issue.refresh_from_db()
    return (
        issue.status,
        issue.version,
        Event.objects.filter(issue=issue).count(),
        Dispatch.objects.filter(issue=issue).count(),
    )


def test_classify_sets_category_kind_urgency_and_deadlines(drive, community_staff, territory):
    issue = drive("submitted")

    response = act(
        community_staff,
        issue,
        "classify",
        {"category": "stairwell", "kind": "report", "urgent": True, "building": territory["building"].code},
    )

    assert response.status_code == HTTPStatus.OK
    data = response.json()
    assert data["status"] == "classified"
    assert data["category"] == {"code": "stairwell", "name": "楼道堆物"}
    assert data["kind"] == "report"
    assert data["urgent"] is True
    assert data["area"]["building"] == territory["building"].code
    assert data["response_due_at"] is not None and data["resolution_due_at"] is not None
    assert data["version"] == issue.version + 1


def test_classify_with_a_form_body_leaves_urgency_alone_when_not_sent(territory, resident, community_staff, category):
    issue = workflow.issue_submit(actor=resident, description="水管爆裂，楼道积水", grid=territory["grid"], urgent=True)

    response = client_for(community_staff).post(
        f"/api/v1/issues/{issue.pk}/classify/", {"category": category.code}, format="multipart"
    )

    assert response.status_code == HTTPStatus.OK
    assert response.json()["urgent"] is True


def test_dispatch_to_two_departments_lists_both_with_the_lead_first(drive, community_staff, shuiwu):
    issue = drive("classified")

    response = act(community_staff, issue, "dispatch", {"departments": ["shuiwu", "chengguan"], "lead": "chengguan"})

    assert response.status_code == HTTPStatus.OK
    assert response.json()["dispatches"] == [
        {"department": "chengguan", "lead": True, "status": "pending"},
        {"department": "shuiwu", "lead": False, "status": "pending"},
    ]


@pytest.mark.parametrize(
    ("state", "action", "body", "field"),
    [
        ("submitted", "classify", {"category": "no-such"}, "category"),
        ("submitted", "classify", {}, "category"),
        ("submitted", "classify", {"category": "stairwell", "grid": "360702091005999"}, "grid"),
        ("classified", "dispatch", {"departments": ["chengguan", "nobody"]}, "departments"),
        ("classified", "dispatch", {"departments": []}, "departments"),
        ("classified", "dispatch", {"departments": ["chengguan"], "lead": "nobody"}, "lead"),
        ("submitted", "reject", {"reason": "boring"}, "reason"),
        ("submitted", "reject", {"reason": "duplicate", "duplicate_of": "not-a-uuid"}, "duplicate_of"),
        (
            "submitted",
            "reject",
            {"reason": "duplicate", "duplicate_of": "00000000-0000-4000-8000-000000000000"},
            "duplicate_of",
        ),
        ("dispatched", "escalate", {"departments": ["nobody"]}, "departments"),
        ("in_progress", "extend", {"workdays": 31}, "workdays"),
        ("in_progress", "resolve", {}, "note"),
        ("resolved", "rate", {"score": 6}, "score"),
        ("resolved", "reopen", {"reason": ""}, "reason"),
        ("dispatched", "comment", {"text": ""}, "text"),
        ("submitted", "classify", {"category": "stairwell", "version": 0}, "version"),
    ],
)
def test_a_bad_body_is_400_naming_the_field_and_changes_nothing(
    drive, state, action, body, field, community_staff, street_officer, resident
):
    issue = drive(state)
    actor = {"rate": resident, "escalate": street_officer}.get(action, community_staff)
    before = unchanged(issue)

    response = act(actor, issue, action, body)

    assert response.status_code == HTTPStatus.BAD_REQUEST
    assert error_code(response) == "validation_error"
    assert field in response.json()["error"]["fields"]
    assert unchanged(issue) == before


def test_a_stale_version_is_409_and_changes_nothing(drive, community_staff):
    issue = drive("submitted")
    before = unchanged(issue)

    response = act(community_staff, issue, "classify", {"category": "stairwell", "version": issue.version + 5})

    assert response.status_code == HTTPStatus.CONFLICT
    assert error_code(response) == "stale_version"
    assert unchanged(issue) == before


def test_a_comment_with_a_stale_version_is_409_and_adds_nothing(drive, resident):
    issue = drive("dispatched")
    before = unchanged(issue)

    response = act(resident, issue, "comment", {"text": "还没人来", "version": issue.version - 1})

    assert response.status_code == HTTPStatus.CONFLICT
    assert error_code(response) == "stale_version"
    assert unchanged(issue) == before


def test_a_comment_with_the_current_version_is_added_and_leaves_the_version(drive, resident):
    issue = drive("dispatched")
    version = issue.version

    response = act(resident, issue, "comment", {"text": "还没人来", "version": version})

    assert response.status_code == HTTPStatus.OK
    assert response.json()["version"] == version
    assert Event.objects.filter(issue=issue, action="comment").count() == 1


def test_an_action_the_state_does_not_allow_is_409_and_changes_nothing(drive, community_staff):
    issue = drive("closed")
    before = unchanged(issue)

    response = act(community_staff, issue, "classify", {"category": "stairwell"})

    assert response.status_code == HTTPStatus.CONFLICT
    assert error_code(response) == "invalid_transition"
    assert unchanged(issue) == before


def test_reject_as_duplicate_names_the_original(drive, community_staff):
    original, repeat = drive("dispatched"), drive("submitted")

    response = act(community_staff, repeat, "reject", {"reason": "duplicate", "duplicate_of": str(original.pk)})

    assert response.status_code == HTTPStatus.OK
    assert response.json()["status"] == "rejected"
    repeat.refresh_from_db()
    assert repeat.duplicate_of == original


def test_reject_as_duplicate_of_an_issue_out_of_scope_is_400(
    drive, community_staff, other_community_staff, other_territory
):
    elsewhere = workflow.issue_submit(
        actor=other_community_staff, description="别处的问题描述", grid=other_territory["grid"]
    )
    repeat = drive("submitted")
    before = unchanged(repeat)

    response = act(community_staff, repeat, "reject", {"reason": "duplicate", "duplicate_of": str(elsewhere.pk)})

    assert response.status_code == HTTPStatus.BAD_REQUEST
    assert "duplicate_of" in response.json()["error"]["fields"]
    assert unchanged(repeat) == before


def test_return_sends_the_issue_back_to_triage(drive, chengguan_staff):
    issue = drive("dispatched")

    response = act(chengguan_staff, issue, "return", {"reason": "应由水务处理"})

    assert response.status_code == HTTPStatus.OK
    assert response.json()["status"] == "classified"
    assert response.json()["dispatches"] == []


def test_street_officer_escalates_and_summons_a_department(drive, street_officer, shuiwu):
    issue = drive("dispatched")

    response = act(street_officer, issue, "escalate", {"note": "吹哨", "departments": ["shuiwu"]})

    assert response.status_code == HTTPStatus.OK
    assert response.json()["escalation_level"] == 1
    assert {"department": "shuiwu", "lead": False, "status": "pending"} in response.json()["dispatches"]


def test_extension_requested_by_the_department_is_applied_when_the_street_approves(
    drive, chengguan_staff, street_officer
):
    issue = drive("in_progress")
    due = client_for(street_officer).get(f"/api/v1/issues/{issue.pk}/").json()["resolution_due_at"]

    requested = act(chengguan_staff, issue, "extend", {"workdays": 3, "reason": "等配件"})
    approved = act(street_officer, issue, "approve_extension", {"version": requested.json()["version"]})

    assert requested.status_code == approved.status_code == HTTPStatus.OK
    # The request alone moves nothing; the approval moves the deadline later (same zone: ISO strings compare).
    assert requested.json()["resolution_due_at"] == due
    assert approved.json()["resolution_due_at"] > due
    assert ExtensionRequest.objects.get(issue=issue).status == "approved"


def test_unsatisfied_rating_reopens_to_the_departments(drive, resident):
    issue = drive("resolved")

    response = act(resident, issue, "rate", {"score": 2, "comment": "没修好"})

    assert response.status_code == HTTPStatus.OK
    assert response.json()["status"] == "dispatched"
    assert response.json()["rating"] == 2


def test_reopen_by_community_staff(drive, community_staff):
    issue = drive("closed")

    response = act(community_staff, issue, "reopen", {"reason": "居民再次反映"})

    assert response.status_code == HTTPStatus.OK
    assert response.json()["status"] == "dispatched"


def test_comment_answers_the_issue_and_appears_in_its_history(drive, resident):
    issue = drive("dispatched")

    response = act(resident, issue, "comment", {"text": "什么时候来处理？"})
    detail = client_for(resident).get(f"/api/v1/issues/{issue.pk}/").json()

    assert response.status_code == HTTPStatus.OK
    assert response.json()["id"] == str(issue.pk)
    assert detail["events"][-1]["action"] == "comment"
    assert detail["events"][-1]["note"] == "什么时候来处理？"
    assert set(detail["events"][-1]) == {"at", "actor", "action", "from_status", "to_status", "note"}


def test_a_non_uuid_issue_id_is_404(community_staff):
    response = client_for(community_staff).get("/api/v1/issues/12345/")

    assert response.status_code == HTTPStatus.NOT_FOUND
    assert error_code(response) == "not_found"


# --- Statistics -------------------------------------------------------------------------------------------------


def test_stats_of_the_street_count_its_issues_by_child_area(drive, street_officer, territory):
    drive("closed")
    drive("submitted")

    response = client_for(street_officer).get("/api/v1/stats/", {"area": territory["street"].code})

    assert response.status_code == HTTPStatus.OK
    data = response.json()
    assert data["total"] == 2
    assert data["by_status"]["closed"] == 1
    assert data["satisfaction_rate"] == 1.0
    assert {"code": territory["community"].code} == {"code": data["by_child_area"][0]["code"]}


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({}, "area"),
        ({"area": "360702091", "from": "yesterday"}, "from"),
        ({"area": "360702091", "from": "2026-02-01", "to": "2026-01-01"}, "from"),
    ],
)
def test_stats_with_bad_parameters_is_400_naming_them(street_officer, territory, params, field):
    response = client_for(street_officer).get("/api/v1/stats/", params)

    assert response.status_code == HTTPStatus.BAD_REQUEST
    assert field in response.json()["error"]["fields"]


def test_stats_of_an_unknown_area_is_404(street_officer):
    response = client_for(street_officer).get("/api/v1/stats/", {"area": "999999"})

    assert response.status_code == HTTPStatus.NOT_FOUND
    assert error_code(response) == "not_found"
