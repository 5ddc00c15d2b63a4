"""`GET /api/v1/stats/report/`: the statistics page's report as JSON, scoped and checked as `/api/v1/stats/` is."""

from http import HTTPStatus

import pytest
from django.utils import timezone

from issues.stats_report import stats_report
from tests.api.test_issues_support import client_for

pytestmark = pytest.mark.django_db

REPORT = "/api/v1/stats/report/"


def test_staff_get_the_pages_report_as_json(community_staff, territory, make):
    make("closed")
    make("dispatched")
    today = timezone.localdate()
    response = client_for(community_staff).get(REPORT, {"area": territory["community"].code})
    assert response.status_code == HTTPStatus.OK
    body = response.json()
    expected = stats_report(area=territory["community"], date_from=today.replace(day=1), date_to=today)
    assert body["total"] == expected["total"] == 2
    assert body["date_from"] == today.replace(day=1).isoformat() and body["date_to"] == today.isoformat()
    assert body["trend"] == [{**week, "week": week["week"].isoformat()} for week in expected["trend"]]
    assert body["deltas"] == expected["deltas"]
    assert [d["code"] for d in body["departments"]] == ["chengguan"]
    assert body["rankings"]["response_rate"]["areas"][0]["code"] == territory["grid"].code
    assert body["previous"]["total"] == 0


def test_the_period_is_the_callers_when_given(community_staff, territory, make):
    make("closed")
    response = client_for(community_staff).get(
        REPORT, {"area": territory["community"].code, "from": "2020-01-01", "to": "2020-01-14"}
    )
    body = response.json()
    assert (body["total"], body["previous"]["date_from"], body["previous"]["date_to"]) == (
        0,
        "2019-12-18",
        "2019-12-31",
    )
    assert [week["week"] for week in body["trend"]] == ["2019-12-30", "2020-01-06", "2020-01-13"]


def test_out_of_scope_is_404_and_residents_are_403(community_staff, resident, other_territory, territory):
    assert client_for(community_staff).get(REPORT, {"area": other_territory["community"].code}).status_code == 404
    assert client_for(resident).get(REPORT, {"area": territory["community"].code}).status_code == 403
    assert client_for().get(REPORT, {"area": territory["community"].code}).status_code == 401


def test_a_bad_period_is_400_with_the_query_word(community_staff, territory):
    response = client_for(community_staff).get(
        REPORT, {"area": territory["community"].code, "from": "2026-11-20", "to": "2026-11-01"}
    )
    assert response.status_code == HTTPStatus.BAD_REQUEST
    assert "from" in str(response.json())
