"""Who gets in: personal tokens, partner app keys, browser sessions with CSRF, and the failed-login lockout."""

from datetime import timedelta
from http import HTTPStatus

import pytest
from axes.models import AccessAttempt
from django.utils import timezone
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from orgs.models import ApiKey, PartnerApp
from tests.api.test_errors import assert_error
from tests.factories import UserFactory

PASSWORD = "pw-for-tests-2026"  # tests.factories.UserFactory's


@pytest.fixture
def client():
    return APIClient()


@pytest.fixture
def partner(territory):
    return PartnerApp.objects.create(
        slug="demo-partner", name="Demo partner", user=UserFactory(username="partner-demo"), area=territory["district"]
    )


@pytest.fixture
def partner_key(partner):
    return ApiKey.issue(partner=partner, name="test")


def test_token_endpoint_returns_a_token_that_authenticates(client, resident):
    response = client.post("/api/v1/auth/token/", {"username": "resident", "password": PASSWORD}, format="json")

    assert response.status_code == HTTPStatus.OK
    token = response.json()["token"]
    assert token == Token.objects.get(user=resident).key
    me = client.get("/api/v1/auth/me/", HTTP_AUTHORIZATION=f"Token {token}")
    assert me.status_code == HTTPStatus.OK
    assert me.json() == {"username": "resident", "kind": "resident", "partner": None}


def test_token_endpoint_returns_the_same_token_twice(client, resident):
    first = client.post("/api/v1/auth/token/", {"username": "resident", "password": PASSWORD}, format="json")
    second = client.post("/api/v1/auth/token/", {"username": "resident", "password": PASSWORD}, format="json")

    assert first.json() == second.json()


def test_wrong_password_is_refused_and_creates_no_token(client, resident):
    response = client.post("/api/v1/auth/token/", {"username": "resident", "password": "wrong"}, format="json")

    assert_error(response, HTTPStatus.BAD_REQUEST, "validation_error")
    assert not Token.objects.exists()


def test_inactive_user_gets_no_token(client, resident):
    resident.is_active = False
    resident.save()

    response = client.post("/api/v1/auth/token/", {"username": "resident", "password": PASSWORD}, format="json")

    assert_error(response, HTTPStatus.BAD_REQUEST, "validation_error")
    assert not Token.objects.exists()


def test_revoked_token_no_longer_authenticates(client, resident):
    token = Token.objects.create(user=resident).key
    client.credentials(HTTP_AUTHORIZATION=f"Token {token}")

    assert client.delete("/api/v1/auth/token/").status_code == HTTPStatus.NO_CONTENT

    assert_error(client.get("/api/v1/auth/me/"), HTTPStatus.UNAUTHORIZED, "not_authenticated")
    assert not Token.objects.exists()


def test_failed_logins_lock_the_username_out_with_throttled(client, resident, settings):
    settings.AXES_FAILURE_LIMIT = 2
    for _ in range(2):
        client.post("/api/v1/auth/token/", {"username": "resident", "password": "wrong"}, format="json")

    # Even the right password is refused while the username is locked out.
    response = client.post("/api/v1/auth/token/", {"username": "resident", "password": PASSWORD}, format="json")

    assert_error(response, HTTPStatus.TOO_MANY_REQUESTS, "throttled")
    assert int(response["Retry-After"]) == int(timedelta(hours=settings.AXES_COOLOFF_TIME).total_seconds())
    assert not Token.objects.exists()
    assert AccessAttempt.objects.get(username="resident").failures_since_start >= 2


def test_lockout_is_per_username(client, resident, other_resident, settings):
    settings.AXES_FAILURE_LIMIT = 2
    for _ in range(2):
        client.post("/api/v1/auth/token/", {"username": "resident", "password": "wrong"}, format="json")

    response = client.post("/api/v1/auth/token/", {"username": "other_resident", "password": PASSWORD}, format="json")

    assert response.status_code == HTTPStatus.OK


