"""seed_demo: the demo data of API.md, the same on every run, with working accounts and a routable demo box."""

import io
import random
import re
from pathlib import Path

import pytest
from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.http import HttpRequest

from grids.models import Area
from grids.routing import locate_grid
from issues.demo import ACCOUNTS, DEPARTMENTS, FIRST_GRID
from issues.models import Category, Kind
from meetings.models import Item, Meeting
from orgs.models import ApiKey, Department, Membership, PartnerApp, Role

KEY_LINE = re.compile(r"Partner API key \(demo-partner\), shown once: (\S+)")
EXPECTED_ROLES = {
    "resident1": set(),
    "resident2": set(),
    "grid1": {(Role.GRID_WORKER, FIRST_GRID)},
    "community1": {(Role.COMMUNITY_STAFF, "360702091005")},
    "community2": {(Role.COMMUNITY_STAFF, "360702091001")},
    "street1": {(Role.STREET_OFFICER, "360702091")},
    "dept_cg1": {(Role.DEPARTMENT_STAFF, "chengguan")},
    "dept_sw1": {(Role.DEPARTMENT_STAFF, "shuiwu")},
    "district1": {(Role.DISTRICT_ADMIN, "360702")},
    "hotline1": {(Role.HOTLINE_OPERATOR, "360702")},
}


def seed() -> str:
    out = io.StringIO()
    call_command("seed_demo", "--no-progress", stdout=out)
    match = KEY_LINE.search(out.getvalue())
    assert match, out.getvalue()
    return match.group(1)


def inventory() -> dict:
    User = get_user_model()
    return {
        "areas": list(Area.objects.order_by("code").values_list("code", "level", "path", "boundary", "lat", "lng")),
        "departments": list(Department.objects.order_by("code").values_list("code", "name", "kind", "district__code")),
        "categories": list(
            Category.objects.order_by("code").values_list(
                "code", "parent__code", "kind", "department__code", "response_hours", "resolution_workdays"
            )
        ),
        "users": list(User.objects.order_by("username").values_list("username", flat=True)),
        "memberships": sorted(
            Membership.objects.values_list("user__username", "role", "area__code", "department__code")
        ),
        "partners": list(PartnerApp.objects.values_list("slug", "user__username", "area__code")),
        "active_keys": ApiKey.objects.active().count(),
        "meetings": sorted(Meeting.objects.values_list("area__code", "week", "status")),
        "meeting_items": sorted(Item.objects.values_list("meeting__week", "source", "title", "outcome")),
    }


@pytest.mark.django_db
def test_seed_demo_twice_gives_the_same_data_and_replaces_the_partner_key():
    first_key = seed()
    first = inventory()
    second_key = seed()
    assert inventory() == first
    assert first["active_keys"] == 1
    # The demo meeting: last week's minutes finalised, this week's open with the item carried.
    assert [status for _code, _week, status in first["meetings"]] == ["final", "open"]
    assert [
        (source, outcome) for week, source, _t, outcome in first["meeting_items"] if week == first["meetings"][1][1]
    ] == [("carried", "")]
    assert ApiKey.objects.count() == 1
    assert first_key != second_key
    assert ApiKey.find(first_key) is None
    found = ApiKey.find(second_key)
    assert found.partner.slug == "demo-partner"
    assert found.partner.area.code == "360702"
    assert found.partner.user.username not in EXPECTED_ROLES
    assert not found.partner.user.has_usable_password()


@pytest.mark.django_db
def test_every_demo_account_logs_in_and_holds_exactly_its_role(client, settings):
    seed()
    for username, expected in EXPECTED_ROLES.items():
        assert client.login(request=HttpRequest(), username=username, password=settings.DEMO_PASSWORD), username
        client.logout()
        roles = {
            (role, area or department)
            for role, area, department in Membership.objects.filter(user__username=username).values_list(
                "role", "area__code", "department__code"
            )
        }
        assert roles == expected, username
    assert {u for u, _, _ in ACCOUNTS} == EXPECTED_ROLES.keys()


@pytest.mark.django_db
def test_a_changed_membership_and_password_are_put_back_by_the_next_run(settings):
    seed()
    user = get_user_model().objects.get(username="community1")
    Membership.objects.filter(user=user).update(area=Area.objects.get(code="360702091"))
    Membership.objects.create(user=user, role=Role.DISTRICT_ADMIN, area=Area.objects.get(code="360702"))
    user.set_password("something-else-2026")
    user.save()
    seed()
    assert set(Membership.objects.filter(user=user).values_list("role", "area__code")) == {
        (Role.COMMUNITY_STAFF, "360702091005")
    }
    user.refresh_from_db()
    assert user.check_password(settings.DEMO_PASSWORD)


@pytest.mark.django_db
def test_demo_box_routes_every_point_to_a_grid_of_huangjinling():
    seed()
    rng = random.Random(2026)
    for _ in range(300):
        grid = locate_grid(lat=rng.uniform(25.80, 25.86), lng=rng.uniform(114.93, 115.00))
        assert grid is not None
        assert grid.path.startswith("360702/360702091/")
    grid = locate_grid(lat=25.83, lng=114.96)
    assert grid.ancestor_code(Area.Level.STREET) == "360702091"
    assert locate_grid(lat=25.79, lng=114.96) is None
    for community in ("360702091005", "360702091001"):
        assert Area.objects.filter(parent__code=community, level=Area.Level.GRID, boundary__isnull=False).count() >= 1
    first = Area.objects.get(code=FIRST_GRID)
    assert first.parent.code == "360702091005"
    assert first.children.filter(level=Area.Level.BUILDING).exists()


@pytest.mark.django_db
def test_every_demo_department_handles_a_category_with_sensible_limits():
    seed()
    assert not Category.objects.filter(department=None).exists()
    handled = set(Category.objects.values_list("department__code", flat=True))
    assert handled == {code for code, _, _ in DEPARTMENTS}
    assert set(Department.objects.values_list("kind", flat=True)) == set(Department.Kind.values)
    assert set(Department.objects.values_list("district__code", flat=True)) == {"360702"}
    for category in Category.objects.all():
        assert category.kind in Kind.values
        assert 0 < category.urgent_response_hours <= category.response_hours <= 72
        assert 0 < category.urgent_resolution_workdays <= category.resolution_workdays <= 5
    names = dict(Category.objects.values_list("name", "department__code"))
    assert names["楼道堆物"] == "chengguan"
    assert names["管道破裂"] == "shuiwu"
    assert names["消防通道占用"] == "chengguan"
    assert names["路灯损坏"] == "shizheng"
    assert names["垃圾清运"] == "huanwei"
    assert names["违章搭建"] == "zhujian"


@pytest.mark.django_db
def test_the_readme_example_lands_in_the_grid_that_grid1_works_in():
    readme = (Path(__file__).resolve().parent.parent / "README.md").read_text()
    first = re.search(r'"location":\{"lat":([0-9.]+),"lng":([0-9.]+)\}', readme)
    assert first, "the README's example request names no location"
    seed()
    grid = locate_grid(lat=float(first.group(1)), lng=float(first.group(2)))
    grid1 = Membership.objects.get(user__username="grid1")
    community1 = Membership.objects.get(user__username="community1")
    assert (grid.code, grid1.area.code) == (FIRST_GRID, FIRST_GRID)
    assert grid.path.startswith(community1.area.path + "/")
