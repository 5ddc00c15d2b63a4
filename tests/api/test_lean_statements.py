"""The lean list and detail run SQL compiled once per shape (issues.api.lean.Statement): one query each, no ORM work
after the first request of a shape, and a caller's changed scope is a new shape (tests/api/test_lean.py compares
the answers with the serializers' byte for byte)."""

from http import HTTPStatus

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from config import compiled as compiled_module
from issues.api import lean
from orgs.models import Membership, Role
from tests.api.test_lean import token_client
from tests.factories import issue_in_status, member

pytestmark = pytest.mark.django_db


@pytest.fixture
def issues(territory, resident, community_staff, chengguan_staff, category):
    common = {"triage": community_staff, "category": category, "handler": chengguan_staff, "reporter": resident}
    return [issue_in_status(status, place=territory["grid"], **common) for status in ("closed", "dispatched")] + [
        issue_in_status("submitted", place=territory["grid"], reporter=resident) for _ in range(3)
    ]


@pytest.fixture
def compiled(monkeypatch):
    """Count the statements compiled, starting from none kept."""
    monkeypatch.setattr(lean.Statement, "_kept", type(lean.Statement._kept)())
    shapes = []
    original = lean.Statement.__init__

    def compile_(self, alias, build, placeholder):
        shapes.append(placeholder)
        original(self, alias, build, placeholder)

    monkeypatch.setattr(lean.Statement, "__init__", compile_)
    return shapes


def _get(client, url):
    with CaptureQueriesContext(connection) as queries:
        response = client.get(url)
    assert response.status_code == HTTPStatus.OK, response.content
    return response, queries


def test_a_detail_is_one_query_with_its_events(issues, community_staff):
    client = token_client(community_staff)
    closed = issues[0]
    client.get(f"/api/v1/issues/{closed.pk}/")

    response, queries = _get(client, f"/api/v1/issues/{closed.pk}/")

    assert len(queries) == 1
    assert [e["action"] for e in response.json()["events"]][:2] == ["submit", "classify"]


def test_each_shape_is_compiled_once_and_run_with_each_requests_values(issues, community_staff, compiled):
    client = token_client(community_staff)
    first, _ = _get(client, "/api/v1/issues/?page_size=2")
    _get(client, "/api/v1/issues/?page_size=2")
    assert len(compiled) == 1  # the first page: no placeholder

    second, _ = _get(client, first.json()["next"])
    third, _ = _get(client, second.json()["next"])
    assert len(compiled) == 2  # a page after a position: one statement for every position
    ids = [row["id"] for page in (first, second, third) for row in page.json()["results"]]
    assert ids == [str(i.pk) for i in sorted(issues, key=lambda i: (i.created_at, i.pk), reverse=True)]

    for issue in issues:
        response, _ = _get(client, f"/api/v1/issues/{issue.pk}/")
        assert response.json()["id"] == str(issue.pk)
    assert len(compiled) == 3  # one detail statement for every issue


def test_a_changed_scope_is_a_new_statement(issues, community_staff, territory, compiled):
    client = token_client(community_staff)
    closed = issues[0]
    assert len(_get(client, "/api/v1/issues/?page_size=100")[0].json()["results"]) == len(issues)
    _get(client, f"/api/v1/issues/{closed.pk}/")

    Membership.objects.filter(user=community_staff).delete()

    assert _get(client, "/api/v1/issues/?page_size=100")[0].json()["results"] == []
    assert client.get(f"/api/v1/issues/{closed.pk}/").status_code == HTTPStatus.NOT_FOUND
    member(community_staff, Role.COMMUNITY_STAFF, area=territory["community"])
    assert len(_get(client, "/api/v1/issues/?page_size=100")[0].json()["results"]) == len(issues)
    assert len(compiled) == 4  # list and detail, for each of the two scopes


def test_statements_kept_are_bounded(issues, community_staff, monkeypatch, compiled):
    monkeypatch.setattr(lean, "STATEMENTS_KEPT", 2)
    client = token_client(community_staff)
    for size in (1, 2, 3, 1):
        _get(client, f"/api/v1/issues/?page_size={size}")

    assert len(lean.Statement._kept) == 2
    assert len(compiled) == 4  # page_size=1 was dropped by then, and compiled again


postgresql_only = pytest.mark.skipif(connection.vendor != "postgresql", reason="prepared statements: PostgreSQL")


@postgresql_only
def test_on_postgresql_a_statement_is_prepared_once_per_connection_with_its_first_run(
    issues, community_staff, compiled
):
    client = token_client(community_staff)
    client.get("/api/v1/issues/")  # the token and scope remembered
    url = f"/api/v1/issues/{issues[0].pk}/"

    first, prepared = _get(client, url)
    second, executed = _get(client, url)

    statement = list(lean.Statement._kept.values())[-1]  # the detail's (after the list's)
    assert len(prepared) == 1  # PREPARE and EXECUTE in one round trip
    assert prepared.captured_queries[0]["sql"].startswith(f"PREPARE {statement.name} AS SELECT ")
    assert prepared.captured_queries[0]["sql"].endswith(f"EXECUTE {statement.name}('{issues[0].pk}'::uuid)")
    assert len(executed) == 1 and executed.captured_queries[0]["sql"].startswith("EXECUTE griddesk_lean_")
    assert first.content == second.content


@postgresql_only
@pytest.mark.django_db(transaction=True)
def test_on_postgresql_a_new_connection_prepares_its_statements_again(issues, community_staff, compiled):
    client = token_client(community_staff)
    url = "/api/v1/issues/?page_size=2"
    before = client.get(url).content
    client.get(url)

    connection.close()  # CONN_MAX_AGE, or a failed health check: a new session, without the statements

    again, queries = _get(client, url)
    assert again.content == before
    # The new session's first batch: the plan setting's catalog read (config.compiled), then PREPARE and EXECUTE.
    first_batch = queries.captured_queries[-1]["sql"]
    assert first_batch.startswith(f"{compiled_module.GENERIC_PLANS_WHEN_PARTITIONED}; PREPARE griddesk_lean_")
