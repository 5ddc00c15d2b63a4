"""Reads of issues: scoped lists in a constant number of queries, details, likely duplicates."""

import itertools
from datetime import datetime, timedelta
from unittest import mock

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from config.errors import NotFound
from issues.api.serializers import IssueSerializer
from issues.models import Dispatch, Event, Issue, Photo, Rating
from issues.selectors import (
    issue_get_for_user,
    issue_likely_duplicates,
    issue_likely_duplicates_for_user,
    issue_list_for_user,
)
from issues.sla import LOCAL_TZ
from tests.factories import CategoryFactory

_numbers = itertools.count(1)

NOW = datetime(2026, 11, 20, 10, 0, tzinfo=LOCAL_TZ)
# One metre of latitude, in degrees (mean Earth radius); longitude degrees are wider by 1/cos(latitude).
M_LAT = 1 / 111_195.08
BASE_LAT, BASE_LNG = 25.825, 114.955


def m_lng(lat=BASE_LAT):
    import math

    return M_LAT / math.cos(math.radians(lat))


def make_issue(place, *, created_at=NOW, **fields) -> Issue:
    """Create an issue directly (no workflow) at the grid or building `place`, created at `created_at`."""
    grid = place if place.level == "grid" else place.parent
    building = place if place.level == "building" else None
    codes = place.path.split("/")
    defaults = {
        "number": f"GD-T-{next(_numbers):06d}",
        "description": "楼道堆放杂物，影响通行",
        "grid": grid,
        "building": building,
        "area_path": place.path,
        "district_code": codes[0],
        "street_code": codes[1],
        "community_code": codes[2],
        "grid_code": grid.code,
        "building_code": building.code if building else "",
    }
    defaults.update(fields)
    # created_at is auto_now_add: pin the clock so each issue is created when the test says.
    with mock.patch("django.utils.timezone.now", return_value=created_at):
        return Issue.objects.create(**defaults)


# --- issue_list_for_user ------------------------------------------------------------------------------------------


def test_list_shows_each_actor_only_their_scope(
    territory, other_territory, resident, community_staff, other_community_staff, chengguan, chengguan_staff
):
    mine = make_issue(territory["grid"], reporter_user=resident)
    dispatched = make_issue(territory["building"], status=Issue.Status.DISPATCHED)
    Dispatch.objects.create(issue=dispatched, department=chengguan, lead=True)
    elsewhere = make_issue(other_territory["grid"])

    assert set(issue_list_for_user(user=resident)) == {mine}
    assert set(issue_list_for_user(user=community_staff)) == {mine, dispatched}
    assert set(issue_list_for_user(user=other_community_staff)) == {elsewhere}
    assert set(issue_list_for_user(user=chengguan_staff)) == {dispatched}


def _serialize_like_the_api(issues):
    """Serialize as the API does, reading every relation the representation reads."""
    return IssueSerializer(issues, many=True).data


def _add_issues(n, *, territory, category, chengguan, shuiwu, resident):
    for _ in range(n):
        issue = make_issue(territory["building"], category=category, reporter_user=resident, status="resolved")
        Dispatch.objects.create(issue=issue, department=chengguan, lead=True, status="accepted")
        Dispatch.objects.create(issue=issue, department=shuiwu, lead=False)
        Photo.objects.create(issue=issue, image="x.jpg", format="JPEG", width=1, height=1, size=1)
        Rating.objects.create(issue=issue, score=2, rated_by=resident)


@pytest.mark.parametrize("actor", ["community_staff", "chengguan_staff"])
def test_list_serializes_any_number_of_issues_in_six_queries(
    request, actor, territory, category, chengguan, shuiwu, resident, settings
):
    settings.GRIDDESK_AUTH_CACHE_SECONDS = 0  # the scope is read in each request, as without orgs.auth_cache
    user = request.getfixturevalue(actor)
    counts = []
    for batch in (2, 6):
        _add_issues(
            batch, territory=territory, category=category, chengguan=chengguan, shuiwu=shuiwu, resident=resident
        )
        user = type(user).objects.get(pk=user.pk)  # a fresh user: its scope is read again, as in a new request
        with CaptureQueriesContext(connection) as ctx:
            rows = _serialize_like_the_api(issue_list_for_user(user=user))
        assert len(rows) == (2 if batch == 2 else 8)
        counts.append(len(ctx.captured_queries))
    # The scope (memberships, partner app), the issues with their joins, then dispatches, photos and ratings.
    assert counts == [6, 6]


