"""GET /api/v1/issues/?created_after=…&created_before=…: offsets and years the database cannot compare are a 400."""

from datetime import UTC, timedelta, timezone
from http import HTTPStatus

import pytest

from issues import workflow
from tests.api.test_issues_support import DESCRIPTION, client_for, error_code

ISSUES = "/api/v1/issues/"


@pytest.fixture
def issue(resident, territory):
    return workflow.issue_submit(actor=resident, description=DESCRIPTION, grid=territory["grid"])


def ids(response) -> set[str]:
    assert response.status_code == HTTPStatus.OK, response.content
    return {r["id"] for r in response.json()["results"]}


@pytest.mark.parametrize("field", ["created_after", "created_before"])
@pytest.mark.parametrize(
    "value",
    [
        "2026-01-01T00:00:00+16:00",  # PostgreSQL takes offsets up to ±15:59 only
        "2026-01-01T00:00:00-16:00",
        "1447-03-19T11:19:50+17:44",
        "0041-11-13T17:26:51-17:33",
        "0001-01-01T00:00:00+01:00",  # before year 1 in UTC
        "0001-01-01",  # local (Asia/Shanghai) midnight is still year 0 in UTC
        "9999-12-31T23:00:00-05:00",  # year 10000 in UTC
    ],
)
def test_a_created_bound_out_of_the_database_range_is_400_naming_it(issue, community_staff, field, value):
    response = client_for(community_staff).get(ISSUES, {field: value})

    assert response.status_code == HTTPStatus.BAD_REQUEST, response.content
    assert error_code(response) == "validation_error"
    assert list(response.json()["error"]["fields"]) == [field]


def test_the_extreme_offsets_and_years_the_database_takes_still_filter(issue, community_staff):
    client = client_for(community_staff)

    assert ids(client.get(ISSUES, {"created_after": "0001-01-01T00:00:00Z"})) == {str(issue.pk)}
    assert ids(client.get(ISSUES, {"created_after": "0001-01-01T15:59:00+15:59"})) == {str(issue.pk)}
    assert ids(client.get(ISSUES, {"created_before": "9999-12-31T23:59:59Z"})) == {str(issue.pk)}
    assert ids(client.get(ISSUES, {"created_before": "9999-12-31T08:00:00-15:59"})) == {str(issue.pk)}
    assert ids(client.get(ISSUES, {"created_after": "9999-12-31T00:00:00+15:59"})) == set()


@pytest.mark.parametrize("offset", [timedelta(hours=15, minutes=59), timedelta(hours=-15, minutes=-59)])
def test_a_far_offset_means_the_same_moment(issue, community_staff, offset):
    client = client_for(community_staff)
    created = issue.created_at.astimezone(timezone(offset)).isoformat()
    assert created[-6:] in ("+15:59", "-15:59")

    assert ids(client.get(ISSUES, {"created_after": created})) == {str(issue.pk)}  # inclusive
    assert ids(client.get(ISSUES, {"created_before": created})) == set()  # exclusive
    just_after = (issue.created_at + timedelta(microseconds=1)).astimezone(UTC).isoformat()
    assert ids(client.get(ISSUES, {"created_before": just_after})) == {str(issue.pk)}
