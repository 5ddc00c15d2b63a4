"""Each kind of caller has its own rate (anonymous per address, people per user, partner apps per app)."""

import os
import subprocess
import sys
import time
from http import HTTPStatus

import pytest
from django.conf import settings
from rest_framework.response import Response
from rest_framework.test import APIClient, APIRequestFactory, force_authenticate
from rest_framework.views import APIView

from config.api.throttling import AnonCreateThrottle, CallerKindThrottle
from orgs.models import ApiKey, PartnerApp
from tests.api.test_errors import assert_error
from tests.factories import UserFactory

URL = "/api/v1/auth/me/"


@pytest.fixture
def rates(settings):
    """Set small rates for this test; counters start empty (conftest clears the in-memory cache)."""

    def set_rates(**rates):
        settings.REST_FRAMEWORK = {
            **settings.REST_FRAMEWORK,
            "DEFAULT_THROTTLE_RATES": {**settings.REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"], **rates},
        }

    return set_rates


def calls(client, n: int, url: str = URL, **extra) -> list[int]:
    return [client.get(url, **extra).status_code for _ in range(n)]


def test_anonymous_callers_are_limited_per_address(rates, db):
    rates(anon="2/min")
    client = APIClient()

    assert calls(client, 3, "/api/v1/departments/") == [HTTPStatus.OK, HTTPStatus.OK, HTTPStatus.TOO_MANY_REQUESTS]
    other_address = client.get("/api/v1/departments/", REMOTE_ADDR="10.1.2.3")
    assert other_address.status_code == HTTPStatus.OK


def test_anonymous_callers_cannot_dodge_the_limit_with_x_forwarded_for(rates, db):
    rates(anon="1/min")
    client = APIClient()
    client.get("/api/v1/departments/", HTTP_X_FORWARDED_FOR="10.0.0.1")

    response = client.get("/api/v1/departments/", HTTP_X_FORWARDED_FOR="10.0.0.2")

    assert_error(response, HTTPStatus.TOO_MANY_REQUESTS, "throttled")


def test_residents_are_limited_per_user_at_the_resident_rate(rates, resident, other_resident):
    rates(resident="2/min", staff="100/min")
    client = APIClient()
    client.force_authenticate(resident)

    assert calls(client, 3) == [HTTPStatus.OK, HTTPStatus.OK, HTTPStatus.TOO_MANY_REQUESTS]
    client.force_authenticate(other_resident)
    assert calls(client, 1) == [HTTPStatus.OK]


def test_staff_have_their_own_rate(rates, community_staff):
    rates(resident="1/min", staff="3/min")
    client = APIClient()
    client.force_authenticate(community_staff)

    assert calls(client, 4) == [HTTPStatus.OK] * 3 + [HTTPStatus.TOO_MANY_REQUESTS]


def test_partner_apps_have_their_own_rate(rates, territory):
    rates(partner="2/min", resident="1/min")
    partner = PartnerApp.objects.create(
        slug="p", name="P", user=UserFactory(username="partner-p"), area=territory["district"]
    )
    _, raw = ApiKey.issue(partner=partner)
    client = APIClient()

    statuses = calls(client, 3, HTTP_AUTHORIZATION=f"Api-Key {raw}")

    assert statuses == [HTTPStatus.OK, HTTPStatus.OK, HTTPStatus.TOO_MANY_REQUESTS]


def test_throttled_answer_says_when_to_retry(rates, resident):
    rates(resident="1/hour")
    client = APIClient()
    client.force_authenticate(resident)
    client.get(URL)

    response = client.get(URL)

    assert_error(response, HTTPStatus.TOO_MANY_REQUESTS, "throttled")
    assert 1 <= int(response["Retry-After"]) <= 3600


def test_a_rate_of_none_switches_a_kind_off(rates, resident):
    rates(resident=None)
    client = APIClient()
    client.force_authenticate(resident)

    assert set(calls(client, 5)) == {HTTPStatus.OK}


class CreateView(APIView):
    """A stand-in for an anonymous create endpoint, throttled the way the issues API does it."""

    permission_classes: list = []
    throttle_classes = [CallerKindThrottle, AnonCreateThrottle]

    def get(self, request):
        return Response({})

    def post(self, request):
        return Response({}, status=HTTPStatus.CREATED)


def test_anonymous_creation_is_limited_per_address_and_reads_are_not_counted(rates, db):
    rates(anon_create="1/hour", anon="100/min")
    factory = APIRequestFactory()
    view = CreateView.as_view()

    assert view(factory.post("/api/v1/x/", {}, format="json")).status_code == HTTPStatus.CREATED
    assert view(factory.get("/api/v1/x/")).status_code == HTTPStatus.OK
    refused = view(factory.post("/api/v1/x/", {}, format="json"))
    assert refused.status_code == HTTPStatus.TOO_MANY_REQUESTS
    assert refused.data["error"]["code"] == "throttled"
    other = factory.post("/api/v1/x/", {}, format="json", REMOTE_ADDR="10.9.9.9")
    assert view(other).status_code == HTTPStatus.CREATED


def test_signed_in_callers_are_not_counted_as_anonymous_creators(rates, resident):
    rates(anon_create="1/hour")
    factory = APIRequestFactory()
    view = CreateView.as_view()
    statuses = []
    for _ in range(3):
        request = factory.post("/api/v1/x/", {}, format="json")
        force_authenticate(request, user=resident)
        statuses.append(view(request).status_code)

    assert statuses == [HTTPStatus.CREATED] * 3


@pytest.mark.parametrize(
    ("env", "backend"),
    [
        ({}, "django.core.cache.backends.locmem.LocMemCache"),
        ({"REDIS_URL": "redis://127.0.0.1:6379/1"}, "config.redis_cache.ReusedClientRedisCache"),
        ({"CACHE_URL": "redis://127.0.0.1:6379/2"}, "config.redis_cache.ReusedClientRedisCache"),
    ],
)
def test_throttle_counters_use_redis_when_configured_else_process_memory(env, backend):
    clean = {k: v for k, v in os.environ.items() if k not in {"REDIS_URL", "CACHE_URL"}}
    code = "from django.conf import settings; print(settings.CACHES['default']['BACKEND'])"
    result = subprocess.run(
        [sys.executable, "-c", f"import django; django.setup(); {code}"],
        env={**clean, **env, "DJANGO_SETTINGS_MODULE": "config.settings.test"},
        capture_output=True,
        text=True,
        check=True,
        cwd=settings.BASE_DIR,
    )

    assert result.stdout.strip() == backend


@pytest.fixture
def cache_down(settings, db):
    """Point the default cache at a Redis on a port nobody listens on (as a Redis outage looks to a web process)."""
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    settings.CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": f"redis://127.0.0.1:{port}/1",
            "OPTIONS": {"socket_connect_timeout": 0.5, "socket_timeout": 0.5},
        }
    }
    return port