def test_list_query_joins_only_the_category(territory, category, community_staff):
    # Each further join (grid, building, reporter, duplicate) made PostgreSQL plan a 7-table query on every page.
    make_issue(territory["building"], category=category)
    with CaptureQueriesContext(connection) as ctx:
        rows = list(issue_list_for_user(user=community_staff))
    assert len(rows) == 1
    issue_queries = [q["sql"] for q in ctx.captured_queries if q["sql"].startswith('SELECT "issues_issue"."id"')]
    assert len(issue_queries) == 1
    assert issue_queries[0].count(" JOIN ") == 1
    assert 'JOIN "issues_category"' in issue_queries[0]


# --- issue_get_for_user -------------------------------------------------------------------------------------------


def test_get_returns_a_visible_issue_with_its_events(territory, community_staff):
    issue = make_issue(territory["grid"])
    Event.objects.create(issue=issue, actor=None, action="submit", to_status="submitted")
    got = issue_get_for_user(user=community_staff, issue_id=str(issue.pk))
    assert got == issue
    with CaptureQueriesContext(connection) as ctx:
        assert [e.action for e in got.events.all()] == ["submit"]
    assert len(ctx.captured_queries) == 0


@pytest.mark.parametrize("issue_id", ["not-a-uuid", "0d48b333-dcee-414f-97c4-fc5808f2375e", "", None])
def test_get_answers_not_found_for_a_missing_or_malformed_id(territory, community_staff, issue_id):
    make_issue(territory["grid"])
    with pytest.raises(NotFound) as exc:
        issue_get_for_user(user=community_staff, issue_id=issue_id)
    assert exc.value.code == "not_found"


def test_get_answers_not_found_outside_the_scope(territory, other_community_staff, resident):
    issue = make_issue(territory["grid"], reporter_user=resident)
    with pytest.raises(NotFound):
        issue_get_for_user(user=other_community_staff, issue_id=issue.pk)


# --- issue_likely_duplicates --------------------------------------------------------------------------------------


@pytest.fixture
def near(territory, category):
    """Return a factory of open issues of `category` at (north, east) metres from the base point."""

    def make(north=0.0, east=0.0, **fields):
        fields.setdefault("category", category)
        fields.setdefault("status", Issue.Status.CLASSIFIED)
        return make_issue(territory["grid"], lat=BASE_LAT + north * M_LAT, lng=BASE_LNG + east * m_lng(), **fields)

    return make


def test_duplicates_are_open_same_category_recent_and_within_the_radius_nearest_first(near, territory):
    issue = near(0, 0, status=Issue.Status.SUBMITTED)
    far_in_box = near(80, 80)  # inside the lat/lng box but 113 m away: the exact distance excludes it
    at_90_east = near(0, 90)
    at_30_north = near(30, 0)
    near(150, 0)  # outside the box
    near(10, 0, category=CategoryFactory(code="other"))  # another category
    near(10, 0, status=Issue.Status.CLOSED)
    near(10, 0, status=Issue.Status.REJECTED)
    near(10, 0, created_at=NOW - timedelta(days=15))  # older than the 14-day window
    in_window = near(50, 0, created_at=NOW - timedelta(days=13))

    found = list(issue_likely_duplicates(issue=issue, now=NOW))

    assert found == [at_30_north, in_window, at_90_east]
    assert far_in_box not in found
    assert [round(d.distance_m) for d in found] == [30, 50, 90]


def test_duplicates_of_an_issue_without_coordinates_use_its_building(near, territory, category):
    building = territory["building"]  # at (25.825, 114.955), the base point
    issue = make_issue(building, category=category, status=Issue.Status.CLASSIFIED)
    at_40 = near(40, 0)
    also_at_building = make_issue(building, category=category, status=Issue.Status.DISPATCHED)

    assert list(issue_likely_duplicates(issue=issue, now=NOW)) == [also_at_building, at_40]


def test_an_unclassified_issue_matches_every_category_and_one_without_a_place_has_none(near, territory):
    issue = near(0, 0, category=None, status=Issue.Status.SUBMITTED)
    other = near(20, 0, category=CategoryFactory(code="water"))
    assert list(issue_likely_duplicates(issue=issue, now=NOW)) == [other]

    nowhere = make_issue(territory["grid"], lat=None, lng=None)
    assert list(issue_likely_duplicates(issue=nowhere, now=NOW)) == []


def test_duplicates_for_user_leave_out_what_the_user_cannot_see(near, territory, resident, other_resident):
    issue = near(0, 0, reporter_user=resident)
    own = near(10, 0, reporter_user=resident)
    near(5, 0, reporter_user=other_resident)
    assert list(issue_likely_duplicates_for_user(user=resident, issue=issue, now=NOW)) == [own]
