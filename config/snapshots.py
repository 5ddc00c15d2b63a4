"""A value built from a table and kept in this process, rebuilt when the table changes.

Routing (grids.routing: the STRtree of grid boundaries) and the calendar (issues.sla: CalendarDay overrides) read
on every request what changes rarely. Each keeps one TableSnapshot: built on first use, rebuilt at once after
`invalidate()` (signals in this process, or bulk writers), and within `check_seconds()` after a change made by
another process, seen as a new (row count, latest updated_at) of its rows.
"""

import threading
import time
from collections.abc import Callable
from typing import Generic, TypeVar

from django.db.models import Count, Max, QuerySet

T = TypeVar("T")


class TableSnapshot(Generic[T]):
    """Hold `build()`'s value for the rows of `rows()`; rebuild it when they change (see the module docstring)."""

    def __init__(self, *, rows: Callable[[], QuerySet], build: Callable[[], T], check_seconds: Callable[[], float]):
        self._rows, self._build, self._check_seconds = rows, build, check_seconds
        self._lock = threading.Lock()
        # (value, signature, version) replaced as one tuple, so a reader never sees half of a rebuild.
        self._state: tuple[T, tuple, int] | None = None
        self._version = 0  # bumped by invalidate()
        self._checked_at = 0.0

    def _signature(self) -> tuple:
        row = self._rows().aggregate(n=Count("pk"), latest=Max("updated_at"))
        return row["n"], row["latest"]

    def get(self) -> T:
        """Return the value, rebuilding it first when this process invalidated it or another changed the rows."""
        state = self._state
        if state is not None and state[2] == self._version:
            now = time.monotonic()
            if now - self._checked_at < self._check_seconds():
                return state[0]
            self._checked_at = now
            if self._signature() == state[1]:
                return state[0]
        with self._lock:
            state, signature = self._state, self._signature()
            if state is None or state[2] != self._version or state[1] != signature:
                version = self._version
                state = (self._build(), signature, version)
                self._state = state
            self._checked_at = time.monotonic()
            return state[0]

    def invalidate(self) -> None:
        """Make the next get() rebuild the value (call after writes this process made)."""
        self._version += 1
