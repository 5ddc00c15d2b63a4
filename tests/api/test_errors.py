"""Every error of API.md's table, produced by a real request, answers `{"error": {"code", "message", "fields"?}}`."""

import json
from http import HTTPStatus
from unittest import mock

import pytest
from django.core.exceptions import RequestDataTooBig
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import RequestFactory, override_settings
from rest_framework.test import APIClient

from config.api.exceptions import api_exception_handler, handler404, handler500
from config.errors import StaleVersion
from issues.models import Event, Issue
from tests.factories import issue_in_status, issue_state


def assert_error(response, status: int, code: str, fields: dict | None = None) -> dict:
    """Assert `response` is API.md's error body with `status` and `code` (and exactly `fields`, when given)."""
    assert response.status_code == status, response.content
    assert response["Content-Type"].startswith("application/json")
    body = json.loads(response.content)
    assert list(body) == ["error"]
    error = body["error"]
    assert error["code"] == code
    assert isinstance(error["message"], str) and error["message"]
    assert set(error) <= {"code", "message", "fields"}
    if fields is not None:
        assert error["fields"] == fields
    return error


@pytest.fixture
def client():
    return APIClient()


@pytest.fixture
def submitted(resident, territory):
    return issue_in_status("submitted", reporter=resident, place=territory["grid"])


def test_missing_fields_answer_validation_error_naming_each_field(client, db):
    response = client.post("/api/v1/auth/token/", {"username": "someone"}, format="json")

    error = assert_error(response, HTTPStatus.BAD_REQUEST, "validation_error")
    assert list(error["fields"]) == ["password"]
    assert len(error["fields"]["password"]) == 1


def test_nested_validation_errors_are_named_with_dots(client, resident, territory):
    client.force_authenticate(resident)

    response = client.post(
        "/api/v1/issues/", {"description": "Boxes block the stairwell.", "location": {"lat": "north"}}, format="json"
    )

    error = assert_error(response, HTTPStatus.BAD_REQUEST, "validation_error")
    assert any(name.startswith("location") for name in error["fields"])
    assert Issue.objects.count() == 0


@pytest.mark.parametrize(
    "body",
    [b'{"username": "a",', b"username=a&password=b", b'{"username": "\xff\xfe"}', b'{"username": NaN}'],
    ids=["truncated", "form-encoded", "not-utf8", "nan"],
)
def test_body_that_is_not_json_answers_malformed_json(client, db, body):
    response = client.post("/api/v1/auth/token/", body, content_type="application/json")

    assert_error(response, HTTPStatus.BAD_REQUEST, "malformed_json")


def test_missing_credentials_answer_not_authenticated_with_a_challenge(client, db):
    response = client.get("/api/v1/issues/")

    assert_error(response, HTTPStatus.UNAUTHORIZED, "not_authenticated")
    assert "Token" in response["WWW-Authenticate"] and "Api-Key" in response["WWW-Authenticate"]


def test_bad_token_answers_not_authenticated(client, db):
    response = client.get("/api/v1/issues/", HTTP_AUTHORIZATION="Token not-a-real-token")

    assert_error(response, HTTPStatus.UNAUTHORIZED, "not_authenticated")


def test_action_the_role_may_not_take_answers_permission_denied_and_changes_nothing(
    client, resident, submitted, category
):
    before = issue_state(submitted)
    client.force_authenticate(resident)

    response = client.post(f"/api/v1/issues/{submitted.pk}/classify/", {"category": category.code}, format="json")

    assert_error(response, HTTPStatus.FORBIDDEN, "permission_denied")
    submitted.refresh_from_db()
    assert issue_state(submitted) == before


def test_unknown_url_under_api_answers_not_found(client, db):
    assert_error(client.get("/api/v1/no-such-thing/"), HTTPStatus.NOT_FOUND, "not_found")
    assert_error(client.get("/api/nothing-here"), HTTPStatus.NOT_FOUND, "not_found")


def test_unknown_object_answers_not_found(client, territory):
    assert_error(client.get("/api/v1/areas/999999/"), HTTPStatus.NOT_FOUND, "not_found")


def test_unknown_url_outside_api_keeps_the_html_page(client, db):
    response = client.get("/no-such-page/")

    assert response.status_code == HTTPStatus.NOT_FOUND
    assert not response["Content-Type"].startswith("application/json")


def test_issue_outside_the_callers_scope_answers_not_found_like_a_missing_one(client, submitted, other_community_staff):
    client.force_authenticate(other_community_staff)

    hidden = client.get(f"/api/v1/issues/{submitted.pk}/")
    missing = client.get("/api/v1/issues/00000000-0000-0000-0000-000000000000/")

    assert assert_error(hidden, HTTPStatus.NOT_FOUND, "not_found") == assert_error(
        missing, HTTPStatus.NOT_FOUND, "not_found"
    )


def test_action_not_allowed_in_the_current_state_answers_invalid_transition_and_changes_nothing(
    client, submitted, community_staff
):
    before = issue_state(submitted)
    client.force_authenticate(community_staff)

    response = client.post(f"/api/v1/issues/{submitted.pk}/resolve/", {"note": "Done."}, format="json")

    assert_error(response, HTTPStatus.CONFLICT, "invalid_transition")
    submitted.refresh_from_db()
    assert issue_state(submitted) == before


