"""orgs.auth_cache keeps what requests read of a caller and nothing secret: no password hash, no key hash.

The cached values are plain data; the caller is rebuilt from them with the rest deferred, and what is remembered is
still forgotten when it must be (membership, key revocation, password change, deactivation: tests/api/test_lean.py;
the admin's bulk key revocation here).
"""

import pickle
from http import HTTPStatus

import pytest
from django.contrib.admin.sites import site
from django.core.cache import cache
from django.test import RequestFactory
from rest_framework.test import APIClient

from orgs import auth_cache
from orgs.admin import ApiKeyAdmin, PartnerAppAdmin
from orgs.models import ApiKey, PartnerApp, _hash_key
from tests.api.test_issues_support import make_partner
from tests.api.test_lean import token_client

pytestmark = pytest.mark.django_db


def _key_client(raw: str) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Api-Key {raw}")
    return client


def test_the_remembered_token_holds_no_password_hash(resident):
    client = token_client(resident)
    assert client.get("/api/v1/issues/").status_code == HTTPStatus.OK
    remembered = cache.get(auth_cache.token_key(resident.auth_token.key))
    assert set(remembered["user"]) == set(auth_cache.USER_FIELDS)
    assert "password" not in remembered["user"]
    stored = pickle.dumps(remembered)
    assert resident.password.encode() not in stored
    assert b"pbkdf2" not in stored and b"argon2" not in stored
    assert client.get("/api/v1/issues/").status_code == HTTPStatus.OK  # and it serves the next request


def test_the_remembered_partner_key_holds_no_password_nor_key_hash(territory):
    partner, raw = make_partner(area=territory["district"])
    assert _key_client(raw).get("/api/v1/issues/").status_code == HTTPStatus.OK
    remembered = cache.get(auth_cache.api_key_key(_hash_key(raw)))
    stored = pickle.dumps(remembered)
    assert partner.user.password.encode() not in stored
    assert _hash_key(raw).encode() not in stored
    assert raw.encode() not in stored
    assert "password" not in remembered["user"] and "key_hash" not in remembered["key"]


def test_a_rebuilt_user_reads_its_password_from_the_database_and_saving_it_keeps_it(resident):
    token_client(resident).get("/api/v1/issues/")
    user = auth_cache.user_from(cache.get(auth_cache.token_key(resident.auth_token.key))["user"])
    assert user.username == "resident" and user.is_active and user.pk == resident.pk
    user.first_name = "洋"
    user.save()  # writes the fields it holds: the password is left as it is
    resident.refresh_from_db()
    assert resident.first_name == "洋"
    assert resident.check_password("pw-for-tests-2026")
    assert user.check_password("pw-for-tests-2026")  # deferred: read from the database when asked


def test_a_partner_key_rebuilt_from_the_cache_serves_as_the_database_row_did(territory):
    partner, raw = make_partner(area=territory["district"])
    client = _key_client(raw)
    first = client.get("/api/v1/issues/")
    again = client.get("/api/v1/issues/")  # from the cache
    assert again.status_code == HTTPStatus.OK and again.content == first.content
    key = auth_cache.api_key_from(cache.get(auth_cache.api_key_key(_hash_key(raw))))
    assert key.partner.user.partner_app.area.path == territory["district"].path
    assert key.pk == ApiKey.objects.get(partner=partner).pk


@pytest.mark.parametrize("admin_action", ["partner", "key"])
def test_keys_revoked_in_bulk_by_the_admin_are_refused_at_once(territory, admin_action):
    partner, raw = make_partner(area=territory["district"])
    client = _key_client(raw)
    assert client.get("/api/v1/issues/").status_code == HTTPStatus.OK
    request = RequestFactory().post("/admin/")
    request._messages = type("Messages", (), {"add": lambda *args, **kwargs: None})()
    if admin_action == "partner":
        PartnerAppAdmin(PartnerApp, site).revoke_keys(request, PartnerApp.objects.filter(pk=partner.pk))
    else:
        ApiKeyAdmin(ApiKey, site).revoke_keys(request, ApiKey.objects.filter(partner=partner))
    assert client.get("/api/v1/issues/").status_code == HTTPStatus.UNAUTHORIZED


class _Spy:
    """The default cache, noting which of its methods each request calls."""

    def __init__(self):
        self.calls = []

    def __getattr__(self, name):
        self.calls.append(name)
        return getattr(cache, name)


