"""A values() query over a few rows by primary key, compiled to SQL once per process and run again with other keys.

Building and compiling a queryset with many expressions (issues.rollups' flags: a CASE per figure, subqueries) costs
more Python time than the database spends answering it for one row, and the write path runs it on every change of an
issue. `CompiledValues(build)` builds `build(keys)` once per database and number of keys with stand-in keys, keeps
its SQL and where the keys go among its parameters, and afterwards only swaps the keys in. That is only sound for a
query whose SQL depends on nothing but its keys (no `now`, no setting read at build time): say so where it is used.

Rows come back as dicts named as values() names them (the column aliases). Values are what the database driver
answers, without Django's converters: a caller that reads dates must accept SQLite's text as well as a date (as
issues.rollups does); a UUID primary key comes back as a UUID on PostgreSQL and as hex text on SQLite.
"""

import threading
import uuid
from collections.abc import Callable, Sequence

from django.db import connections, router
from django.db.models import Model, QuerySet

# Shapes (database alias × number of keys) remembered per query: a sweep's batches come in a few sizes.
MAX_SHAPES = 16


class CompiledValues:
    """Run `build(keys)`, a values() queryset of `model` filtered by primary key, compiled once per shape."""

    def __init__(self, model: type[Model], build: Callable[[Sequence], QuerySet], *, for_write: bool = False):
        self.model = model
        self.build = build
        # Routed as the queryset would be: a read by db_for_read, a locking read (select_for_update) by db_for_write.
        self.for_write = for_write
        self._shapes: dict[tuple[str, int], tuple[str, tuple, list[int]] | None] = {}
        self._lock = threading.Lock()

    def rows(self, keys: Sequence) -> list[dict]:
        """Return the rows of `build(keys)` as dicts; `keys` are primary key values (UUIDs)."""
        keys = list(keys)
        if not keys:
            return list(self.build(keys))
        alias = (router.db_for_write if self.for_write else router.db_for_read)(self.model)
        shape = self._shapes.get((alias, len(keys)), False)
        if shape is False:
            shape = self._compile(alias, len(keys))
        if shape is None:  # the stand-ins did not map onto the parameters one to one: use the ORM
            return list(self.build(keys))
        sql, params, slots = shape
        connection = connections[alias]
        pk = self.model._meta.pk
        params = list(params)
        for slot, key in zip(slots, keys, strict=True):
            params[slot] = pk.get_db_prep_value(key, connection)
        with connection.cursor() as cursor:
            cursor.execute(sql, params)
            names = [column[0] for column in cursor.description]
            return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]

    def _compile(self, alias: str, count: int):
        stand_ins = [uuid.uuid4() for _ in range(count)]
        queryset = self.build(stand_ins)
        connection = connections[alias]
        sql, params = queryset.query.get_compiler(using=alias).as_sql()
        pk = self.model._meta.pk
        prepared = [pk.get_db_prep_value(key, connection) for key in stand_ins]
        # Where each parameter value sits, in one pass (a sweep's chunk has a thousand keys among its parameters).
        positions: dict = {}
        for i, param in enumerate(params):
            try:
                positions.setdefault(param, []).append(i)
            except TypeError:  # unhashable (a list): never a stand-in key
                continue
        slots = []
        for value in prepared:
            found = positions.get(value, ())
            if len(found) != 1:
                slots = None
                break
            slots.append(found[0])
        shape = (sql, tuple(params), slots) if slots is not None else None
        with self._lock:
            if len(self._shapes) >= MAX_SHAPES:
                self._shapes.clear()
            self._shapes[alias, count] = shape
        return shape


def session_prepared(connection, name: str) -> bool:
    """Return whether `name` is prepared on `connection`'s session now; note that it will be, if not.

    A reconnection (CONN_MAX_AGE, a failed health check) is a new session, without the statements of the last one.
    """
    connection.ensure_connection()
    raw = connection.connection
    session = (id(raw), raw.info.backend_pid)
    known = getattr(connection, "griddesk_prepared", None)
    if known is None or known[0] != session:
        known = connection.griddesk_prepared = (session, set())
    if name in known[1]:
        return True
    known[1].add(name)
    return False
