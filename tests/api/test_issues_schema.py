"""The OpenAPI schema describes every issue endpoint: its body, its answer and its errors."""

from http import HTTPStatus

import pytest

from tests.api.test_issues_support import client_for

ACTIONS = [
    "classify",
    "dispatch",
    "accept",
    "return",
    "resolve",
    "rate",
    "reopen",
    "reject",
    "escalate",
    "extend",
    "approve_extension",
    "comment",
]
DETAIL = "/api/v1/issues/{id}/"


@pytest.fixture(scope="module")
def schema(django_db_blocker):
    with django_db_blocker.unblock():
        response = client_for().get("/api/schema/", {"format": "json"})
    assert response.status_code == HTTPStatus.OK
    return response.json()


def error_ref(operation, status) -> str:
    return operation["responses"][str(status)]["content"]["application/json"]["schema"]["$ref"]


@pytest.mark.parametrize("action", ACTIONS)
def test_each_action_has_its_body_the_issue_and_the_conflict_errors(schema, action):
    operation = schema["paths"][f"{DETAIL}{action}/"]["post"]

    assert "application/json" in operation["requestBody"]["content"]
    assert operation["responses"]["200"]["content"]["application/json"]["schema"]["$ref"].endswith("/Issue")
    for status in (400, 403, 404, 409):
        assert error_ref(operation, status).endswith("/ErrorResponse")


def test_submit_takes_json_and_multipart_and_documents_the_idempotency_key(schema):
    operation = schema["paths"]["/api/v1/issues/"]["post"]

    assert set(operation["requestBody"]["content"]) >= {"application/json", "multipart/form-data"}
    assert "Idempotency-Key" in [p["name"] for p in operation["parameters"] if p["in"] == "header"]
    assert error_ref(operation, 422).endswith("/ErrorResponse")
    assert "201" in operation["responses"]


def test_list_documents_cursor_pagination_and_the_filters(schema):
    names = {p["name"] for p in schema["paths"]["/api/v1/issues/"]["get"]["parameters"]}

    assert names >= {"cursor", "page_size", "status", "area", "q", "ordering", "overdue", "urgent"}


def test_issue_detail_lists_events_and_stats_their_figures(schema):
    detail = schema["components"]["schemas"]["IssueDetail"]["properties"]
    stats = schema["paths"]["/api/v1/stats/"]["get"]

    assert "events" in detail
    assert {p["name"] for p in stats["parameters"]} >= {"area", "from", "to"}
