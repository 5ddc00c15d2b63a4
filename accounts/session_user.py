"""The signed-in user of a session, remembered between requests, with what the header shows of their memberships.

Every page signed in with a session read the user by id (django.contrib.auth.get_user) and then the user's
memberships for the header (orgs.context_processors): two queries before any work. What they gave is kept in the
shared cache (orgs.auth_cache's, for GRIDDESK_AUTH_CACHE_SECONDS; off where that cache is off) under the user's id and
the secret key, and forgotten when what it says changes (accounts.signals): the user saved (a password change,
active or not, a name) or deleted, a membership saved or deleted.

Django's session check stays: a session is accepted from the cache only if the session's hash equals the hash
Django computed for this user with the current secret key when the entry was written (the same HMAC of the password
hash every session already carries, never the password hash itself), under the same authentication backend;
anything else (no entry, another hash, a hash made with a fallback key) goes through django.contrib.auth.get_user
as before, which logs out, cycles or accepts exactly as it always did. The user is rebuilt from orgs.auth_cache's
USER_FIELDS with the rest deferred: code that reads the password reads it from the database.

A module of its own beside orgs.auth_cache (the API's tokens and partner keys): that cache is keyed by a token,
this one by a session's user, and it also holds the header's memberships, which the API never reads.
"""

import hashlib

from django.conf import settings
from django.contrib import auth
from django.contrib.auth import BACKEND_SESSION_KEY, HASH_SESSION_KEY, SESSION_KEY, get_user_model
from django.contrib.auth.middleware import AuthenticationMiddleware
from django.utils.crypto import constant_time_compare
from django.utils.functional import SimpleLazyObject

from orgs import auth_cache

# Set on a user read by session_user: the (role, holds an area) of each of their memberships, for the header.
MEMBERSHIPS_ATTR = "_griddesk_header_memberships"


def session_user_key(user_id) -> str:
    """Return the cache key of a session's user: a new secret key never finds the entries of the old one."""
    secret = hashlib.sha256(settings.SECRET_KEY.encode()).hexdigest()[:12]
    return f"auth:session-user:{secret}:{user_id}"


def session_user_forget(user_id) -> None:
    """Forget what is remembered of user `user_id` (now and when the transaction commits)."""
    auth_cache.forget(session_user_key(user_id))


def membership_rows(user) -> list[tuple[str, bool]]:
    """Return (role, holds an area) of each of `user`'s memberships: remembered with the session's user, or read."""
    rows = getattr(user, MEMBERSHIPS_ATTR, None)
    if rows is None:
        rows = [(role, area_id is not None) for role, area_id in user.memberships.values_list("role", "area_id")]
        setattr(user, MEMBERSHIPS_ATTR, rows)
    return rows


def session_user(request):
    """Return the session's user as django.contrib.auth.get_user would, from the cache when it holds them."""
    session = request.session
    try:
        user_id = get_user_model()._meta.pk.to_python(session[SESSION_KEY])
        backend_path = session[BACKEND_SESSION_KEY]
        session_hash = session.get(HASH_SESSION_KEY)
    except KeyError:
        return auth.get_user(request)  # signed out: the anonymous user, as before
    key = session_user_key(user_id)
    entry = auth_cache.remembered(key)
    if (
        isinstance(entry, dict)
        and session_hash
        and backend_path in settings.AUTHENTICATION_BACKENDS
        and entry["backend"] == backend_path
        and constant_time_compare(entry["hash"], session_hash)
    ):
        user = auth_cache.user_from(entry["user"])
        setattr(user, MEMBERSHIPS_ATTR, entry["memberships"])
        return user
    user = auth.get_user(request)
    # Remembered only when the session was verified with the current secret key (not cycled from a fallback one).
    if user.is_authenticated and user.pk == user_id and auth_cache.enabled():
        auth_hash = user.get_session_auth_hash()
        if session.get(HASH_SESSION_KEY) and constant_time_compare(session[HASH_SESSION_KEY], auth_hash):
            entry = {
                "backend": backend_path,
                "hash": auth_hash,
                "user": auth_cache.user_values(user),
                "memberships": membership_rows(user),
            }
            auth_cache.remember(key, entry)
    return user


def _get_user(request):
    if not hasattr(request, "_cached_user"):
        request._cached_user = session_user(request)
    return request._cached_user


class SessionUserMiddleware(AuthenticationMiddleware):
    """django.contrib.auth's AuthenticationMiddleware, with the user read through session_user."""

    def process_request(self, request):
        super().process_request(request)
        request.user = SimpleLazyObject(lambda: _get_user(request))
