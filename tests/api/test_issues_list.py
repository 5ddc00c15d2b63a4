"""GET /api/v1/issues/: scoped, cursor-paginated, filtered, in a constant number of queries."""

import uuid
from datetime import timedelta
from http import HTTPStatus

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from issues import workflow
from issues.models import Issue, Photo
from tests.api.test_issues_support import DESCRIPTION, client_for, error_code, issue_in

ISSUES = "/api/v1/issues/"


def submit(reporter, territory, n=1, **kwargs) -> list[Issue]:
    return [
        workflow.issue_submit(actor=reporter, description=f"{DESCRIPTION} {i}", grid=territory["grid"], **kwargs)
        for i in range(n)
    ]


def all_pages(client, params) -> list[dict]:
    """Follow `next` links from the first page; return every result in order."""
    results, url = [], ISSUES
    while url:
        page = client.get(url, params if url == ISSUES else None).json()
        results += page["results"]
        url = page["next"]
    return results


@pytest.fixture
def rich_issues(territory, resident, community_staff, chengguan, shuiwu, chengguan_staff, category):
    """Return 101 issues, some with joint dispatches, ratings and photos (what the serializer reads).

    The plain submitted ones are copies of one that issues.workflow submitted (only the number differs):
    the list reads no event, and 97 workflow calls would cost seconds of a shared test budget.
    """
    template = submit(resident, territory)[0]
    issues = [template]
    for i in range(96):
        copy = Issue.objects.get(pk=template.pk)
        copy.pk, copy.number = uuid.uuid4(), f"{template.number}-{i}"
        issues.append(copy)
    Issue.objects.bulk_create(issues[1:])
    for _ in range(3):
        issue = issue_in(
            "closed",
            reporter=resident,
            territory=territory,
            community_staff=community_staff,
            department=chengguan,
            department_staff=chengguan_staff,
            category=category,
        )
        Photo.objects.create(issue=issue, image="issues/x.png", format="PNG", width=1, height=1, size=1)
        issues.append(issue)
    joint = workflow.issue_submit(actor=resident, description=DESCRIPTION, grid=territory["grid"])
    workflow.issue_classify(issue=joint, actor=community_staff, category=category)
    workflow.issue_dispatch(issue=joint, actor=community_staff, departments=[chengguan, shuiwu], lead=chengguan)
    return [*issues, joint]


def test_list_takes_the_same_number_of_queries_for_1_and_100_results(
    rich_issues, community_staff, chengguan_staff, resident, django_assert_max_num_queries
):
    # One build of the 101 issues serves the three kinds of scope: a node, a department, a reporter.
    for user in (community_staff, chengguan_staff, resident):
        visible = Issue.objects.visible_to(user).count()
        client = client_for(user)
        counts = {}
        for size in (1, 100):
            with django_assert_max_num_queries(6), CaptureQueriesContext(connection) as queries:
                response = client.get(ISSUES, {"page_size": size})
            assert response.status_code == HTTPStatus.OK
            assert len(response.json()["results"]) == min(size, visible)
            counts[size] = len(queries)
        assert counts[1] == counts[100], user.username

    capped = client_for(community_staff).get(ISSUES, {"page_size": 1000}).json()
    assert len(capped["results"]) == 100
    assert capped["next"] is not None


def test_cursor_pages_cover_every_issue_once_newest_first(territory, resident):
    created = submit(resident, territory, n=5)
    client = client_for(resident)

    results = all_pages(client, {"page_size": 2})

    assert [r["id"] for r in results] == [str(i.pk) for i in reversed(created)]
    second = client.get(client.get(ISSUES, {"page_size": 2}).json()["next"]).json()
    back = client.get(second["previous"]).json()
    assert [r["id"] for r in back["results"]] == [str(i.pk) for i in reversed(created)][:2]