def test_a_known_token_and_its_users_scope_are_read_in_one_round_trip(street_officer, monkeypatch):
    client = token_client(street_officer)
    client.get("/api/v1/issues/")
    spy = _Spy()
    monkeypatch.setattr(auth_cache, "cache", spy)

    assert client.get("/api/v1/issues/").status_code == HTTPStatus.OK

    assert spy.calls == ["get_many"]


def test_a_token_of_another_user_than_this_process_noted_discards_the_scope_read_with_it(
    street_officer, resident, territory
):
    from issues.models import Issue
    from tests.factories import issue_in_status

    issue_in_status("submitted", reporter=None, place=territory["grid"], reporter_phone="13800138000")
    client = token_client(resident)
    client.get("/api/v1/issues/")
    token_client(street_officer).get("/api/v1/issues/")  # the street officer's scope is remembered
    # As if this process had noted the resident's token as the street officer's: their scope is read along with it.
    auth_cache.token_user_seen(resident.auth_token.key, street_officer.pk)

    rows = client.get("/api/v1/issues/?page_size=100").json()["results"]

    assert Issue.objects.count() == 1 and rows == []  # the resident's own scope: they reported nothing


@pytest.fixture
def shared_redis(settings):
    """The default cache on the local Redis (as deployed), with a key prefix of this test's own."""
    import os

    settings.CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": "redis://127.0.0.1:6379/3",
            "KEY_PREFIX": f"griddesk-auth-test-{os.getpid()}-{os.urandom(4).hex()}",
        }
    }
    yield
    cache.clear()


def test_with_redis_a_known_token_reads_its_scope_in_the_same_mget_and_hears_a_membership_change(
    shared_redis, street_officer, territory, monkeypatch
):
    from django.core.cache.backends.redis import RedisCache

    from orgs.models import Membership
    from tests.factories import issue_in_status

    issue_in_status("submitted", reporter=None, place=territory["grid"], reporter_phone="13800138000")
    client = token_client(street_officer)
    assert len(client.get("/api/v1/issues/").json()["results"]) == 1
    assert cache.get(auth_cache.scope_key(street_officer.pk)) is not None  # in Redis

    # Token and scope by one MGET, on a kept client (not through RedisCache.get_many, which makes a client per call).
    monkeypatch.setattr(RedisCache, "get_many", None)
    assert len(client.get("/api/v1/issues/").json()["results"]) == 1
    Membership.objects.filter(user=street_officer).delete()

    assert client.get("/api/v1/issues/").json()["results"] == []


def test_a_warm_submission_reads_its_audience_from_the_shared_cache_in_one_round_trip(
    resident, community_staff, territory, monkeypatch
):
    from issues import workflow
    from issues.models import Notice
    from notifications.models import Notification

    def submit():
        return workflow.issue_submit(
            actor=resident, description="Rubbish in the stairwell.", grid=territory["grid"].code
        )

    submit()  # the node's staff and the subscribed webhook types remembered
    spy = _Spy()
    monkeypatch.setattr(auth_cache, "cache", spy)

    issue = submit()

    # The node's staff and the subscribed types, read ahead together (auth_cache.read_ahead): no get of each. (The
    # staff's remembered unread counts are forgotten too: a write, notifications.inbox.)
    assert [call for call in spy.calls if call.startswith("get")] == ["get_many"]
    told = Notification.objects.filter(event__issue=issue, kind=Notice.SUBMITTED).values_list("recipient_id", flat=True)
    assert set(told) == {community_staff.pk}


def test_an_entry_read_ahead_is_read_again_once_remembered_or_forgotten_within_the_block():
    auth_cache.remember("auth:test:a", 1)
    auth_cache.remember("auth:test:b", 2)
    with auth_cache.read_ahead(["auth:test:a", "auth:test:b", "auth:test:c"]):
        assert auth_cache.remembered("auth:test:a") == 1
        assert auth_cache.remembered("auth:test:c") is None
        auth_cache.remember("auth:test:a", 10)
        auth_cache.forget("auth:test:b")
        auth_cache.remember("auth:test:c", 30)
        assert auth_cache.remembered("auth:test:a") == 10
        assert auth_cache.remembered("auth:test:b") is None
        assert auth_cache.remembered("auth:test:c") == 30
    assert auth_cache.remembered("auth:test:a") == 10


# --- copies kept in the process under the shared generation (auth_cache.kept_in_process) ---------------------------


