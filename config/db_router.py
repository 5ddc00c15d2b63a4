"""Reads that may lag go to the streaming replica: dashboards, statistics and exports (DATABASE_REPLICA_URL).

Only code inside `replica_reads(user=…)` reads from the replica, and only when one is configured; everything else,
and every write, goes to the primary. A streaming replica lags the primary by a little (usually well under a
second, more under heavy load): a desk that just changed an issue and opens the dashboard must see its own change,
so a staff member who wrote (any unsafe request answered below 400, ReplicaPinMiddleware) reads from the primary for
GRIDDESK_REPLICA_PIN_SECONDS afterwards; others may see statistics a moment old (docs/scaling.md "Read replica").
The pin lives in the cache keyed by user, so it holds for sessions and API tokens alike, and for the export jobs the
user starts (the job asks for its requester).
"""

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar

from django.conf import settings
from django.core.cache import cache

REPLICA = "replica"
_reading_replica: ContextVar[bool] = ContextVar("griddesk_replica_reads", default=False)


def replica_configured() -> bool:
    return REPLICA in settings.DATABASES


def _pin_key(user) -> str:
    return f"replica-pin:{user.pk}"


def primary_pin(*, user) -> None:
    """Send `user`'s replica reads to the primary for GRIDDESK_REPLICA_PIN_SECONDS (they just wrote)."""
    if replica_configured() and user is not None and user.is_authenticated:
        cache.set(_pin_key(user), 1, timeout=settings.GRIDDESK_REPLICA_PIN_SECONDS)


def is_pinned_to_primary(user) -> bool:
    return user is not None and user.is_authenticated and cache.get(_pin_key(user)) is not None


@contextmanager
def replica_reads(*, user=None) -> Iterator[bool]:
    """Read from the replica inside this block, unless none is configured or `user` wrote a moment ago; yield which."""
    use = replica_configured() and not is_pinned_to_primary(user)
    token = _reading_replica.set(use)
    try:
        yield use
    finally:
        _reading_replica.reset(token)


class ReplicaRouter:
    """Route reads inside replica_reads() to the replica; everything else (and every write) to the primary."""

    def db_for_read(self, model, **hints):
        return REPLICA if _reading_replica.get() else "default"

    def db_for_write(self, model, **hints):
        return "default"

    def allow_relation(self, obj1, obj2, **hints):
        return True  # the replica is a copy of the primary: an object read there is the same row

    def allow_migrate(self, db, app_label, model_name=None, **hints):
        return db == "default"  # a streaming replica replays the primary's schema; nobody migrates it


class ReplicaPinMiddleware:
    """Pin a user who just wrote (an unsafe method answered below 400) to the primary for their next reads."""

    SAFE = frozenset({"GET", "HEAD", "OPTIONS", "TRACE"})

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        response = self.get_response(request)
        if request.method not in self.SAFE and response.status_code < 400 and replica_configured():
            primary_pin(user=getattr(request, "user", None))
        return response
