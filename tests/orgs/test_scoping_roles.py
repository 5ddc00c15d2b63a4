"""What each role may see: one issue in 金东南路社区's first grid, one in 金岭路社区, seen by every kind of user."""

import pytest

from issues import workflow
from issues.models import Issue
from orgs.models import PartnerApp, Role
from tests.factories import UserFactory, issue_in_status, member

pytestmark = pytest.mark.django_db


@pytest.fixture
def issues(territory, other_territory, resident, other_resident, community_staff, other_community_staff, category):
    """Return (here, there): `here` dispatched to chengguan in our grid, `there` submitted in the other community."""
    here = issue_in_status(
        "dispatched", reporter=resident, place=territory["grid"], triage=community_staff, category=category
    )
    there = issue_in_status("submitted", reporter=other_resident, place=other_territory["grid"])
    return here, there


def _seen(user) -> set[str]:
    return set(Issue.objects.visible_to(user).values_list("number", flat=True))


@pytest.mark.parametrize(
    ("role", "node", "sees"),
    [
        (Role.GRID_WORKER, "grid", {"here"}),
        (Role.GRID_LEADER, "grid", {"here"}),
        (Role.BUILDING_LEADER, "grid", {"here"}),
        (Role.COMMUNITY_STAFF, "community", {"here"}),
        (Role.STREET_OFFICER, "street", {"here", "there"}),
        (Role.DISTRICT_ADMIN, "district", {"here", "there"}),
    ],
)
def test_a_node_role_sees_what_lies_under_its_node(issues, territory, role, node, sees):
    user = member(UserFactory(username=f"u_{role}"), role, area=territory[node])
    named = {"here": issues[0].number, "there": issues[1].number}
    assert _seen(user) == {named[k] for k in sees}


def test_a_building_leader_at_another_grid_sees_nothing_of_ours(issues, other_territory):
    user = member(UserFactory(username="bl_other"), Role.BUILDING_LEADER, area=other_territory["grid"])
    assert _seen(user) == {issues[1].number}


def test_department_staff_see_only_what_was_dispatched_to_their_department(issues, chengguan_staff, shuiwu_staff):
    here, _ = issues
    assert _seen(chengguan_staff) == {here.number}
    assert _seen(shuiwu_staff) == set()


def test_residents_see_what_they_reported(issues, resident, other_resident):
    here, there = issues
    assert _seen(resident) == {here.number}
    assert _seen(other_resident) == {there.number}
    assert _seen(UserFactory(username="stranger")) == set()


def test_a_partner_app_sees_what_it_submitted(issues, territory):
    user = UserFactory(username="svc_partner")
    PartnerApp.objects.create(slug="hotline", name="12345", user=user, area=territory["district"])
    mine = workflow.issue_submit(
        actor=user, grid=territory["grid"].code, description="管道破裂，水漫楼道", reporter_phone="13800000000"
    )
    assert _seen(user) == {mine.number}


def test_nobody_signed_in_sees_nothing(issues):
    from django.contrib.auth.models import AnonymousUser

    assert _seen(AnonymousUser()) == set()


def test_several_memberships_add_up(issues, territory, other_territory, chengguan):
    user = member(UserFactory(username="two_hats"), Role.GRID_WORKER, area=territory["grid"])
    member(user, Role.COMMUNITY_STAFF, area=other_territory["community"])
    assert _seen(user) == {issues[0].number, issues[1].number}
