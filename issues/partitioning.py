"""Issues and events partitioned by month: PostgreSQL declarative partitioning, on demand (docs/scaling.md).

The schema the migrations make is one table each, and stays the default (SQLite, and PostgreSQL until an operator
converts). `manage.py partition_by_month` converts `issues_issue` (RANGE on `created_at`) and `issues_event` (RANGE
on `at`) in one transaction: each table is renamed, a partitioned table with the same columns, defaults, identity and
checks takes its name, one partition per local month (Asia/Shanghai, the months a district counts in) from the oldest
row's to `ahead` months past the current one, plus one for anything older (`_before`), the rows are moved month by
month in time order, then the primary key, unique constraints, indexes (the sweep's partial ones included), foreign
keys out and triggers are made again on the parent (PostgreSQL builds each partition's). `partitions_ensure` (the
`issues.partitions_ensure` beat task) keeps `ahead` months of empty partitions ready; there is no DEFAULT partition,
so a row of a month without one would be refused, and the task runs daily to keep that from happening.

What PostgreSQL requires, and what it costs here:
- Every unique constraint holds the partition key: the issue's primary key becomes (id, created_at), its number's
  uniqueness (number, created_at) (numbers are unique by construction: issues.numbering), the event's (id, at).
- A foreign key pointing at a partitioned table needs a unique key it can name, and nothing unique is `id` alone any
  more: the constraints pointing at issues (dispatches, events, ratings, photos, marks, notifications, …, and an
  issue's duplicate_of) are dropped and listed in the result. Django still cascades and protects in Python; what the
  database no longer refuses is a row pointing at an issue that does not exist, written by SQL past the ORM.
- A lookup by id alone probes every partition it cannot rule out (an issue's events, the sweep's reads by key); the
  detail walks the months newest first and stops at the issue's. Lists read the newest months first and a cursor's
  `created_at <` prunes the newer ones. Measured at 10 M issues: docs/scaling.md.
"""

import datetime
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from zoneinfo import ZoneInfo

from django.conf import settings
from django.db import connections, transaction

from issues.models import Event, Issue

# The partitioned tables and their partition keys, in the order they are converted (events point at issues: the
# issues' incoming foreign keys, the events' among them, go first).
PARTITION_KEYS = {Issue._meta.db_table: "created_at", Event._meta.db_table: "at"}
AHEAD_MONTHS = 3
# Serializes partitions_ensure runs (two beats, a command and a beat): CREATE TABLE IF NOT EXISTS can still race.
_LOCK_KEY = 0x6764_7061_7274  # "gdpart"


class PartitioningRefused(Exception):
    """The database cannot be converted (not PostgreSQL, or already partitioned)."""


@dataclass
class Conversion:
    """What converting one table did."""

    table: str
    key: str
    rows: int = 0
    partitions: list[str] = field(default_factory=list)
    dropped_foreign_keys: list[str] = field(default_factory=list)  # "table.constraint" pointing at this table


def _zone() -> ZoneInfo:
    return ZoneInfo(settings.TIME_ZONE)


def month_start(moment: datetime.datetime) -> datetime.date:
    """Return the first day of `moment`'s local month."""
    local = moment.astimezone(_zone())
    return datetime.date(local.year, local.month, 1)


