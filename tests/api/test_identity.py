"""Who is calling from where, and for how long: the trusted-proxy rule, token lifetime and revocation."""

from datetime import timedelta
from http import HTTPStatus

import pytest
from django.test import RequestFactory
from django.utils import timezone
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from config.client_ip import client_ip
from tests.factories import UserFactory

PROXY = "10.0.0.5"
TOKEN_URL = "/api/v1/auth/token/"
ME = "/api/v1/auth/me/"
PASSWORD = "pw-for-tests-2026"  # tests.factories.UserFactory


def _request(remote: str, forwarded: str | None = None):
    extra = {"REMOTE_ADDR": remote}
    if forwarded is not None:
        extra["HTTP_X_FORWARDED_FOR"] = forwarded
    return RequestFactory().get("/", **extra)


def test_a_direct_client_cannot_choose_its_address_by_header(settings):
    settings.GRIDDESK_TRUSTED_PROXIES = [PROXY]
    assert client_ip(_request("198.51.100.9", "203.0.113.1")) == "198.51.100.9"


def test_behind_a_trusted_proxy_the_client_is_the_nearest_untrusted_hop(settings):
    settings.GRIDDESK_TRUSTED_PROXIES = ["10.0.0.0/24"]
    # The client forged the first entry; the trusted proxy appended the address it really saw.
    assert client_ip(_request(PROXY, "1.2.3.4, 203.0.113.7")) == "203.0.113.7"
    assert client_ip(_request(PROXY, "203.0.113.7, 10.0.0.9")) == "203.0.113.7"


def test_with_no_trusted_proxy_the_header_is_ignored(settings):
    settings.GRIDDESK_TRUSTED_PROXIES = []
    assert client_ip(_request(PROXY, "203.0.113.7")) == PROXY


def _login(client, username, password, forwarded):
    return client.post(
        TOKEN_URL,
        {"username": username, "password": password},
        format="json",
        REMOTE_ADDR=PROXY,
        HTTP_X_FORWARDED_FOR=forwarded,
    )


@pytest.mark.django_db
def test_behind_the_proxy_wrong_passwords_lock_the_attacker_not_the_user(settings):
    settings.GRIDDESK_TRUSTED_PROXIES = [PROXY]
    UserFactory(username="citizen")
    client = APIClient()
    for _ in range(settings.AXES_FAILURE_LIMIT):
        _login(client, "citizen", "wrong-password", "203.0.113.66")

    assert _login(client, "citizen", PASSWORD, "203.0.113.66").status_code == HTTPStatus.TOO_MANY_REQUESTS
    # Before the rule, every request carried the proxy's address and the real user was locked out too.
    assert _login(client, "citizen", PASSWORD, "198.51.100.20").status_code == HTTPStatus.OK


@pytest.mark.django_db
def test_a_direct_client_forging_the_header_is_still_throttled_by_its_address(settings):
    settings.GRIDDESK_TRUSTED_PROXIES = [PROXY]
    settings.REST_FRAMEWORK = {
        **settings.REST_FRAMEWORK,
        "DEFAULT_THROTTLE_RATES": {**settings.REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"], "anon": "2/min"},
    }
    client = APIClient()
    codes = [
        client.get(
            "/api/v1/departments/", REMOTE_ADDR="198.51.100.9", HTTP_X_FORWARDED_FOR=f"203.0.113.{i}"
        ).status_code
        for i in range(3)
    ]
    assert codes == [HTTPStatus.OK, HTTPStatus.OK, HTTPStatus.TOO_MANY_REQUESTS]


@pytest.mark.django_db
def test_a_password_change_revokes_the_token():
    user = UserFactory(username="changer")
    client = APIClient()
    token = client.post(TOKEN_URL, {"username": "changer", "password": PASSWORD}, format="json").json()["token"]
    client.credentials(HTTP_AUTHORIZATION=f"Token {token}")
    assert client.get(ME).status_code == HTTPStatus.OK

    user.set_password("a-new-password-2026")
    user.save()

    assert not Token.objects.filter(user=user).exists()
    assert client.get(ME).status_code == HTTPStatus.UNAUTHORIZED
    fresh = APIClient().post(TOKEN_URL, {"username": "changer", "password": "a-new-password-2026"}, format="json")
    assert fresh.json()["token"] != token


@pytest.mark.django_db
def test_saving_a_user_without_a_password_change_keeps_the_token():
    user = UserFactory(username="keeper")
    token = Token.objects.create(user=user)
    user.first_name = "Keeper"
    user.save()
    assert Token.objects.filter(pk=token.pk).exists()


@pytest.mark.django_db
def test_an_expired_token_is_refused_and_logging_in_issues_a_new_one(settings):
    settings.GRIDDESK_TOKEN_TTL_HOURS = 1
    user = UserFactory(username="sleeper")
    old = Token.objects.create(user=user)
    Token.objects.filter(pk=old.pk).update(created=timezone.now() - timedelta(hours=2))

    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {old.key}")
    answer = client.get(ME)
    assert answer.status_code == HTTPStatus.UNAUTHORIZED
    assert answer.json()["error"]["code"] == "not_authenticated"

    new = APIClient().post(TOKEN_URL, {"username": "sleeper", "password": PASSWORD}, format="json").json()["token"]
    assert new != old.key
    assert APIClient(HTTP_AUTHORIZATION=f"Token {new}").get(ME).status_code == HTTPStatus.OK
