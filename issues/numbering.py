"""Human-readable issue numbers: GD-YYYYMMDD-NNNNN, a daily sequence per local (Asia/Shanghai) day.

Numbers are unique and rise through the day; they may skip (API.md promises "human-readable, unique", not
gapless): a submission takes its number in a short transaction of its own before its long one, so that the day's
counter row is locked for one statement, not for the whole submission and its commit (which serialized every
create). A submission that then fails, or an Idempotency-Key retry answered with the first issue, leaves its
number unused.
"""

from datetime import date

from django.db import connection
from django.utils import timezone

from issues.models import IssueCounter

PREFIX = "GD"

_TABLE = IssueCounter._meta.db_table
# One statement takes the next value: an insert for the day's first number, else an increment of the row. Inside a
# transaction the row stays locked until it ends, so two submissions never share a number, on PostgreSQL (row lock on
# conflict) and on SQLite (one writer at a time); both support ON CONFLICT … RETURNING.
_NEXT_SQL = (
    f"INSERT INTO {_TABLE} (day, last) VALUES (%s, 1) "
    f"ON CONFLICT (day) DO UPDATE SET last = {_TABLE}.last + 1 RETURNING last"
)
# The same on its own (autocommit) on PostgreSQL, committed without waiting for the disk (synchronous_commit off for
# this one statement's transaction): the counter row is locked for microseconds instead of a WAL flush. Safe: the
# issue that uses the number commits synchronously later, and flushing its commit flushes all WAL before it,
# this increment included; if the server stops before that, no issue holds the number and the counter loses nothing
# anyone saw.
_NEXT_ASYNC_SQL = (
    f"INSERT INTO {_TABLE} (day, last) SELECT %s, 1 FROM (SELECT set_config('synchronous_commit', 'off', true)) AS s "
    f"ON CONFLICT (day) DO UPDATE SET last = {_TABLE}.last + 1 RETURNING last"
)


def issue_number_next(*, day: date | None = None) -> str:
    """Return the next number of `day` (default: today, local time).

    Called outside a transaction (issue_submit calls it just before its own), the number is taken and committed at
    once; inside one, it is taken in that transaction and the counter row stays locked until it ends.
    """
    day = day or timezone.localdate()
    alone = connection.vendor == "postgresql" and not connection.in_atomic_block
    with connection.cursor() as cursor:
        # The day as text: sqlite3's default date adapter is deprecated.
        cursor.execute(_NEXT_ASYNC_SQL if alone else _NEXT_SQL, [day.isoformat()])
        (last,) = cursor.fetchone()
    return f"{PREFIX}-{day:%Y%m%d}-{last:05d}"
