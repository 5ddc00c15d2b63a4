"""Human-readable issue numbers: GD-YYYYMMDD-NNNNN, a daily sequence per local (Asia/Shanghai) day.

Numbers are unique and rise through the day; they may skip (API.md promises "human-readable, unique", not
gapless): a submission takes its number in a short transaction of its own before its long one, so that the day's
counter row is locked for one statement, not for the whole submission and its commit (which serialized every
create). A submission that then fails, or an Idempotency-Key retry answered with the first issue, leaves its
number unused.

On PostgreSQL a submission whose rows go in one query (issues.events: nobody to tell) takes its number in that same
query, as a transaction of its own that commits before the rest begins (`number_taken_first`): the same short lock,
without a round trip of its own. The number reaches the issue's and the event's INSERT through a setting of the
session (NUMBER_SETTING), which the INSERT reads and returns. A submission that must read from the database before
its INSERT (the place's staff not remembered yet: orgs.staff_cache) has begun its transaction by then: it takes its
number in it, and holds the counter row to its commit, once per place and process after the staff change.
"""

from contextlib import nullcontext
from datetime import date

from django.db import connection
from django.utils import timezone

from config.compiled import Prepared, before_begin, nothing_sent
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


# Not numbered yet: the number is taken with the issue's INSERT (issues.events), never stored as it is.
NUMBER_PENDING = ""
# The session setting that carries a number taken in the query of its issue's INSERT to that INSERT.
NUMBER_SETTING = "griddesk.issue_number"
# Its value where a statement reads it: an error if no number was taken in this session.
NUMBER_READ = f"current_setting('{NUMBER_SETTING}')"


def issue_number_next(*, day: date | None = None) -> str:
    """Return the next number of `day` (default: today, local time).

    Called outside a transaction (issue_submit calls it just before its own), or inside one on PostgreSQL before
    anything was sent in it, the number is taken and committed at once; inside one otherwise, it is taken in that
    transaction and the counter row stays locked until it ends.
    """
    day = day or timezone.localdate()
    alone = connection.vendor == "postgresql" and (not connection.in_atomic_block or nothing_sent(connection))
    # Inside a block: no BEGIN, the block's transaction begins with its next statement.
    with before_begin(connection) if alone and connection.in_atomic_block else nullcontext():
        with connection.cursor() as cursor:
            # The day as text: sqlite3's default date adapter is deprecated.
            cursor.execute(_NEXT_ASYNC_SQL if alone else _NEXT_SQL, [day.isoformat()])
            (last,) = cursor.fetchone()
    return f"{PREFIX}-{day:%Y%m%d}-{last:05d}"


def number_taken_first(*, day: date | None = None) -> Prepared:
    """Return the statement that takes the next number of `day` (default: today) as a transaction of its own, first
    in a query of several statements (config.compiled.execute_prepared_many), and leaves it in NUMBER_SETTING.

    Its COMMIT ends its transaction before the next statement of the query begins (PostgreSQL's implicit transaction
    of a multi-statement query): the counter row is locked for this statement alone, committed without waiting for
    the disk, as issue_number_next's own transaction. The number is formatted as issue_number_next formats it.
    """
    day = day or timezone.localdate()
    sql = (
        "BEGIN; SET LOCAL synchronous_commit TO off; "
        f"WITH n AS (INSERT INTO {_TABLE} (day, last) VALUES (%s, 1) "
        f"ON CONFLICT (day) DO UPDATE SET last = {_TABLE}.last + 1 RETURNING last) "
        f"SELECT set_config('{NUMBER_SETTING}', %s || lpad(last::text, greatest(length(last::text), 5), '0'), false) "
        "FROM n; COMMIT"
    )
    return Prepared(None, None, sql, [day.isoformat(), f"{PREFIX}-{day:%Y%m%d}-"])
