"""GET /api/v1/issues/<id>/duplicates/: likely duplicates for triage, scoped like everything else."""

from http import HTTPStatus

import pytest
from rest_framework.test import APIClient

from issues import workflow
from tests.factories import issue_in_status

pytestmark = pytest.mark.django_db


def _client(user):
    client = APIClient()
    client.force_authenticate(user)
    return client


@pytest.fixture
def stairwell_reports(territory, resident, other_resident, community_staff, category):
    """Return (first, second, far): two reports about 30 m apart and a third about 800 m away, all classified."""
    here = dict(reporter=resident, place=territory["grid"], triage=community_staff, category=category)
    first = issue_in_status("classified", lat=25.8250, lng=114.9550, **here)
    second = issue_in_status("classified", **{**here, "reporter": other_resident}, lat=25.8252, lng=114.9552)
    far = issue_in_status("classified", lat=25.8290, lng=114.9590, **here)
    return first, second, far


def test_triage_sees_the_nearby_report_with_its_distance(stairwell_reports, community_staff):
    first, second, far = stairwell_reports
    answer = _client(community_staff).get(f"/api/v1/issues/{first.pk}/duplicates/")
    assert answer.status_code == HTTPStatus.OK
    assert [row["id"] for row in answer.json()] == [str(second.pk)]
    assert 20 < answer.json()[0]["distance_m"] < 40


def test_a_rejected_duplicate_is_no_longer_a_candidate(stairwell_reports, community_staff):
    first, second, _ = stairwell_reports
    workflow.issue_reject(issue=second, actor=community_staff, reason="duplicate", duplicate_of=first)
    answer = _client(community_staff).get(f"/api/v1/issues/{first.pk}/duplicates/")
    assert answer.json() == []


def test_residents_are_refused_and_other_communities_do_not_see_it(stairwell_reports, resident, other_community_staff):
    first, _, _ = stairwell_reports
    refused = _client(resident).get(f"/api/v1/issues/{first.pk}/duplicates/")
    assert refused.status_code == HTTPStatus.FORBIDDEN
    assert refused.json()["error"]["code"] == "permission_denied"
    hidden = _client(other_community_staff).get(f"/api/v1/issues/{first.pk}/duplicates/")
    assert hidden.status_code == HTTPStatus.NOT_FOUND
    assert hidden.json()["error"]["code"] == "not_found"


def test_the_query_count_does_not_grow_with_the_candidates(
    stairwell_reports, territory, resident, community_staff, category, django_assert_max_num_queries
):
    first, _, _ = stairwell_reports
    client = _client(community_staff)
    with django_assert_max_num_queries(12) as one:
        client.get(f"/api/v1/issues/{first.pk}/duplicates/")
    for _ in range(4):
        issue_in_status(
            "classified",
            reporter=resident,
            place=territory["grid"],
            triage=community_staff,
            category=category,
            lat=25.8251,
            lng=114.9551,
        )
    with django_assert_max_num_queries(len(one.captured_queries)):
        assert len(client.get(f"/api/v1/issues/{first.pk}/duplicates/").json()) == 5
