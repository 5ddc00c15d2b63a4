"""The hotline operator (12345 seat): takes callers' reports within their territory, sees the calls they took only."""

from http import HTTPStatus

import pytest

from issues import workflow
from issues.errors import PermissionDenied, ValidationFailed
from issues.models import Issue
from orgs.models import PartnerApp, Role
from orgs.scoping import roles_on_issue, scope_for_user
from tests.api.test_issues_support import client_for
from tests.factories import UserFactory, assert_refused, issue_in_status, member, territory_chain

pytestmark = pytest.mark.django_db

DESCRIPTION = "Water has been coming through the kitchen ceiling since this morning."
CALLER = {"reporter_name": "刘洋", "reporter_phone": "13812345678"}


@pytest.fixture
def operator(territory):
    """A 12345 seat for the street (金东南路社区 and 金岭路社区 lie under it)."""
    return member(UserFactory(username="hotline_operator"), Role.HOTLINE_OPERATOR, area=territory["street"])


@pytest.fixture
def colleague(territory):
    return member(UserFactory(username="hotline_colleague"), Role.HOTLINE_OPERATOR, area=territory["street"])


def take_call(operator, place, **fields):
    fields = {**CALLER, "channel": "hotline", **fields}
    return workflow.issue_submit(actor=operator, description=DESCRIPTION, grid=place.code, **fields)


def test_operator_takes_a_call_anywhere_in_their_territory(operator, territory, other_territory):
    for place in (territory["grid"], other_territory["grid"]):
        issue = take_call(operator, place)
        assert (issue.channel, issue.reporter_user, issue.reporter_phone) == ("hotline", operator, "13812345678")


def test_operator_cannot_take_a_call_outside_their_territory(operator, territory):
    elsewhere = member(UserFactory(username="elsewhere"), Role.HOTLINE_OPERATOR, area=territory["grid"])
    *_, far_grid, _ = territory_chain(community="360702091001", grid_seq=2)
    with pytest.raises(ValidationFailed) as refused:
        take_call(elsewhere, far_grid)
    assert refused.value.fields == {
        "channel": ["Only a hotline operator of this place or the hotline's system reports a hotline call."]
    }
    assert not Issue.objects.exists()


def test_a_call_needs_the_callers_phone(operator, territory):
    with pytest.raises(ValidationFailed) as refused:
        take_call(operator, territory["grid"], reporter_phone="")
    assert list(refused.value.fields) == ["reporter_phone"]
    assert not Issue.objects.exists()


@pytest.mark.parametrize("channel", ["patrol", "on_behalf", "partner"])
def test_operator_reports_calls_not_patrols_nor_for_partners(operator, territory, channel):
    with pytest.raises(ValidationFailed) as refused:
        take_call(operator, territory["grid"], channel=channel)
    assert list(refused.value.fields) == ["channel"]


def test_operator_sees_the_calls_they_took_and_nothing_else_in_their_territory(
    operator, colleague, territory, resident
):
    mine = take_call(operator, territory["grid"])
    theirs = take_call(colleague, territory["grid"])
    residents = workflow.issue_submit(actor=resident, description=DESCRIPTION, grid=territory["grid"].code)

    assert set(Issue.objects.visible_to(operator)) == {mine}
    assert set(Issue.objects.visible_to(colleague)) == {theirs}
    # Holding a seat at the street gives no role that reaches its issues (no triage, no internal notes).
    assert roles_on_issue(operator, residents) == set()
    scope = scope_for_user(operator)
    assert (scope.is_staff_member, scope.is_resident, scope.node_roles) == (True, False, ())


def test_operator_reads_their_callers_unmasked_and_may_not_read_statistics(operator, territory):
    issue = take_call(operator, territory["grid"])
    client = client_for(operator)
    response = client.get(f"/api/v1/issues/{issue.pk}/")
    assert response.status_code == HTTPStatus.OK
    assert response.json()["reporter"] == {"name": "刘洋", "phone": "13812345678"}
    assert response.json()["channel"] == "hotline"
    stats = client.get("/api/v1/stats/", {"area": territory["street"].code})
    assert stats.status_code == HTTPStatus.FORBIDDEN


def test_operator_may_not_rate_the_result_for_the_caller(operator, territory, community_staff, category):
    handler = member(UserFactory(username="cg"), Role.DEPARTMENT_STAFF, department=category.department)
    issue = issue_in_status(
        "resolved",
        reporter=operator,
        place=territory["grid"],
        triage=community_staff,
        category=category,
        handler=handler,
        channel="hotline",
        **CALLER,
    )
    refused = assert_refused(PermissionDenied, lambda: workflow.issue_rate(issue=issue, actor=operator, score=5), issue)
    assert refused.message == "The person reported for rates the result, not the staff who took the report."


def test_the_hotlines_partner_app_relays_the_callers_rating(territory, community_staff, category):
    system = UserFactory(username="hotline_system")
    PartnerApp.objects.create(slug="12345", name="12345", user=system, area=territory["district"])
    handler = member(UserFactory(username="cg"), Role.DEPARTMENT_STAFF, department=category.department)
    issue = issue_in_status(
        "closed",
        reporter=system,
        place=territory["grid"],
        triage=community_staff,
        category=category,
        handler=handler,
        channel="hotline",
        **CALLER,
    )
    assert (issue.status, issue.ratings.get().score) == ("closed", 5)