def test_api_key_authenticates_as_the_partner_apps_user_and_records_its_use(client, partner, partner_key):
    key, raw = partner_key

    response = client.get("/api/v1/auth/me/", HTTP_AUTHORIZATION=f"Api-Key {raw}")

    assert response.status_code == HTTPStatus.OK
    assert response.json() == {"username": "partner-demo", "kind": "partner", "partner": "demo-partner"}
    key.refresh_from_db()
    assert key.last_used_at is not None


def test_api_key_use_is_recorded_at_most_every_few_minutes(client, partner_key):
    key, raw = partner_key
    recent = timezone.now() - timedelta(seconds=30)
    ApiKey.objects.filter(pk=key.pk).update(last_used_at=recent)

    client.get("/api/v1/auth/me/", HTTP_AUTHORIZATION=f"Api-Key {raw}")

    key.refresh_from_db()
    assert key.last_used_at == recent


def test_revoked_api_key_is_refused(client, partner_key):
    key, raw = partner_key
    key.revoke()

    response = client.get("/api/v1/auth/me/", HTTP_AUTHORIZATION=f"Api-Key {raw}")

    assert_error(response, HTTPStatus.UNAUTHORIZED, "not_authenticated")
    assert "Api-Key" in response["WWW-Authenticate"]


def test_api_key_of_an_inactive_partner_is_refused(client, partner, partner_key):
    partner.is_active = False
    partner.save()

    response = client.get("/api/v1/auth/me/", HTTP_AUTHORIZATION=f"Api-Key {partner_key[1]}")

    assert_error(response, HTTPStatus.UNAUTHORIZED, "not_authenticated")


def test_unknown_api_key_is_refused(client, db):
    response = client.get("/api/v1/auth/me/", HTTP_AUTHORIZATION="Api-Key 0123abcd.not-a-key")

    assert_error(response, HTTPStatus.UNAUTHORIZED, "not_authenticated")


@pytest.mark.parametrize("name", ["api_key", "key"])
def test_api_key_in_the_query_string_is_refused_even_when_valid(client, partner_key, name):
    key, raw = partner_key

    response = client.get(f"/api/v1/auth/me/?{name}={raw}")

    assert_error(response, HTTPStatus.UNAUTHORIZED, "not_authenticated")
    key.refresh_from_db()
    assert key.last_used_at is None


def test_key_in_the_query_string_is_refused_on_public_endpoints_too(client, partner_key):
    response = client.get(f"/api/v1/departments/?api_key={partner_key[1]}")

    assert_error(response, HTTPStatus.UNAUTHORIZED, "not_authenticated")


def test_session_authenticates_reads(resident):
    client = APIClient(enforce_csrf_checks=True)
    client.force_login(resident)

    assert client.get("/api/v1/auth/me/").json()["username"] == "resident"


def test_session_write_without_csrf_token_is_refused(resident):
    token = Token.objects.create(user=resident)
    client = APIClient(enforce_csrf_checks=True)
    client.force_login(resident)

    response = client.delete("/api/v1/auth/token/")

    assert_error(response, HTTPStatus.FORBIDDEN, "permission_denied")
    assert Token.objects.filter(pk=token.pk).exists()


def test_session_write_with_csrf_token_is_accepted(resident):
    Token.objects.create(user=resident)
    client = APIClient(enforce_csrf_checks=True)
    client.force_login(resident)
    # A browser holds the CSRF cookie from a page it loaded, and echoes it in X-CSRFToken.
    csrf = "k" * 32
    client.cookies["csrftoken"] = csrf

    response = client.delete("/api/v1/auth/token/", HTTP_X_CSRFTOKEN=csrf)

    assert response.status_code == HTTPStatus.NO_CONTENT
    assert not Token.objects.exists()


def test_staff_caller_kind(client, community_staff):
    client.force_authenticate(community_staff)

    assert client.get("/api/v1/auth/me/").json()["kind"] == "staff"