def test_ordering_by_resolution_deadline_pages_through_issues_without_one_last(
    territory, resident, community_staff, category
):
    undated = submit(resident, territory, n=2)
    dated = submit(resident, territory, n=3)
    for days, issue in zip((3, 1, 2), dated, strict=True):
        issue = workflow.issue_classify(issue=issue, actor=community_staff, category=category)
        Issue.objects.filter(pk=issue.pk).update(resolution_due_at=timezone.now() + timedelta(days=days))
    expected_dated = [str(dated[i].pk) for i in (1, 2, 0)]

    ascending = all_pages(client_for(resident), {"ordering": "resolution_due_at", "page_size": 2})
    descending = all_pages(client_for(resident), {"ordering": "-resolution_due_at", "page_size": 2})

    assert [r["id"] for r in ascending][:3] == expected_dated
    assert {r["id"] for r in ascending[3:]} == {str(i.pk) for i in undated}
    assert [r["id"] for r in descending][:3] == expected_dated[::-1]
    assert {r["id"] for r in descending[3:]} == {str(i.pk) for i in undated}


def test_oldest_first_ordering(territory, resident):
    created = submit(resident, territory, n=3)

    results = all_pages(client_for(resident), {"ordering": "created_at", "page_size": 2})

    assert [r["id"] for r in results] == [str(i.pk) for i in created]


@pytest.mark.parametrize("cursor", ["not-base64!", "cD1ub3QtYS1kYXRl"])  # the second decodes to p=not-a-date
def test_a_forged_cursor_is_400_validation_error_on_cursor(territory, resident, cursor):
    submit(resident, territory)

    response = client_for(resident).get(ISSUES, {"cursor": cursor})

    assert response.status_code == HTTPStatus.BAD_REQUEST
    assert error_code(response) == "validation_error"
    assert list(response.json()["error"]["fields"]) == ["cursor"]


# --- Filters (IssueFilterSet, shared with the pages) -----------------------------------------------------------------


@pytest.fixture
def spread(
    territory, other_territory, resident, community_staff, other_community_staff, chengguan, chengguan_staff, category
):
    """Return issues in several states and places, all visible to a street officer."""
    common = {
        "reporter": resident,
        "community_staff": community_staff,
        "department": chengguan,
        "department_staff": chengguan_staff,
        "category": category,
    }
    issues = {
        "submitted": issue_in("submitted", territory=territory, **common),
        "dispatched": issue_in("dispatched", territory=territory, **common),
        "in_progress": issue_in("in_progress", territory=territory, **common),
    }
    issues["elsewhere"] = workflow.issue_submit(
        actor=resident, description="路灯不亮，晚上很黑", grid=other_territory["grid"], urgent=True, kind="suggestion"
    )
    return issues


def ids(response) -> set[str]:
    assert response.status_code == HTTPStatus.OK, response.content
    return {r["id"] for r in response.json()["results"]}


def test_filters_narrow_the_scoped_list(spread, street_officer, other_territory, category):
    client = client_for(street_officer)
    pk = {name: str(issue.pk) for name, issue in spread.items()}

    assert ids(client.get(ISSUES, {"status": "dispatched,in_progress"})) == {pk["dispatched"], pk["in_progress"]}
    assert ids(client.get(ISSUES, {"area": other_territory["community"].code})) == {pk["elsewhere"]}
    assert ids(client.get(ISSUES, {"urgent": "true"})) == {pk["elsewhere"]}
    assert ids(client.get(ISSUES, {"kind": "suggestion"})) == {pk["elsewhere"]}
    assert ids(client.get(ISSUES, {"q": "路灯"})) == {pk["elsewhere"]}
    assert ids(client.get(ISSUES, {"category": category.code})) == {pk["dispatched"], pk["in_progress"]}
    assert ids(client.get(ISSUES, {"created_after": "2000-01-01", "status": "submitted"})) == {
        pk["submitted"],
        pk["elsewhere"],
    }


def test_filters_never_widen_the_scope(spread, community_staff, other_territory):
    client = client_for(community_staff)

    assert ids(client.get(ISSUES, {"area": other_territory["community"].code})) == set()


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"status": "lost"}, "status"),
        ({"ordering": "number"}, "ordering"),
        ({"created_after": "yesterday"}, "created_after"),
    ],
)
def test_a_bad_filter_value_is_400_naming_it(spread, street_officer, params, field):
    response = client_for(street_officer).get(ISSUES, params)

    assert response.status_code == HTTPStatus.BAD_REQUEST
    assert error_code(response) == "validation_error"
    assert field in response.json()["error"]["fields"]