def month_next(month: datetime.date, months: int = 1) -> datetime.date:
    index = month.year * 12 + month.month - 1 + months
    return datetime.date(index // 12, index % 12 + 1, 1)


def month_bound(month: datetime.date) -> str:
    """Return the local midnight starting `month`, as a timestamptz literal."""
    return datetime.datetime(month.year, month.month, 1, tzinfo=_zone()).isoformat()


def partition_name(table: str, month: datetime.date | None) -> str:
    return f"{table}_before" if month is None else f"{table}_p{month:%Y%m}"


def is_partitioned(table: str, *, using: str = "default") -> bool:
    """Return whether `table` is a partitioned table (always False off PostgreSQL)."""
    connection = connections[using]
    if connection.vendor != "postgresql":
        return False
    with connection.cursor() as cursor:
        cursor.execute("SELECT relkind FROM pg_class WHERE oid = to_regclass(%s)", [table])
        row = cursor.fetchone()
    return bool(row) and row[0] == "p"


def partition_by_month(
    *, ahead: int = AHEAD_MONTHS, using: str = "default", progress: Callable[[Iterable], Iterable] | None = None
) -> list[Conversion]:
    """Convert issues and events into tables partitioned by month, in one transaction; return what was done.

    Refuses (PartitioningRefused) off PostgreSQL or when either table is partitioned already. `progress` wraps the
    iterable of months being moved (a progress bar); None: no bar. Holds ACCESS EXCLUSIVE locks on both tables until
    it commits: the site waits meanwhile (minutes at 10 M issues; docs/scaling.md).
    """
    connection = connections[using]
    if connection.vendor != "postgresql":
        raise PartitioningRefused(
            f"Partitioning needs PostgreSQL; this database is {connection.vendor}: nothing was changed."
        )
    with transaction.atomic(using=using):
        already = [table for table in PARTITION_KEYS if is_partitioned(table, using=using)]
        if already:
            raise PartitioningRefused(f"{', '.join(already)} already partitioned: nothing was changed.")
        with connection.cursor() as cursor:
            # Index builds (the trigram GIN indexes above all) run inside this transaction, on every row.
            cursor.execute("SET LOCAL maintenance_work_mem = '512MB'")
            # A caller's pending deferred foreign-key checks (a test's transaction) would forbid the ALTER TABLEs:
            # run them now.
            cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")
            cursor.execute(f"LOCK TABLE {', '.join(PARTITION_KEYS)} IN ACCESS EXCLUSIVE MODE")
        return [
            _table_partition(connection, table, key, ahead=ahead, progress=progress)
            for table, key in PARTITION_KEYS.items()
        ]


def _table_partition(connection, table: str, key: str, *, ahead: int, progress) -> Conversion:
    done = Conversion(table=table, key=key)
    old = f"{table}_unpartitioned"
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT c.relname, pg_get_indexdef(i.indexrelid), con.contype, con.conname FROM pg_index i"
            " JOIN pg_class c ON c.oid = i.indexrelid"
            " LEFT JOIN pg_constraint con ON con.conindid = i.indexrelid AND con.conrelid = i.indrelid"
            " WHERE i.indrelid = %s::regclass ORDER BY c.relname",
            [table],
        )
        indexes = cursor.fetchall()
        cursor.execute(
            "SELECT conname, contype, pg_get_constraintdef(oid), array(SELECT attname FROM pg_attribute"
            " WHERE attrelid = conrelid AND attnum = ANY(conkey) ORDER BY array_position(conkey, attnum))"
            " FROM pg_constraint WHERE conrelid = %s::regclass AND contype IN ('p', 'u', 'f') ORDER BY conname",
            [table],
        )
        constraints = cursor.fetchall()
        cursor.execute(
            "SELECT conrelid::regclass::text, conname FROM pg_constraint WHERE confrelid = %s::regclass"
            " AND contype = 'f' ORDER BY 1, 2",
            [table],
        )
        incoming = cursor.fetchall()
        cursor.execute(
            "SELECT pg_get_triggerdef(oid) FROM pg_trigger WHERE tgrelid = %s::regclass AND NOT tgisinternal", [table]
        )
        triggers = [row[0] for row in cursor.fetchall()]
        cursor.execute("SELECT reloptions FROM pg_class WHERE oid = %s::regclass", [table])
        reloptions = cursor.fetchone()[0] or []
        cursor.execute(f"SELECT min({key}), max({key}) FROM {table}")
        oldest, newest = cursor.fetchone()

        for referring, name in incoming:
            cursor.execute(f'ALTER TABLE {referring} DROP CONSTRAINT "{name}"')
            done.dropped_foreign_keys.append(f"{referring}.{name}")
        cursor.execute(f"ALTER TABLE {table} RENAME TO {old}")
        cursor.execute(
            f"CREATE TABLE {table} (LIKE {old} INCLUDING DEFAULTS INCLUDING IDENTITY INCLUDING CONSTRAINTS"
            f" INCLUDING STORAGE INCLUDING COMMENTS) PARTITION BY RANGE ({key})"
        )
        now = datetime.datetime.now(datetime.UTC)
        first = month_start(oldest) if oldest else month_start(now)
        last = month_next(month_start(max(newest or now, now)), ahead)
        with_options = f" WITH ({', '.join(reloptions)})" if reloptions else ""
        months = [None]
        month = first
        while month <= last:
            months.append(month)
            month = month_next(month)
        for month in months:
            start = "MINVALUE" if month is None else f"'{month_bound(month)}'"
            end = f"'{month_bound(first if month is None else month_next(month))}'"
            name = partition_name(table, month)
            cursor.execute(
                f"CREATE TABLE {name} PARTITION OF {table} FOR VALUES FROM ({start}) TO ({end}){with_options}"
            )
            done.partitions.append(name)
        # Month by month, each straight into its partition (no routing), in time order as production writes them.
        for month in progress(months) if progress else months:
            low = "" if month is None else f"{key} >= '{month_bound(month)}' AND "
            high = f"{key} < '{month_bound(first if month is None else month_next(month))}'"
            cursor.execute(
                f"INSERT INTO {partition_name(table, month)} SELECT * FROM {old} WHERE {low}{high} ORDER BY {key}"
            )
            done.rows += cursor.rowcount
        cursor.execute(f"SELECT count(*) FROM {old}")
        if cursor.fetchone()[0] != done.rows:
            raise RuntimeError(f"{table}: rows outside every partition; nothing was changed")
        # An identity column (the event's id) keeps counting where the old table's sequence was.
        cursor.execute(
            "SELECT a.attname, pg_get_serial_sequence(%s, a.attname) FROM pg_attribute a"
            " WHERE a.attrelid = %s::regclass AND a.attidentity <> ''",
            [old, old],
        )
        identities = cursor.fetchall()
        for column, sequence in identities:
            cursor.execute(f"SELECT last_value, is_called FROM {sequence}")
            last_value, is_called = cursor.fetchone()
            cursor.execute(
                "SELECT setval(pg_get_serial_sequence(%s, %s), %s, %s)", [table, column, last_value, is_called]
            )
        cursor.execute(f"DROP TABLE {old}")
        for column, sequence in identities:
            # The new identity's sequence was named beside the old one's (…_seq1); take the old name back.
            old_name, new_name = sequence.split(".")[-1].strip('"'), _sequence(cursor, table, column)
            if new_name != old_name:
                cursor.execute(f'ALTER SEQUENCE "{new_name}" RENAME TO "{old_name}"')

        for name, kind, definition, columns in constraints:
            if kind == "f":
                if f"REFERENCES {table}(" in definition:
                    continue  # pointing at itself (duplicate_of): dropped above with the others
                cursor.execute(f'ALTER TABLE {table} ADD CONSTRAINT "{name}" {definition}')
                continue
            keyed = [*columns, key] if key not in columns else columns
            kind_sql = "PRIMARY KEY" if kind == "p" else "UNIQUE"
            cursor.execute(f'ALTER TABLE {table} ADD CONSTRAINT "{name}" {kind_sql} ({", ".join(keyed)})')
        for name, definition, constraint_kind, _ in indexes:
            if constraint_kind:
                continue  # made by its constraint above
            if definition.startswith("CREATE UNIQUE"):
                raise PartitioningRefused(f"{table}: unique index {name} without its constraint; nothing was changed")
            cursor.execute(definition)
        for definition in triggers:
            cursor.execute(definition)
        cursor.execute(f"ANALYZE {table}")
    return done


