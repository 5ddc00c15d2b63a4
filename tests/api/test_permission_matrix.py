"""Every issue endpoint and action × every caller, with the exact status code.

Each action is tried on an issue in a state that allows it, so the answer says who may act, not when:
the roles allowed get 200 (201 for photos), the others who can see the issue 403 `permission_denied`, those
who cannot see it 404 `not_found` (its existence is not revealed), anonymous callers 401 (except submitting: anyone
may). A refused call leaves the issue, its events and its dispatches as they were.
"""

from http import HTTPStatus

import pytest

from issues import workflow
from issues.models import Dispatch, Event, Issue
from orgs.models import Role
from tests.api.test_issues_support import (
    MASKED_NAME,
    MASKED_PHONE,
    REPORTER_NAME,
    REPORTER_PHONE,
    client_for,
    error_code,
    issue_in,
    make_partner,
    partner_client,
    png_file,
    submit_body,
)
from tests.factories import UserFactory, member

ROLES = [
    "reporter",
    "other_resident",
    "grid_worker",
    "community_staff",
    "other_community_staff",
    "street_officer",
    "dispatched_department",
    "other_department",
    "district_admin",
    "anonymous",
    "partner",
]
TRIAGE = {"community_staff", "street_officer", "district_admin"}
# Who sees an issue of the test territory before and after it is dispatched to chengguan.
SEES_UNDISPATCHED = {"reporter", "grid_worker"} | TRIAGE
SEES_DISPATCHED = SEES_UNDISPATCHED | {"dispatched_department"}

# action → (state it is tried in, body, the roles allowed to take it)
ACTIONS = {
    "classify": ("submitted", {"category": "stairwell"}, TRIAGE),
    "dispatch": ("classified", {"departments": ["chengguan"], "lead": "chengguan"}, TRIAGE),
    "accept": ("dispatched", {}, {"dispatched_department"}),
    "return": ("dispatched", {"reason": "不属于城管职责"}, {"dispatched_department"}),
    "resolve": ("in_progress", {"note": "已清理"}, TRIAGE | {"dispatched_department"}),
    "rate": ("resolved", {"score": 4, "comment": "满意"}, {"reporter"}),
    "reopen": ("resolved", {"reason": "还没清理干净"}, TRIAGE),
    "reject": ("submitted", {"reason": "invalid", "note": "不属实"}, TRIAGE),
    "escalate": ("dispatched", {"note": "久拖不决"}, TRIAGE),
    "extend": (
        "in_progress",
        {"workdays": 3, "reason": "需要采购配件"},
        {"street_officer", "district_admin"} | {"dispatched_department"},
    ),
    "approve_extension": ("in_progress", {}, {"street_officer", "district_admin"}),
    "comment": ("dispatched", {"text": "请尽快处理"}, SEES_DISPATCHED),
}
DISPATCHED_STATES = {"dispatched", "in_progress", "resolved", "closed"}
REPORTER = {"name": REPORTER_NAME, "phone": REPORTER_PHONE}
MASKED_REPORTER = {"name": MASKED_NAME, "phone": MASKED_PHONE}


CODES = {
    HTTPStatus.UNAUTHORIZED: "not_authenticated",
    HTTPStatus.FORBIDDEN: "permission_denied",
    HTTPStatus.NOT_FOUND: "not_found",
}


def expected_status(role: str, *, state: str, allowed: set[str], ok: int = HTTPStatus.OK) -> int:
    if role == "anonymous":
        return HTTPStatus.UNAUTHORIZED
    if role in allowed:
        return ok
    sees = SEES_DISPATCHED if state in DISPATCHED_STATES else SEES_UNDISPATCHED
    return HTTPStatus.FORBIDDEN if role in sees else HTTPStatus.NOT_FOUND


def answer(response) -> tuple[int, str | None]:
    """Return (status, error code or None): one cell of the matrix."""
    return response.status_code, (error_code(response) if response.status_code >= 400 else None)


def cell(status: int) -> tuple[int, str | None]:
    return status, CODES.get(status)


@pytest.fixture
def callers(request, territory, other_territory, category):
    """Return {role: API client} for every role of the matrix."""
    users = {
        "reporter": "resident",
        "other_resident": "other_resident",
        "grid_worker": "grid_worker",
        "community_staff": "community_staff",
        "other_community_staff": "other_community_staff",
        "street_officer": "street_officer",
        "dispatched_department": "chengguan_staff",
        "other_department": "shuiwu_staff",
        "district_admin": "district_admin",
    }
    clients = {role: client_for(request.getfixturevalue(name)) for role, name in users.items()}
    clients["anonymous"] = client_for()
    _, key = make_partner(area=territory["district"])
    clients["partner"] = partner_client(key)
    return clients


