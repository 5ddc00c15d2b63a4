"""The whole life of an issue through the API, with seed_demo's accounts signing in with tokens as clients do."""

from http import HTTPStatus

import pytest
from django.conf import settings
from django.core.cache import cache
from django.core.management import call_command
from rest_framework.test import APIClient
from shapely.geometry import shape

from grids.models import Area
from orgs.models import Membership
from tests.api.test_issues_support import DESCRIPTION, png_file


@pytest.fixture
def demo(db, settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path
    call_command("seed_demo", verbosity=0)
    cache.clear()  # throttle counters and axes start from zero


def signed_in(username: str) -> APIClient:
    """Return a client holding the token that POST /api/v1/auth/token/ gave `username`."""
    client = APIClient()
    response = client.post(
        "/api/v1/auth/token/", {"username": username, "password": settings.DEMO_PASSWORD}, format="json"
    )
    assert response.status_code == HTTPStatus.OK, response.content
    client.credentials(HTTP_AUTHORIZATION=f"Token {response.json()['token']}")
    return client


def test_resident_report_is_classified_dispatched_accepted_resolved_rated_and_closed(demo):
    grid = Membership.objects.select_related("area").get(user__username="grid1").area
    point = shape(grid.boundary).representative_point()
    resident1, community1, dept_cg1 = signed_in("resident1"), signed_in("community1"), signed_in("dept_cg1")

    submitted = resident1.post(
        "/api/v1/issues/",
        {
            "description": DESCRIPTION,
            "title": "楼道堆物",
            "location.lat": str(point.y),
            "location.lng": str(point.x),
            "reporter.name": "刘洋",
            "reporter.phone": "13812345678",
            "photos": [png_file()],
        },
        format="multipart",
    )
    assert submitted.status_code == HTTPStatus.CREATED, submitted.content
    issue = submitted.json()
    url = f"/api/v1/issues/{issue['id']}/"
    assert issue["status"] == "submitted"
    assert issue["area"]["grid"] == grid.code
    assert issue["area"]["community"] == "360702091005"
    assert len(issue["photos"]) == 1

    steps = [
        (community1, "classify", {"category": "stairwell-clutter", "version": issue["version"]}, "classified"),
        (
            community1,
            "dispatch",
            {"departments": ["chengguan"], "lead": "chengguan", "note": "请城管处理"},
            "dispatched",
        ),
        (dept_cg1, "accept", {}, "in_progress"),
        (dept_cg1, "resolve", {"note": "杂物已清走"}, "resolved"),
        (resident1, "rate", {"score": 5, "comment": "很及时"}, "closed"),
    ]
    for client, action, body, status in steps:
        response = client.post(f"{url}{action}/", body, format="json")
        assert response.status_code == HTTPStatus.OK, (action, response.content)
        assert response.json()["status"] == status

    detail = resident1.get(url).json()
    assert detail["status"] == "closed"
    assert detail["rating"] == 5
    assert detail["category"]["code"] == "stairwell-clutter"
    assert detail["dispatches"] == [{"department": "chengguan", "lead": True, "status": "accepted"}]
    assert detail["response_due_at"] is not None and detail["resolution_due_at"] is not None
    story = [(e["actor"], e["action"], e["from_status"], e["to_status"]) for e in detail["events"]]
    assert story == [
        ("resident1", "submit", "", "submitted"),
        ("community1", "classify", "submitted", "classified"),
        ("community1", "dispatch", "classified", "dispatched"),
        ("dept_cg1", "accept", "dispatched", "in_progress"),
        ("dept_cg1", "resolve", "in_progress", "resolved"),
        ("resident1", "rate", "resolved", "closed"),
    ]
    assert [e["note"] for e in detail["events"]][-2:] == ["杂物已清走", "很及时"]
    assert detail["events"] == sorted(detail["events"], key=lambda e: e["at"])


def test_staff_of_another_community_and_department_cannot_find_the_demo_issue(demo):
    resident1 = signed_in("resident1")
    grid = Area.objects.get(memberships__user__username="grid1")
    issue = resident1.post("/api/v1/issues/", {"description": DESCRIPTION, "grid": grid.code}, format="json").json()

    for username in ("community2", "dept_sw1", "resident2"):
        response = signed_in(username).get(f"/api/v1/issues/{issue['id']}/")
        assert response.status_code == HTTPStatus.NOT_FOUND, username
    assert signed_in("street1").get(f"/api/v1/issues/{issue['id']}/").status_code == HTTPStatus.OK