def test_stale_version_answers_stale_version_and_changes_nothing(
    client, resident, territory, community_staff, category
):
    classified = issue_in_status(
        "classified", reporter=resident, place=territory["grid"], triage=community_staff, category=category
    )
    before = issue_state(classified)
    events = Event.objects.filter(issue=classified).count()
    client.force_authenticate(community_staff)

    response = client.post(
        f"/api/v1/issues/{classified.pk}/dispatch/",
        {"departments": [category.department.code], "version": classified.version - 1},
        format="json",
    )

    assert_error(response, HTTPStatus.CONFLICT, "stale_version")
    classified.refresh_from_db()
    assert issue_state(classified) == before
    assert Event.objects.filter(issue=classified).count() == events


@override_settings(DATA_UPLOAD_MAX_MEMORY_SIZE=1024)
def test_json_body_over_the_limit_answers_payload_too_large(client, db):
    body = json.dumps({"username": "a" * 2000, "password": "x"})

    response = client.post("/api/v1/auth/token/", body, content_type="application/json")

    assert_error(response, HTTPStatus.REQUEST_ENTITY_TOO_LARGE, "payload_too_large")


@override_settings(GRIDDESK_API_MAX_MULTIPART_BYTES=4096)
def test_multipart_body_over_the_photo_limit_answers_payload_too_large(client, resident, territory):
    client.force_authenticate(resident)
    photo = ("big.jpg", b"\xff\xd8" + b"0" * 8000, "image/jpeg")

    response = client.post(
        "/api/v1/issues/",
        {
            "description": "Boxes block the stairwell.",
            "grid": territory["grid"].code,
            "photos": SimpleUploadedFile(*photo),
        },
        format="multipart",
    )

    assert_error(response, HTTPStatus.REQUEST_ENTITY_TOO_LARGE, "payload_too_large")
    assert Issue.objects.count() == 0


def test_unsupported_content_type_answers_unsupported_media_type(client, db):
    response = client.post("/api/v1/auth/token/", "username=a", content_type="text/plain")

    assert_error(response, HTTPStatus.UNSUPPORTED_MEDIA_TYPE, "unsupported_media_type")


def test_wrong_method_answers_method_not_allowed(client, db):
    response = client.put("/api/v1/departments/", {}, format="json")

    assert_error(response, HTTPStatus.METHOD_NOT_ALLOWED, "method_not_allowed")
    assert "GET" in response["Allow"]


def test_wrong_method_on_a_probe_answers_method_not_allowed(client, db):
    assert_error(client.post("/healthz"), HTTPStatus.METHOD_NOT_ALLOWED, "method_not_allowed")


def test_too_many_requests_answer_throttled_with_retry_after(client, db, settings):
    settings.REST_FRAMEWORK = {
        **settings.REST_FRAMEWORK,
        "DEFAULT_THROTTLE_RATES": {**settings.REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"], "anon": "1/min"},
    }
    assert client.get("/api/v1/departments/").status_code == HTTPStatus.OK

    response = client.get("/api/v1/departments/")

    assert_error(response, HTTPStatus.TOO_MANY_REQUESTS, "throttled")
    assert 1 <= int(response["Retry-After"]) <= 60


def test_crash_inside_an_api_view_answers_server_error(client, db):
    with mock.patch("orgs.api.views.DepartmentViewSet.list", side_effect=RuntimeError("boom")):
        response = client.get("/api/v1/departments/")

    error = assert_error(response, HTTPStatus.INTERNAL_SERVER_ERROR, "server_error")
    assert "boom" not in error["message"]


def test_crash_outside_drf_answers_server_error(client, db):
    with mock.patch("config.api.views.broker_check", side_effect=RuntimeError("boom")):
        response = client.get("/readyz")

    assert_error(response, HTTPStatus.INTERNAL_SERVER_ERROR, "server_error")


def test_django_handlers_answer_json_under_api_and_pages_elsewhere(db):
    factory = RequestFactory()

    assert_error(handler500(factory.get("/api/v1/issues/")), HTTPStatus.INTERNAL_SERVER_ERROR, "server_error")
    assert_error(handler404(factory.get("/api/v1/x/"), None), HTTPStatus.NOT_FOUND, "not_found")
    page = handler500(factory.get("/dashboard/"))
    assert page.status_code == HTTPStatus.INTERNAL_SERVER_ERROR
    assert not page["Content-Type"].startswith("application/json")


def test_unknown_url_under_api_answers_json_even_with_debug_on(client, db, settings):
    settings.DEBUG = True

    assert_error(client.get("/api/v1/no-such-thing/"), HTTPStatus.NOT_FOUND, "not_found")


def test_request_django_refuses_before_any_view_still_gets_the_error_body(client, db):
    response = client.get("/api/v1/departments/", HTTP_HOST="evil.example")

    assert_error(response, HTTPStatus.BAD_REQUEST, "validation_error")
    assert "fields" not in response.json()["error"]


def test_handler_maps_a_body_django_refused_to_read_and_a_workflow_error(db):
    too_big = api_exception_handler(RequestDataTooBig("too big"), {})
    conflict = api_exception_handler(StaleVersion(), {})

    assert (too_big.status_code, too_big.data["error"]["code"]) == (413, "payload_too_large")
    assert (conflict.status_code, conflict.data) == (409, StaleVersion().as_dict())