@pytest.fixture
def drive(territory, resident, community_staff, chengguan, chengguan_staff, category):
    """Return a function that puts a new issue of `resident` in a state."""

    def drive_to(state: str) -> Issue:
        return issue_in(
            state,
            reporter=resident,
            territory=territory,
            community_staff=community_staff,
            department=chengguan,
            department_staff=chengguan_staff,
            category=category,
        )

    return drive_to


def snapshot(issue: Issue) -> tuple:
    issue.refresh_from_db()
    dispatches = sorted(Dispatch.objects.filter(issue=issue).values_list("department__code", "status", "active"))
    return issue.status, issue.version, issue.escalation_level, Event.objects.filter(issue=issue).count(), dispatches


@pytest.mark.parametrize("action", list(ACTIONS))
def test_action_answers_by_role(action, callers, drive, chengguan_staff):
    state, body, allowed = ACTIONS[action]

    def prepared() -> Issue:
        issue = drive(state)
        if action == "approve_extension":
            issue = workflow.issue_extend(issue=issue, actor=chengguan_staff, workdays=2, reason="等待材料")
        return issue

    # Refusals change nothing, so they share one issue; each allowed role acts on a fresh one.
    shared = prepared()
    before = snapshot(shared)
    expected, answers = {}, {}
    for role in ROLES:
        expected[role] = cell(expected_status(role, state=state, allowed=allowed))
        issue = prepared() if expected[role][0] == HTTPStatus.OK else shared
        response = callers[role].post(f"/api/v1/issues/{issue.pk}/{action}/", body, format="json")
        answers[role] = answer(response)
        if response.status_code == HTTPStatus.OK:
            assert response.json()["id"] == str(issue.pk)

    assert answers == expected
    assert snapshot(shared) == before


def test_detail_answers_by_role(callers, drive):
    issue = drive("dispatched")

    answers = {role: answer(callers[role].get(f"/api/v1/issues/{issue.pk}/")) for role in ROLES}

    assert answers == {role: cell(expected_status(role, state="dispatched", allowed=SEES_DISPATCHED)) for role in ROLES}


def test_unknown_issue_is_404_on_every_route(callers):
    url = "/api/v1/issues/00000000-0000-4000-8000-000000000000/"
    routes = [("get", url, None)] + [("post", f"{url}{action}/", body) for action, (_, body, _) in ACTIONS.items()]

    for method, path, body in routes:
        response = getattr(callers["district_admin"], method)(path, body, format="json")
        assert answer(response) == (HTTPStatus.NOT_FOUND, "not_found"), path


