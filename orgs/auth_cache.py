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
"""

import hashlib
import logging

from django.conf import settings
from django.core.cache import cache
from django.db import transaction
from redis.exceptions import RedisError

logger = logging.getLogger(__name__)

_PREFIX = "auth:"


def enabled() -> bool:
    return settings.GRIDDESK_AUTH_CACHE_SECONDS > 0


def token_key(raw: str) -> str:
    return f"{_PREFIX}token:{hashlib.sha256(raw.encode()).hexdigest()}"


def api_key_key(key_hash: str) -> str:
    return f"{_PREFIX}apikey:{key_hash}"


def scope_key(user_id) -> str:
    return f"{_PREFIX}scope:{user_id}"


def remembered(key: str):
    """Return what is remembered under `key`, or None (nothing, disabled, or the cache does not answer)."""
    if not enabled():
        return None
    try:
        return cache.get(key)
    except (RedisError, OSError):
        logger.warning("auth cache: the shared cache does not answer; reading the database", exc_info=True)
        return None


def remember(key: str, value) -> None:
    if not enabled():
        return
    try:
        cache.set(key, value, settings.GRIDDESK_AUTH_CACHE_SECONDS)
    except (RedisError, OSError):
        logger.warning("auth cache: could not remember %s", key.split(":")[1], exc_info=True)


def forget(*keys: str) -> None:
    """Forget `keys` now and again when the current transaction commits."""
    keys = [key for key in keys if key]
    if not keys or not enabled():
        return
    _forget(keys)
    transaction.on_commit(lambda: _forget(keys))


def _forget(keys) -> None:
    try:
        cache.delete_many(keys)
    except (RedisError, OSError):
        logger.warning(
            "auth cache: could not forget %d entries; they expire within %s s",
            len(keys),
            settings.GRIDDESK_AUTH_CACHE_SECONDS,
            exc_info=True,
        )
