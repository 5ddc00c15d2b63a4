"""How often each kind of caller may call: anonymous, resident, staff, partner app (rates in settings).

Rates live in REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"] under the scope names below and are read on every
request (not frozen at import like DRF's THROTTLE_RATES), so `override_settings` and env changes apply.
Counters live in the default cache: in production that must be a shared cache (Redis), or each process
counts on its own. When that cache does not answer, each process counts in its own memory until it answers again
(`DegradingCache`): a Redis outage loosens the limits for a while, it never refuses a resident's submission.

A caller's calls are counted per window of the rate's duration, and the limit applies to a sliding estimate: this
window's count plus the last window's, weighted by how much of it still lies within the duration (the "sliding
window counter"). One round trip (INCR, EXPIRE, GET in a pipeline) and two integers per caller, whatever the rate.
DRF's SimpleRateThrottle kept each caller's timestamps of the last duration in one list, read and written whole
(pickled) on every call: at 1,200/min a partner app's 1,200 floats, and at a benchmark's unlimited rate tens of
thousands, milliseconds per request. A refused call is not counted (its increment is taken back).
"""

import time
from collections.abc import Callable
from typing import NamedTuple

from django.core.cache import caches
from django.core.cache.backends.locmem import LocMemCache
from django.core.cache.backends.redis import RedisCache
from rest_framework.settings import api_settings
from rest_framework.throttling import BaseThrottle

from config.client_ip import client_ip
from config.redis_cache import quietly
from orgs.auth_cache import redis_client
from orgs.models import ApiKey
from orgs.scoping import scope_for_user

ANONYMOUS = "anon"
RESIDENT = "resident"
STAFF = "staff"
PARTNER = "partner"
ANONYMOUS_CREATE = "anon_create"

# What quietly answers when the shared cache does not (a counter's call may answer None).
_DOWN = object()


class DegradingCache:
    """The shared cache, or this process's memory while the shared one fails (then retried every few seconds).

    Only throttle counters use it: a lost count errs towards letting a caller through, never towards a 500.
    """

    RETRY_AFTER_SECONDS = 5.0

    def __init__(self, alias: str = "default"):
        self.alias = alias
        self.local = LocMemCache("griddesk-throttle-fallback", {"OPTIONS": {"MAX_ENTRIES": 10_000}})
        self.down_until = 0.0

    def _call(self, function, *args):
        if time.monotonic() >= self.down_until:
            answer = quietly(
                function,
                caches[self.alias],
                *args,
                default=_DOWN,
                warning="throttling: the shared cache does not answer; counting in this process",
            )
            if answer is not _DOWN:
                return answer
            self.down_until = time.monotonic() + self.RETRY_AFTER_SECONDS
        return function(self.local, *args)

    def count(self, key: str, previous_key: str, timeout: int) -> tuple[int, int]:
        """Add one to the counter `key` (kept `timeout` seconds); return it and the counter `previous_key`."""
        return self._call(_count, key, previous_key, timeout)

    def uncount(self, key: str) -> None:
        """Take back one from the counter `key` (a refused call)."""
        self._call(_uncount, key)

    def clear_local(self) -> None:
        """Forget the fallback counts and try the shared cache at once (tests)."""
        self.local.clear()
        self.down_until = 0.0


def _count(cache, key: str, previous_key: str, timeout: int) -> tuple[int, int]:
    if isinstance(cache, RedisCache):
        # One round trip; INCR is atomic across processes, EXPIRE keeps an idle caller's counter from staying.
        key, previous_key = cache.make_and_validate_key(key), cache.make_and_validate_key(previous_key)
        with redis_client(cache).pipeline(transaction=False) as pipe:
            pipe.incr(key)
            pipe.expire(key, timeout)
            pipe.get(previous_key)
            count, _, previous = pipe.execute()
        return count, int(previous or 0)
    cache.add(key, 0, timeout)
    try:
        count = cache.incr(key)
    except ValueError:  # expired in between
        cache.set(key, 1, timeout)
        count = 1
    return count, int(cache.get(previous_key) or 0)


def _uncount(cache, key: str) -> None:
    if isinstance(cache, RedisCache):
        key = cache.make_and_validate_key(key)
        redis_client(cache).decr(key)
        return
    try:
        cache.decr(key)
    except ValueError:  # expired in between: nothing to take back
        pass


throttle_cache = DegradingCache()


def caller_kind(request) -> str:
    """Return which throttle scope `request`'s caller falls in."""
    user = request.user
    if not (user and user.is_authenticated):
        return ANONYMOUS
    scope = scope_for_user(user)
    if isinstance(request.auth, ApiKey) or scope.is_partner:
        return PARTNER
    if scope.is_staff_member or user.is_staff:
        return STAFF
    return RESIDENT


class RuntimeRateThrottle(BaseThrottle):
    """Limit calls at a rate looked up per request from the current settings, by a sliding window counter."""

    cache = throttle_cache
    cache_format = "throttle_%(scope)s_%(ident)s"
    scope: str | None = None

    def __init__(self):
        # The scope (and so the rate) is only known once the caller is; see allow_request.
        self.wait_seconds = None

    def get_rate(self):
        return api_settings.DEFAULT_THROTTLE_RATES.get(self.scope)

    def scope_for(self, request, view) -> str | None:
        return self.scope

    def allow_request(self, request, view):
        self.scope = self.scope_for(request, view)
        self.rate = self.get_rate() if self.scope else None
        if self.rate is None:
            return True
        limit, duration = parse_rate(self.rate)
        now = time.time()
        elapsed = now % duration
        counter, *rest = _window_counters(self.get_cache_key(request, view), duration, now)
        count, previous = self.count(request, counter, *rest)
        # The last window's calls still inside the duration, assuming they were spread evenly over it.
        if previous * (duration - elapsed) / duration + count <= limit:
            return True
        self.cache.uncount(counter)
        self.wait_seconds = _wait(limit, duration, elapsed, count - 1, previous)
        return False

    def count(self, request, key: str, previous_key: str, timeout: int) -> tuple[int, int]:
        """Count this call on `key`; return its count and the last window's (`previous_key`)."""
        return self.cache.count(key, previous_key, timeout)

    def wait(self):
        return self.wait_seconds

    def get_ident(self, request):
        """Return the client's address by the one trusted-proxy rule (config.client_ip), not DRF's NUM_PROXIES."""
        return client_ip(request)

    def get_cache_key(self, request, view):
        user = request.user
        ident = f"user-{user.pk}" if user and user.is_authenticated else f"ip-{self.get_ident(request)}"
        return self.cache_format % {"scope": self.scope, "ident": ident}