def test_a_cache_outage_counts_in_the_process_instead_of_answering_500(rates, cache_down):
    rates(anon="2/min")
    client = APIClient()

    assert calls(client, 3, "/api/v1/departments/") == [HTTPStatus.OK, HTTPStatus.OK, HTTPStatus.TOO_MANY_REQUESTS]


def test_a_cache_outage_does_not_stop_a_signed_in_submission(rates, cache_down, resident, territory):
    client = APIClient()
    client.force_authenticate(resident)
    body = {"description": "楼道堆满杂物，消防通道被堵。", "grid": territory["grid"].code}

    response = client.post("/api/v1/issues/", body, format="json")

    assert response.status_code == HTTPStatus.CREATED, response.content


# --- The counter: one pipeline and two integers per caller, whatever the rate ---------------------------------


@pytest.fixture
def redis_cache(settings, db):
    """The default cache on the local Redis, with a key prefix of this test's own."""
    settings.CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": "redis://127.0.0.1:6379/3",
            "KEY_PREFIX": f"griddesk-throttle-test-{os.getpid()}-{os.urandom(4).hex()}",
        }
    }
    from django.core.cache import cache

    yield cache
    cache.clear()


def test_counters_in_redis_limit_and_take_back_refused_calls(rates, redis_cache, resident):
    rates(resident="3/min")
    client = APIClient()
    client.force_authenticate(resident)

    assert calls(client, 5) == [HTTPStatus.OK] * 3 + [HTTPStatus.TOO_MANY_REQUESTS] * 2

    window = int(time.time() // 60)
    # Two refused calls were not counted: the counter says the three that went through.
    assert redis_cache.get(f"throttle_resident_user-{resident.pk}:{window}") == 3


def test_a_call_is_one_counter_of_a_few_bytes_however_many_calls_came_before(rates, redis_cache, resident):
    rates(resident="1000000/min")
    client = APIClient()
    client.force_authenticate(resident)
    calls(client, 50)

    window = int(time.time() // 60)
    key = redis_cache.make_and_validate_key(f"throttle_resident_user-{resident.pk}:{window}")
    client_ = redis_cache._cache.get_client(key)
    assert redis_cache.get(f"throttle_resident_user-{resident.pk}:{window}") == 50
    assert client_.strlen(key) <= 2
    assert 0 < client_.ttl(key) <= 120


def test_the_last_windows_calls_count_while_they_lie_within_the_duration(rates, resident, monkeypatch):
    rates(resident="4/min")
    client = APIClient()
    client.force_authenticate(resident)
    start = 1_000_000 * 60 + 50.0  # ten seconds before a minute ends
    monkeypatch.setattr(time, "time", lambda: start)
    assert calls(client, 4) == [HTTPStatus.OK] * 4

    # Twenty seconds later (a new minute): the last window's 4 calls weigh 4 × 40/60 ≈ 2.7, so one more fits.
    monkeypatch.setattr(time, "time", lambda: start + 30)
    assert calls(client, 2) == [HTTPStatus.OK, HTTPStatus.TOO_MANY_REQUESTS]
    # The next minute starts with the last window's one call at full weight: three more fit.
    monkeypatch.setattr(time, "time", lambda: start + 70)
    assert calls(client, 4) == [HTTPStatus.OK] * 3 + [HTTPStatus.TOO_MANY_REQUESTS]


@pytest.mark.parametrize(
    ("limit", "duration", "elapsed", "count", "previous", "expected"),
    [
        (4, 60, 40.0, 4, 0, 20.0 + 60 * (1 - 3 / 4)),  # used up in this window: next window, once the weight fades
        (1, 3600, 0.0, 1, 0, 3600),  # never longer than the period itself
        (4, 60, 30.0, 1, 6, 30.0 - 2 * 60 / 6),  # within this window, as the last window's weight fades
        (600, 60, 59.99, 600, 0, 1.0),  # never less than a second
    ],
)
def test_retry_after_says_when_one_more_call_fits(limit, duration, elapsed, count, previous, expected):
    from config.api.throttling import _wait

    assert _wait(limit, duration, elapsed, count, previous) == pytest.approx(expected)


# --- A token caller's call counted with the read of the token (one round trip fewer) ----------------------------


@pytest.fixture
def token_client(resident):
    from rest_framework.authtoken.models import Token

    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {Token.objects.create(user=resident).key}")
    return client


@pytest.fixture
def own_counts(monkeypatch):
    """Record the counts the throttle takes in a round trip of its own (not with the token's read)."""
    from config.api.throttling import DegradingCache

    counted = []
    count = DegradingCache.count

    def recorded(self, key, previous_key, timeout):
        counted.append(key)
        return count(self, key, previous_key, timeout)

    monkeypatch.setattr(DegradingCache, "count", recorded)
    return counted


def test_a_token_callers_calls_are_counted_with_the_read_of_the_token(
    rates, redis_cache, resident, token_client, own_counts
):
    rates(resident="3/min")

    assert calls(token_client, 5) == [HTTPStatus.OK] * 3 + [HTTPStatus.TOO_MANY_REQUESTS] * 2

    window = int(time.time() // 60)
    assert redis_cache.get(f"throttle_resident_user-{resident.pk}:{window}") == 3  # the refused two taken back
    # Only the first call (the process did not know the caller yet) counted in a round trip of its own.
    assert len(own_counts) == 1


def test_a_token_call_refused_before_its_throttles_ran_is_not_counted(rates, redis_cache, resident, token_client):
    rates(resident="100/min")
    calls(token_client, 2)
    window = int(time.time() // 60)
    key = f"throttle_resident_user-{resident.pk}:{window}"
    assert redis_cache.get(key) == 2

    # The statistics are for staff: refused by permission, before DRF's throttles run.
    assert calls(token_client, 3, "/api/v1/stats/") == [HTTPStatus.FORBIDDEN] * 3

    assert redis_cache.get(key) == 2


def test_a_token_caller_whose_kind_changed_is_counted_as_the_new_kind(
    rates, redis_cache, resident, territory, token_client
):
    from conftest import member
    from orgs.models import Role

    rates(resident="100/min", staff="100/min")
    calls(token_client, 2)
    member(resident, Role.COMMUNITY_STAFF, area=territory["community"])

    calls(token_client, 1)

    window = int(time.time() // 60)
    assert redis_cache.get(f"throttle_resident_user-{resident.pk}:{window}") == 2
    assert redis_cache.get(f"throttle_staff_user-{resident.pk}:{window}") == 1
