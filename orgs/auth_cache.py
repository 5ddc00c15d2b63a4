"""Who a caller is, remembered between requests: a token's user, a partner key, a user's scope (orgs.scoping).

Every API request used to read the token and its user, the user's memberships and whether they are a partner app's
service user: three queries before any work. They are kept in the default cache (Redis in production, shared by
every web process and worker) for GRIDDESK_AUTH_CACHE_SECONDS, and forgotten by orgs.signals when what they say
changes: a membership saved or deleted (the scope), a token deleted (revoked, or a password change), a user saved
(active, staff, password), a partner app or one of its keys saved or deleted (a revoked key stops at once).
They are forgotten at once and again when the transaction commits, so a request that read the old rows meanwhile
cannot leave them behind.

A process-local cache cannot hear what another process forgets: the cache is used only when it is shared
(settings: on by default with CACHE_URL / REDIS_URL, off with the in-memory default; the test suite, one process,
turns it on). While Redis does not answer, callers are read from the database (never from a local copy) and a
forget that failed is bounded by the entries' lifetime. Moving a territory node (its path) is not heard: scopes
under it are right again within the lifetime.

A token's user never changes (the token's key is its primary key): which user a token was for is kept in the process,
only so that the token and that user's scope are read from the shared cache in one round trip (`remembered_token`);
what they say is always the shared cache's, and a token entry for another user discards the scope read with it.

What is kept of a user is what requests read of `request.user` (USER_FIELDS: never the password hash, nor the last
login): the cache holds plain values, and the user is rebuilt from them with the rest deferred, so code that reads
the password (a password check, the token revocation on a password change) reads it from the database, and a
`save()` of a rebuilt user writes only the fields it holds. A partner key is kept the same way: its row without its
hash, its partner app, the app's area and its service user (USER_FIELDS again).
"""

import hashlib
import secrets
import time
from collections.abc import Callable, Iterable
from contextlib import contextmanager
from contextvars import ContextVar

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.cache import DEFAULT_CACHE_ALIAS, caches
from django.core.cache import cache as default_cache
from django.core.cache.backends.redis import RedisCache
from django.core.signals import request_finished, request_started
from django.db import DEFAULT_DB_ALIAS
from django.db.models import Model

from config import redis_cache

cache = default_cache

_PREFIX = "auth:"
NOT_ANSWERING = "auth cache: the shared cache does not answer; reading the database"
# The user's fields kept between requests: who they are and what they may do; no secret.
USER_FIELDS = ("id", "username", "first_name", "last_name", "email", "is_staff", "is_superuser", "is_active")
# A partner key's fields kept: not its hash (the cache key is derived from it already).
API_KEY_FIELDS = ("id", "partner_id", "name", "prefix", "created_at", "last_used_at", "revoked_at")


# Tokens whose user this process knows (token_user_seen), forgotten all at once when there are this many.
TOKEN_USERS_KEPT = 10_000
_token_users: dict[str, int] = {}


def enabled() -> bool:
    return settings.GRIDDESK_AUTH_CACHE_SECONDS > 0


def token_key(raw: str) -> str:
    return f"{_PREFIX}token:{hashlib.sha256(raw.encode()).hexdigest()}"


def api_key_key(key_hash: str) -> str:
    return f"{_PREFIX}apikey:{key_hash}"


def scope_key(user_id) -> str:
    return f"{_PREFIX}scope:{user_id}"


# The entries read ahead for a block of work (read_ahead): {key: value, None when nothing is remembered}.
_ahead: ContextVar[dict | None] = ContextVar("auth_cache_ahead", default=None)


@contextmanager
def read_ahead(keys: Iterable[str]):
    """Read `keys` in one round trip; within the block, `remembered` of one of them answers what was read.

    For work that reads several entries one after the other (an event's audience: its node's staff, the subscribed
    webhook types). An entry remembered or forgotten within the block is read from the cache again. Entries of the
    kinds kept in the process (kept_in_process) are answered from this process's copy when it was read under the
    generation this request read with its token: no round trip at all when all are.
    """
    keys = list(keys)
    found = None
    if enabled() and keys:
        found = _kept_copies(keys)
        missing = [key for key in keys if key not in found]
        if missing:
            read = redis_cache.quietly(_get_many, missing, warning=NOT_ANSWERING)
            found = None if read is None else {**found, **_keep(read)}
    if found is None:
        yield
        return
    token = _ahead.set({key: found.get(key) for key in keys})
    try:
        yield
    finally:
        _ahead.reset(token)