def _sequence(cursor, table: str, column: str) -> str:
    cursor.execute("SELECT pg_get_serial_sequence(%s, %s)", [table, column])
    return cursor.fetchone()[0].split(".")[-1].strip('"')


def partitions_ensure(
    *, ahead: int = AHEAD_MONTHS, now: datetime.datetime | None = None, using: str = "default"
) -> list[str]:
    """Create the missing monthly partitions up to `ahead` months past `now`'s; return their names.

    Nothing to do (and nothing done) off PostgreSQL or while the tables are not partitioned. Safe to run any number
    of times, also at once: each run takes a transaction-level advisory lock and creates only what is missing, from
    the month after the newest partition (so a gap left by a stopped beat is filled) on.
    """
    connection = connections[using]
    if connection.vendor != "postgresql":
        return []
    now = now or datetime.datetime.now(datetime.UTC)
    created = []
    with transaction.atomic(using=using), connection.cursor() as cursor:
        cursor.execute("SELECT pg_advisory_xact_lock(%s)", [_LOCK_KEY])
        for table in PARTITION_KEYS:
            if not is_partitioned(table, using=using):
                continue
            cursor.execute(
                "SELECT c.relname, c.reloptions FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid"
                " WHERE i.inhparent = %s::regclass AND c.relname LIKE %s ORDER BY c.relname DESC LIMIT 1",
                [table, f"{table}\\_p______"],
            )
            newest = cursor.fetchone()
            if newest is None:
                continue
            name, reloptions = newest
            month = month_next(datetime.date(int(name[-6:-2]), int(name[-2:]), 1))
            last = month_next(month_start(now), ahead)
            with_options = f" WITH ({', '.join(reloptions)})" if reloptions else ""
            while month <= last:
                name = partition_name(table, month)
                cursor.execute(
                    f"CREATE TABLE {name} PARTITION OF {table} FOR VALUES FROM ('{month_bound(month)}')"
                    f" TO ('{month_bound(month_next(month))}'){with_options}"
                )
                created.append(name)
                month = month_next(month)
    return created
