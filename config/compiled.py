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
from collections import OrderedDict
from collections.abc import Callable, Sequence
from contextlib import contextmanager, nullcontext
from typing import NamedTuple

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


# Statements prepared per database session at most: a resident's issue page prepares one per resident (its scope),
# so a connection kept for hours would otherwise hold thousands in the server's memory. The least recently run
# beyond this are deallocated.
PREPARED_PER_SESSION = 500


# On a database with partitioned tables (issues.partitioning: issues and events by month), PostgreSQL plans a prepared
# statement's first five executions for their values (custom plans) before it settles on a generic one, and each such
# plan of a lean read over ~60 partitions took 11–13 ms, ten times its execution. There the session's first batch
# makes every plan of the session generic (plan_cache_mode): planned once at its first execution, partitions pruned
# at run time by the values, as the generic plans PostgreSQL picks itself from the sixth execution on. Sent in the same
# round trip as that batch, a catalog read once per session: on a database without partitioned tables it sets nothing.
GENERIC_PLANS_WHEN_PARTITIONED = (
    "SELECT set_config('plan_cache_mode', 'force_generic_plan', false) WHERE EXISTS (SELECT FROM pg_partitioned_table)"
)


class _Session:
    """The statements prepared on one database session, least recently run first; `unsure` after a failed batch;
    `setting_up` until a batch carrying GENERIC_PLANS_WHEN_PARTITIONED succeeded."""

    def __init__(self, key):
        self.key, self.names, self.unsure, self.setting_up = key, OrderedDict(), False, True


class Prepared(NamedTuple):
    """One statement of a round trip: `execute` (an `EXECUTE name(…)` with the driver's placeholders for `params`) of
    the statement `statement` (its text with $1… placeholders, or a function returning it) prepared as `name`; with
    `name` None, `execute` is plain SQL sent as it is."""

    name: str | None
    statement: Callable[[], str] | str | None
    execute: str
    params: Sequence


def execute_prepared(connection, name: str, *, statement: Callable[[], str] | str, execute: str, params) -> list:
    """Run `execute` (an `EXECUTE name(…)` with the driver's placeholders for `params`) and return its rows; when
    this session has not prepared `name`, send `PREPARE name AS statement` ($1… placeholders) in the same round trip.

    A statement counts as prepared only once its batch succeeded: a PREPARE in a transaction that was already
    failing does not exist afterwards. After a failed batch the session's statements are unknown: the next batch
    starts with DEALLOCATE ALL. A reconnection (CONN_MAX_AGE, a failed health check) is a new session, without the
    statements of the last one.
    """
    return execute_prepared_many(connection, [Prepared(name, statement, execute, params)])


def execute_prepared_many(connection, statements: Sequence[Prepared], *, alone: bool = False) -> list:
    """Send `statements` in one round trip, each prepared first where this session has not (execute_prepared), and
    return the rows of the last.

    `alone`: inside `sent_alone` and with nothing sent to the server in this transaction yet, they go as a
    transaction of their own (a query of several statements is one transaction in PostgreSQL): the BEGIN and COMMIT
    round trips are saved, the atomic block's commit finds nothing left to commit and runs its on_commit hooks.
    """
    connection.ensure_connection()
    raw = connection.connection
    key = (id(raw), raw.info.backend_pid)
    session = getattr(connection, "griddesk_prepared", None)
    if session is None or session.key != key:
        session = connection.griddesk_prepared = _Session(key)
    names = session.names
    if session.unsure:
        names.clear()
    sql, params, preparing, evicted = [], [], [], []
    running = {name for name, *_ in statements}
    for name, statement, execute, values in statements:
        if name is not None and name not in names and name not in preparing:
            # The least recently run beyond the session's limit go, never one this round trip runs.
            excess = len(names) - len(evicted) + len(preparing) + 1 - PREPARED_PER_SESSION
            evicted += [old for old in names if old not in evicted and old not in running][: max(0, excess)]
            text = statement() if callable(statement) else statement
            # The PREPARE's text holds no placeholder of the driver's: its percent signs are escaped for it.
            sql.append(f"PREPARE {name} AS {text.replace('%', '%%')}")
            preparing.append(name)
        sql.append(execute)
        params.extend(values)
    sql = [*(f"DEALLOCATE {old}" for old in evicted), *sql]
    if session.setting_up and GENERIC_PLANS_WHEN_PARTITIONED:
        sql.insert(0, GENERIC_PLANS_WHEN_PARTITIONED)
    if session.unsure:
        sql.insert(0, "DEALLOCATE ALL")
    own = alone and alone_allowed(connection)
    try:
        try:
            with before_begin(connection) if own else nullcontext(), connection.cursor() as cursor:
                cursor.execute("; ".join(sql), params)
                rows = cursor.fetchall()
        finally:
            if own:
                connection.griddesk_alone = _SENT
    except Exception:
        session.unsure = True
        raise
    session.unsure = session.setting_up = False
    for old in evicted:
        del names[old]
    for name, *_ in statements:
        if name is not None:
            names[name] = None
            names.move_to_end(name)
    return rows


_ALLOWED, _SENT = "allowed", "sent"


def alone_allowed(connection) -> bool:
    """Say whether an `execute_prepared_many(…, alone=True)` sent now would go as a transaction of its own (inside
    `sent_alone`, nothing sent to the server in this transaction yet)."""
    if getattr(connection, "griddesk_alone", None) != _ALLOWED:
        return False
    connection.ensure_connection()
    return _nothing_sent(connection.connection)


@contextmanager
def before_begin(connection):
    """Run the block's statements as transactions of their own, before the atomic block's BEGIN (psycopg2 sends it
    with the first statement); only where nothing was sent in the block yet (nothing_sent).

    A block that a statement began itself (BEGIN … COMMIT in its text: issues.numbering's) and that failed before its
    COMMIT is rolled back, as the server ends a failed implicit transaction, or the next statement would find it
    aborted.
    """
    raw = connection.connection
    raw.autocommit = True
    try:
        yield
    except Exception:
        if not _nothing_sent(raw):
            raw.cursor().execute("ROLLBACK")
        raise
    finally:
        raw.autocommit = False


def nothing_sent(connection) -> bool:
    """Say whether a PostgreSQL connection has no transaction open on the server (an atomic block's BEGIN not sent
    yet: psycopg2 sends it with the first statement): a statement sent now with autocommit on is a transaction of its
    own, before the block's."""
    connection.ensure_connection()
    return _nothing_sent(connection.connection)


def _nothing_sent(raw) -> bool:
    """Say whether the server has no transaction open on this psycopg2 connection (its BEGIN is not sent yet)."""
    from psycopg2.extensions import TRANSACTION_STATUS_IDLE

    return raw.info.transaction_status == TRANSACTION_STATUS_IDLE


@contextmanager
def sent_alone(connection):
    """Allow the block's one `execute_prepared_many(…, alone=True)` to go as a transaction of its own.

    Open it first thing inside a durable atomic block on PostgreSQL whose last statement that call sends. A statement
    sent after it would run in a second transaction, not with the first: it raises instead (a programming error).
    """
    if connection.vendor != "postgresql":
        yield
        return

    def after_alone(execute, sql, params, many, context):
        if connection.griddesk_alone == _SENT:
            raise RuntimeError("A statement after the transaction sent alone (config.compiled.sent_alone).")
        return execute(sql, params, many, context)

    connection.griddesk_alone = _ALLOWED
    try:
        with connection.execute_wrapper(after_alone):
            yield
    finally:
        connection.griddesk_alone = None
