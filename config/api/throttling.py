"""How often each kind of caller may call: anonymous, resident, staff, partner app (rates in settings).

Rates live in REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"] under the scope names below and are read on every
request (not frozen at import like DRF's THROTTLE_RATES), so `override_settings` and env changes apply.
Counters live in the default cache: in production that must be a shared cache (Redis), or each process
counts on its own. When that cache does not answer, each process counts in its own memory until it answers again
(`DegradingCache`): a Redis outage loosens the limits for a while, it never refuses a resident's submission.
"""

import logging
import time

from django.core.cache import caches
from django.core.cache.backends.locmem import LocMemCache
from redis.exceptions import RedisError
from rest_framework.settings import api_settings
from rest_framework.throttling import SimpleRateThrottle

from config.client_ip import client_ip
from orgs.models import ApiKey
from orgs.scoping import scope_for_user

ANONYMOUS = "anon"
RESIDENT = "resident"
STAFF = "staff"
PARTNER = "partner"
ANONYMOUS_CREATE = "anon_create"

logger = logging.getLogger(__name__)


class DegradingCache:
    """The shared cache, or this process's memory while the shared one fails (then retried every few seconds).

    Only throttle counters use it: a lost count errs towards letting a caller through, never towards a 500.
    """

    RETRY_AFTER_SECONDS = 5.0

    def __init__(self, alias: str = "default"):
        self.alias = alias
        self.local = LocMemCache("griddesk-throttle-fallback", {"OPTIONS": {"MAX_ENTRIES": 10_000}})
        self.down_until = 0.0

    def _call(self, method: str, *args):
        if time.monotonic() >= self.down_until:
            try:
                return getattr(caches[self.alias], method)(*args)
            except (RedisError, OSError):
                logger.warning("throttling: the shared cache does not answer; counting in this process", exc_info=True)
                self.down_until = time.monotonic() + self.RETRY_AFTER_SECONDS
        return getattr(self.local, method)(*args)

    def get(self, key, default=None):
        return self._call("get", key, default)

    def set(self, key, value, timeout=None):
        return self._call("set", key, value, timeout)

    def clear_local(self) -> None:
        """Forget the fallback counts and try the shared cache at once (tests)."""
        self.local.clear()
        self.down_until = 0.0


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


class RuntimeRateThrottle(SimpleRateThrottle):
    """A SimpleRateThrottle whose rate is looked up per request from the current settings."""

    cache = throttle_cache

    def __init__(self):
        # The scope (and so the rate) is only known once the caller is; see allow_request.
        pass

    def get_rate(self):
        return api_settings.DEFAULT_THROTTLE_RATES.get(self.scope)

    def scope_for(self, request, view) -> str | None:
        return self.scope

    def allow_request(self, request, view):
        self.scope = self.scope_for(request, view)
        self.rate = self.get_rate() if self.scope else None
        if self.rate is None:
            return True
        self.num_requests, self.duration = self.parse_rate(self.rate)
        return super().allow_request(request, view)

    def get_ident(self, request):
        """Return the client's address by the one trusted-proxy rule (config.client_ip), not DRF's NUM_PROXIES."""
        return client_ip(request)

    def get_cache_key(self, request, view):
        user = request.user
        ident = f"user-{user.pk}" if user and user.is_authenticated else f"ip-{self.get_ident(request)}"
        return self.cache_format % {"scope": self.scope, "ident": ident}


class CallerKindThrottle(RuntimeRateThrottle):
    """Limit every API request by the caller's kind: per user (or key's user) when signed in, else per address."""

    def scope_for(self, request, view) -> str:
        return caller_kind(request)


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