def test_photos_answer_by_role(callers, drive, settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path
    issue = drive("dispatched")
    before = snapshot(issue)
    expected, answers = {}, {}

    for role in ROLES:
        expected[role] = cell(expected_status(role, state="dispatched", allowed=SEES_DISPATCHED, ok=HTTPStatus.CREATED))
        response = callers[role].post(
            f"/api/v1/issues/{issue.pk}/photos/", {"photos": [png_file()]}, format="multipart"
        )
        answers[role] = answer(response)

    assert answers == expected
    assert issue.photos.count() == len(SEES_DISPATCHED)
    assert snapshot(issue) == before  # photos change neither state nor history


def test_list_shows_each_caller_what_they_may_see_and_refuses_anonymous(callers, drive):
    drive("submitted")
    answers, expected = {}, {}

    for role in ROLES:
        response = callers[role].get("/api/v1/issues/")
        if role == "anonymous":
            expected[role], answers[role] = cell(HTTPStatus.UNAUTHORIZED), answer(response)
        else:
            expected[role] = (HTTPStatus.OK, 1 if role in SEES_UNDISPATCHED else 0)
            answers[role] = (response.status_code, len(response.json()["results"]))

    assert answers == expected


def test_submit_answers_every_caller_anonymous_included_and_masks_the_reporter_for_anonymous_only(callers, territory):
    responses = {role: callers[role].post("/api/v1/issues/", submit_body(territory), format="json") for role in ROLES}

    assert {role: answer(response) for role, response in responses.items()} == dict.fromkeys(
        ROLES, cell(HTTPStatus.CREATED)
    )
    assert {role: response.json()["reporter"] for role, response in responses.items()} == {
        role: MASKED_REPORTER if role == "anonymous" else REPORTER for role in ROLES
    }
    assert Issue.objects.count() == len(ROLES)
    assert Issue.objects.filter(reporter_user=None).count() == 1


def test_anonymous_submit_without_the_reporter_phone_is_400_and_creates_nothing(callers, territory):
    response = callers["anonymous"].post(
        "/api/v1/issues/", submit_body(territory, reporter={"name": REPORTER_NAME}), format="json"
    )

    assert answer(response) == (HTTPStatus.BAD_REQUEST, "validation_error")
    assert list(response.json()["error"]["fields"]) == ["reporter.phone"]
    assert Issue.objects.count() == 0


def test_categories_are_public_to_every_caller(callers):
    answers = {role: callers[role].get("/api/v1/categories/").status_code for role in ROLES}

    assert answers == dict.fromkeys(ROLES, HTTPStatus.OK)


STATS_EXPECTED = {
    "reporter": HTTPStatus.FORBIDDEN,
    "other_resident": HTTPStatus.FORBIDDEN,
    "grid_worker": HTTPStatus.NOT_FOUND,  # their scope is one grid, not the whole community
    "community_staff": HTTPStatus.OK,
    "other_community_staff": HTTPStatus.NOT_FOUND,
    "street_officer": HTTPStatus.OK,
    "dispatched_department": HTTPStatus.FORBIDDEN,
    "other_department": HTTPStatus.FORBIDDEN,
    "district_admin": HTTPStatus.OK,
    "anonymous": HTTPStatus.UNAUTHORIZED,
    "partner": HTTPStatus.FORBIDDEN,
}


def test_stats_of_a_community_answer_by_role(callers, territory, drive):
    drive("submitted")
    query = {"area": territory["community"].code, "from": "2020-01-01", "to": "2099-12-31"}

    answers = {role: answer(callers[role].get("/api/v1/stats/", query)) for role in ROLES}

    assert answers == {role: cell(status) for role, status in STATS_EXPECTED.items()}
    assert callers["community_staff"].get("/api/v1/stats/", query).json()["total"] == 1


# --- A partner app on what it submitted --------------------------------------------------------------------------


PARTNER_ACTIONS = [
    ("get", "", None, HTTPStatus.OK),
    ("post", "comment/", {"text": "市民来电催办"}, HTTPStatus.OK),
    ("post", "classify/", {"category": "stairwell"}, HTTPStatus.FORBIDDEN),
    ("post", "escalate/", {"note": "催办"}, HTTPStatus.FORBIDDEN),
]


@pytest.mark.parametrize(("method", "suffix", "body", "expected"), PARTNER_ACTIONS)
def test_partner_acts_on_what_it_submitted_and_nothing_else(method, suffix, body, expected, territory, category):
    partner, key = make_partner(area=territory["district"])
    _, other_key = make_partner(area=territory["district"], slug="mini-program")
    submitted = partner_client(key).post("/api/v1/issues/", submit_body(territory), format="json").json()
    url = f"/api/v1/issues/{submitted['id']}/{suffix}"

    answer = getattr(partner_client(key), method)(url, body, format="json")
    stranger = getattr(partner_client(other_key), method)(url, body, format="json")

    assert answer.status_code == expected
    assert stranger.status_code == HTTPStatus.NOT_FOUND
    assert error_code(stranger) == "not_found"


def test_partner_rates_the_resolved_issue_it_submitted(
    territory, community_staff, chengguan, chengguan_staff, category
):
    partner, key = make_partner(area=territory["district"])
    submitted = partner_client(key).post("/api/v1/issues/", submit_body(territory), format="json").json()
    issue = Issue.objects.get(pk=submitted["id"])
    workflow.issue_classify(issue=issue, actor=community_staff, category=category)
    workflow.issue_dispatch(issue=issue, actor=community_staff, departments=[chengguan], lead=chengguan)
    workflow.issue_accept(issue=issue, actor=chengguan_staff)
    workflow.issue_resolve(issue=issue, actor=chengguan_staff, note="已清理")

    response = partner_client(key).post(f"/api/v1/issues/{issue.pk}/rate/", {"score": 5}, format="json")

    assert response.status_code == HTTPStatus.OK
    assert response.json()["status"] == "closed"
    assert response.json()["rating"] == 5


def test_a_department_member_of_two_dispatched_departments_names_the_one_accepting(
    territory, community_staff, chengguan, shuiwu, category, resident
):
    both = member(
        member(UserFactory(username="both"), Role.DEPARTMENT_STAFF, department=chengguan),
        Role.DEPARTMENT_STAFF,
        department=shuiwu,
    )
    issue = workflow.issue_submit(actor=resident, description="水管漏水，楼道积水", grid=territory["grid"])
    workflow.issue_classify(issue=issue, actor=community_staff, category=category)
    workflow.issue_dispatch(issue=issue, actor=community_staff, departments=[chengguan, shuiwu], lead=chengguan)
    url = f"/api/v1/issues/{issue.pk}/accept/"

    unnamed = client_for(both).post(url, {}, format="json")
    unknown = client_for(both).post(url, {"department": "no-such"}, format="json")
    named = client_for(both).post(url, {"department": "chengguan"}, format="json")

    assert unnamed.status_code == HTTPStatus.BAD_REQUEST
    assert "department" in unnamed.json()["error"]["fields"]
    assert unknown.status_code == HTTPStatus.BAD_REQUEST
    assert "department" in unknown.json()["error"]["fields"]
    assert named.status_code == HTTPStatus.OK
    assert named.json()["status"] == "in_progress"