@pytest.fixture
def shared_reads(monkeypatch):
    """Record the keys of each read of the shared cache (auth_cache._get_many: one round trip each)."""
    reads = []
    get_many = auth_cache._get_many

    def recorded(keys, counting=None):
        reads.append(list(keys))
        return get_many(keys, counting)

    monkeypatch.setattr(auth_cache, "_get_many", recorded)
    return reads


def _post_issue(client, territory):
    body = {"description": "Rubbish in the stairwell.", "grid": territory["grid"].code}
    response = client.post("/api/v1/issues/", body, format="json")
    assert response.status_code == HTTPStatus.CREATED, response.content
    return response.json()


def _staff_reads(reads) -> list:
    return [keys for keys in reads if any(key.startswith("auth:staff:") for key in keys)]


def test_with_redis_a_warm_submission_reads_its_audience_from_the_process_under_the_generation(
    shared_redis, resident, community_staff, territory, shared_reads
):
    from issues.models import Notice
    from notifications.models import Notification

    client = token_client(resident)
    for _ in range(3):  # the token, the node's staff, the subscribed types and the generation remembered
        _post_issue(client, territory)
    shared_reads.clear()

    issue = _post_issue(client, territory)

    # One read of the shared cache: the token, the scope and the generation; the audience from this process's copy.
    assert len(shared_reads) == 1
    assert auth_cache.GENERATION_KEY in shared_reads[0]
    told = Notification.objects.filter(event__issue_id=issue["id"], kind=Notice.SUBMITTED)
    assert set(told.values_list("recipient_id", flat=True)) == {community_staff.pk}


def test_with_redis_a_copy_is_not_used_once_another_process_forgot_its_kind(
    shared_redis, resident, territory, shared_reads
):
    from conftest import member
    from issues.models import Notice
    from notifications.models import Notification
    from orgs.models import Role
    from tests.factories import UserFactory

    client = token_client(resident)
    for _ in range(3):
        _post_issue(client, territory)  # nobody to tell: the copies say so
    # Another process adds a community staff member: it forgets the node's staff and the generation in the shared
    # cache (this process hears nothing: its copies stay).
    kept = dict(auth_cache._kept)
    staff = member(UserFactory(username="new_staff"), Role.COMMUNITY_STAFF, area=territory["community"])
    auth_cache._kept.update(kept)
    shared_reads.clear()

    issue = _post_issue(client, territory)

    assert _staff_reads(shared_reads)  # read again from the shared cache
    told = Notification.objects.filter(event__issue_id=issue["id"], kind=Notice.SUBMITTED)
    assert set(told.values_list("recipient_id", flat=True)) == {staff.pk}


def test_with_redis_a_copy_is_not_used_past_the_entries_lifetime(
    shared_redis, resident, territory, shared_reads, monkeypatch
):
    import time

    client = token_client(resident)
    for _ in range(3):
        _post_issue(client, territory)
    shared_reads.clear()
    _post_issue(client, territory)
    assert not _staff_reads(shared_reads)

    later = time.monotonic() + auth_cache.settings.GRIDDESK_AUTH_CACHE_SECONDS + 1
    monkeypatch.setattr(auth_cache.time, "monotonic", lambda: later)
    _post_issue(client, territory)

    assert _staff_reads(shared_reads)


def test_with_redis_work_outside_a_request_never_uses_the_copies(shared_redis, resident, territory, shared_reads):
    from issues import workflow

    client = token_client(resident)
    for _ in range(3):
        _post_issue(client, territory)
    shared_reads.clear()

    workflow.issue_submit(actor=resident, description="Rubbish in the stairwell.", grid=territory["grid"].code)

    # The last request's generation ended with it: a task or a command reads the shared cache.
    assert _staff_reads(shared_reads)


def test_with_redis_work_outside_a_request_that_started_the_generation_never_uses_the_copies(
    shared_redis, resident, territory, shared_reads
):
    from issues import workflow

    for _ in range(2):  # the first starts the generation and keeps the node's staff under it
        workflow.issue_submit(actor=resident, description="Rubbish in the stairwell.", grid=territory["grid"].code)
    shared_reads.clear()

    workflow.issue_submit(actor=resident, description="Rubbish in the stairwell.", grid=territory["grid"].code)

    # No request read the generation with its token: a task or a command reads the shared cache every time.
    assert _staff_reads(shared_reads)