def _window_counters(key: str, duration: int, now: float) -> tuple[str, str, int]:
    """Return a caller's counters at `now` (throttle `key`): this window's, the last window's, and how long to keep
    them (two windows)."""
    window = int(now // duration)
    return f"{key}:{window}", f"{key}:{window - 1}", 2 * duration


def parse_rate(rate: str) -> tuple[int, int]:
    """Return (calls, seconds) of a rate written as DRF writes it: "600/min", "10/hour", "5/s", "100/day"."""
    calls, period = rate.split("/")
    return int(calls), {"s": 1, "m": 60, "h": 3600, "d": 86400}[period[0]]


def _wait(limit: int, duration: int, elapsed: float, count: int, previous: int) -> float:
    """Return the seconds until one more call fits if none is made meanwhile (`count` calls in this window so far).

    At most the duration: the estimate could say up to twice that for a tiny limit (1/hour), and a caller must
    never be told to wait longer than the rate's own period.
    """
    left = duration - elapsed
    if previous and count < limit:
        # Within this window: the last window's weight fades until previous * (left - t) / duration + count + 1 fits.
        wait = left - (limit - count - 1) * duration / previous
    elif count:
        # In the next window this one is the last: count * (duration - t) / duration + 1 fits.
        wait = left + duration * (1 - (limit - 1) / count)
    else:
        wait = left
    return min(max(wait, 1.0), duration)


class CallerKindThrottle(RuntimeRateThrottle):
    """Limit every API request by the caller's kind: per user (or key's user) when signed in, else per address.

    A person signed in with a token has the call counted with the read of the token (config.api.authentication,
    counter_ahead) when this process knows their kind from an earlier call: one Redis round trip fewer a request.
    """

    def scope_for(self, request, view) -> str:
        kind = caller_kind(request)
        if request.user and request.user.is_authenticated:
            if len(_user_kinds) >= USER_KINDS_KEPT:
                _user_kinds.clear()
            _user_kinds[request.user.pk] = kind
        return kind

    def count(self, request, key: str, previous_key: str, timeout: int) -> tuple[int, int]:
        ahead = _taken_ahead(request)
        if ahead is not None:
            if ahead.key == key:
                return ahead.count, ahead.previous
            self.cache.uncount(ahead.key)  # another kind, or the window turned: counted where it belongs instead
        return super().count(request, key, previous_key, timeout)


# Each signed-in user's kind as this process last saw it (CallerKindThrottle): what their next call is counted as.
_user_kinds: dict[int, str] = {}
USER_KINDS_KEPT = 100_000


class CountedAhead(NamedTuple):
    """A call counted with the read of its token, before its throttles ran: the counter, and what it answered."""

    key: str
    count: int
    previous: int


def counter_ahead(view) -> Callable[[int], tuple[str, str, int] | None] | None:
    """Return, for orgs.auth_cache.remembered_token, the counter of a request to `view` by a user (key, last window's
    key, seconds), or None when `view` is not limited by CallerKindThrottle."""
    if not any(issubclass(throttle, CallerKindThrottle) for throttle in getattr(view, "throttle_classes", ())):
        return None

    def counter(user_id: int) -> tuple[str, str, int] | None:
        kind = _user_kinds.get(user_id)
        rate = api_settings.DEFAULT_THROTTLE_RATES.get(kind) if kind else None
        if rate is None:
            return None
        _, duration = parse_rate(rate)
        key = CallerKindThrottle.cache_format % {"scope": kind, "ident": f"user-{user_id}"}
        return _window_counters(key, duration, time.time())

    return counter


def counted_ahead(request, counter: tuple[str, str, int], count: int, previous: int) -> None:
    """Note on `request` the call counted with its token's read (CallerKindThrottle takes it)."""
    request.griddesk_counted_ahead = CountedAhead(counter[0], count, previous)


def _taken_ahead(request) -> CountedAhead | None:
    ahead = getattr(request, "griddesk_counted_ahead", None)
    request.griddesk_counted_ahead = None
    return ahead


def take_back_ahead(request) -> None:
    """Take back a call counted ahead whose throttles never ran (refused before them: authentication, permission):
    DRF counts no such call."""
    ahead = _taken_ahead(request) if request is not None else None
    if ahead is not None:
        throttle_cache.uncount(ahead.key)


class AnonCreateThrottle(RuntimeRateThrottle):
    """Limit anonymous creation (POST) per client address; the issues API adds it to its create action.

    Use: `throttle_classes = [*api_settings.DEFAULT_THROTTLE_CLASSES, AnonCreateThrottle]` on the view (or
    `get_throttles()` for the create action). Signed-in callers and safe methods are not counted here.
    """

    scope = ANONYMOUS_CREATE

    def scope_for(self, request, view) -> str | None:
        if request.method != "POST" or (request.user and request.user.is_authenticated):
            return None
        return ANONYMOUS_CREATE