# --- Copies kept in the process, good while the shared generation stays -------------------------------------------
# Entries of a few kinds (a node's staff, the subscribed webhook types: read by every submission) are kept in the
# process as well, each with the generation they were read under. Forgetting one of these kinds (forget) deletes the
# generation with it, now and at the commit; the next reader starts a new one. A request reads the generation with its
# token (remembered_token: the same round trip) and may use a copy only under that generation, and only within the
# entries' lifetime, so a copy is never older than what the shared cache would answer.

GENERATION_KEY = f"{_PREFIX}generation"
_KEPT_KINDS: list[str] = []
_kept: dict[str, tuple[str, float, object]] = {}  # key -> (generation, read at (monotonic), value)
KEPT_ENTRIES = 10_000
_generation: ContextVar[str | None] = ContextVar("auth_cache_generation", default=None)


def kept_in_process(prefix: str) -> None:
    """Keep entries whose key starts with `prefix` in the process too (read_ahead); for kinds read on hot paths."""
    if prefix not in _KEPT_KINDS:
        _KEPT_KINDS.append(prefix)


def _is_kept_kind(key: str) -> bool:
    return any(key.startswith(prefix) for prefix in _KEPT_KINDS)


def _kept_copies(keys: list[str]) -> dict:
    generation = _generation.get()
    if generation is None:
        return {}
    oldest = time.monotonic() - settings.GRIDDESK_AUTH_CACHE_SECONDS
    copies = {}
    for key in keys:
        copy = _kept.get(key)
        if copy is not None and copy[0] == generation and copy[1] > oldest:
            copies[key] = copy[2]
    return copies


def _keep(found: dict) -> dict:
    """Keep the entries of kept kinds in `found` under this request's generation (starting one if there is none)."""
    kinds = {key: value for key, value in found.items() if _is_kept_kind(key)}
    if not kinds:
        return found
    generation = _generation.get()
    if generation is None:
        # Not set here: only a request's token read sets it, so work outside a request never uses the copies.
        generation = secrets.token_hex(8)
        if not redis_cache.quietly(cache.add, GENERATION_KEY, generation, None, warning=NOT_ANSWERING):
            return found  # another process started one: its value is unknown here; kept next time
    if len(_kept) >= KEPT_ENTRIES:
        _kept.clear()
    now = time.monotonic()
    for key, value in kinds.items():
        _kept[key] = (generation, now, value)
    return found


def _request_boundary(**kwargs) -> None:
    """A request starts or ends: the generation read by the last one's token is not this one's."""
    _generation.set(None)


request_started.connect(_request_boundary, dispatch_uid="orgs.auth_cache.request_started")
request_finished.connect(_request_boundary, dispatch_uid="orgs.auth_cache.request_finished")


def _not_ahead(keys) -> None:
    ahead = _ahead.get()
    if ahead:
        for key in keys:
            ahead.pop(key, None)


def remembered(key: str):
    """Return what is remembered under `key`, or None (nothing, disabled, or the cache does not answer)."""
    if not enabled():
        return None
    ahead = _ahead.get()
    if ahead is not None and key in ahead:
        return ahead[key]
    return redis_cache.quietly(cache.get, key, warning=NOT_ANSWERING)


def remembered_token(raw: str, *, counter: Callable[[int], tuple[str, str, int] | None] | None = None):
    """Return (what is remembered of token `raw`, its user's scope or None, a count or None), read in one round trip.

    `counter(user id)` may name a throttle counter of the user (key, the last window's key, seconds to keep it:
    config.api.throttling): one call is added to it in the same round trip, and (that counter, its count, the last
    window's count) is answered third. Only for a user this process has seen with this token (token_user_seen)."""
    key = token_key(raw)
    user_id = _token_users.get(key)
    if user_id is None or not enabled():
        return remembered(key), None, None
    counting = counter(user_id) if counter is not None else None
    found = redis_cache.quietly(_get_many, [key, scope_key(user_id), GENERATION_KEY], counting, warning=NOT_ANSWERING)
    if found is None:
        return None, None, None
    _generation.set(found.get(GENERATION_KEY))
    counted = found.pop(COUNTED, None)
    counted = (counting, *counted) if counted is not None else None
    values, scope = found.get(key), found.get(scope_key(user_id))
    user = values.get("user") if isinstance(values, dict) else None
    if not isinstance(user, dict) or user.get("id") != user_id:
        scope = None
    return values, scope, counted


# Where _get_many answers the count it took (not a cache key: cache keys hold a colon).
COUNTED = "counted"


