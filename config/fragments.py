"""Rendered page fragments remembered in this process, keyed by everything they show.

A fragment whose key is a digest of every value it renders (a desk row, the site header) is the same wherever and
whenever it is rendered with that key, so each process may keep its own copy: no other process has anything to tell
it. Entries still expire (`seconds`), for what a key leaves out on purpose (a triage suggestion ranked with the
place's counts of that time), and the oldest go first beyond `size`.
"""

import hashlib
import threading
import time
import weakref
from collections import OrderedDict

_every: "weakref.WeakSet[LocalFragments]" = weakref.WeakSet()


def digest(values) -> str:
    """Return a short digest of `values` (their repr): a fragment's key."""
    return hashlib.blake2b(repr(values).encode(), digest_size=16).hexdigest()


class LocalFragments:
    """A bounded, expiring map of fragment keys to rendered fragments, for one process (thread-safe)."""

    def __init__(self, *, size: int, seconds: float):
        self.size, self.seconds = size, seconds
        self._entries: OrderedDict[str, tuple[float, object]] = OrderedDict()
        self._lock = threading.Lock()
        _every.add(self)

    def get_many(self, keys) -> dict:
        now, found = time.monotonic(), {}
        with self._lock:
            for key in keys:
                entry = self._entries.get(key)
                if entry is None:
                    continue
                if entry[0] < now:
                    del self._entries[key]
                    continue
                self._entries.move_to_end(key)
                found[key] = entry[1]
        return found

    def get(self, key):
        return self.get_many([key]).get(key)

    def set_many(self, values: dict, seconds: float | None = None) -> None:
        expires = time.monotonic() + (self.seconds if seconds is None else seconds)
        with self._lock:
            for key, value in values.items():
                self._entries[key] = (expires, value)
                self._entries.move_to_end(key)
            while len(self._entries) > self.size:
                self._entries.popitem(last=False)

    def set(self, key, value, seconds: float | None = None) -> None:
        self.set_many({key: value}, seconds)

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()


def fragments_clear() -> None:
    """Empty every process-local fragment store (tests: a rolled-back row may come back with another meaning)."""
    for store in list(_every):
        store.clear()