def _get_many(keys: list[str], counting: tuple[str, str, int] | None = None) -> dict:
    """Return cache.get_many(keys); from Redis through a kept client (redis_client), in one MGET.

    `counting` (key, previous key, seconds): also add one to the counter `key` (kept that long) and read `previous
    key`, in the same round trip, answered under COUNTED as (count, previous count); only with Redis."""
    backend = caches[DEFAULT_CACHE_ALIAS]
    if cache is not default_cache or not isinstance(backend, RedisCache):
        return cache.get_many(keys)
    made = [backend.make_and_validate_key(key) for key in keys]
    if counting is None:
        values = redis_client(backend).mget(made)
    else:
        counter, previous = (backend.make_and_validate_key(key) for key in counting[:2])
        seconds = counting[2]
        with redis_client(backend).pipeline(transaction=False) as pipe:
            pipe.mget(made)
            pipe.incr(counter)
            pipe.expire(counter, seconds)
            pipe.get(previous)
            values, count, _, before = pipe.execute()
    loads = backend._cache._serializer.loads
    found = {key: loads(value) for key, value in zip(keys, values, strict=True) if value is not None}
    if counting is not None:
        found[COUNTED] = (count, int(before or 0))
    return found


def redis_client(backend: RedisCache):
    """Return the client of the Redis cache `backend` for commands the cache API lacks (MGET, pipelines).

    The configured backend (config.redis_cache) keeps one client per connection pool, so this builds nothing.
    """
    return backend._cache.get_client(write=True)


def token_user_seen(raw: str, user_id) -> None:
    """Note that token `raw` is user `user_id`'s (in this process: a token's user never changes)."""
    if len(_token_users) >= TOKEN_USERS_KEPT:
        _token_users.clear()
    _token_users[token_key(raw)] = user_id


def remember(key: str, value) -> None:
    if not enabled():
        return
    _not_ahead([key])
    redis_cache.quietly(
        cache.set,
        key,
        value,
        settings.GRIDDESK_AUTH_CACHE_SECONDS,
        warning="auth cache: could not remember %s",
        warning_args=(key.split(":")[1],),
    )


def forget(*keys: str) -> None:
    """Forget `keys` now and again when the current transaction commits."""
    keys = [key for key in keys if key]
    if not keys or not enabled():
        return
    _not_ahead(keys)
    if any(_is_kept_kind(key) for key in keys):
        for key in keys:
            _kept.pop(key, None)
        keys.append(GENERATION_KEY)  # every process's copies: read again
    redis_cache.forget(
        cache,
        keys,
        warning="auth cache: could not forget %d entries; they expire within %s s",
        warning_args=(len(keys), settings.GRIDDESK_AUTH_CACHE_SECONDS),
    )


# --- What is kept: plain values, rebuilt into model instances --------------------------------------------------


def _values(instance: Model, fields) -> dict:
    return {name: getattr(instance, name) for name in fields}


def _instance(model: type[Model], values: dict) -> Model:
    """Return a `model` instance as the database would load it with only `values`' fields (the rest deferred)."""
    names = [f.attname for f in model._meta.concrete_fields if f.attname in values]
    return model.from_db(DEFAULT_DB_ALIAS, names, [values[name] for name in names])


def user_values(user) -> dict:
    """Return what is kept of `user` (USER_FIELDS)."""
    return _values(user, USER_FIELDS)


def user_from(values: dict):
    """Return the user rebuilt from user_values (password and the rest deferred)."""
    return _instance(get_user_model(), values)


def api_key_values(key) -> dict:
    """Return what is kept of a partner key read with its partner app, the app's area and service user."""
    partner = key.partner
    return {
        "key": _values(key, API_KEY_FIELDS),
        "partner": _values(partner, [f.attname for f in partner._meta.concrete_fields]),
        # Not its boundary: large, and read from the database by the few who draw it.
        "area": _values(partner.area, [f.attname for f in partner.area._meta.concrete_fields if f.name != "boundary"]),
        "user": user_values(partner.user),
    }


def api_key_from(values: dict):
    """Return the key rebuilt from api_key_values, with its partner app, area and service user attached."""
    from orgs.models import ApiKey, PartnerApp

    key = _instance(ApiKey, values["key"])
    partner = _instance(PartnerApp, values["partner"])
    partner.area = _instance(partner._meta.get_field("area").related_model, values["area"])
    partner.user = user_from(values["user"])  # also sets the user's `partner_app` (a one-to-one)
    key.partner = partner
    return key
