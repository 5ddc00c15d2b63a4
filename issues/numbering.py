"""Human-readable issue numbers: GD-YYYYMMDD-NNNNN, a daily sequence per local (Asia/Shanghai) day."""

from datetime import date

from django.db import connection
from django.utils import timezone

from issues.models import IssueCounter

PREFIX = "GD"

# One statement takes the next value: an insert for the day's first number, else an increment of the row.
# The upsert holds the row lock until the caller's transaction ends, so two submissions never share a number,
# on PostgreSQL (row lock on conflict) and on SQLite (one writer at a time); both support ON CONFLICT … RETURNING.
_NEXT_SQL = (
    f"INSERT INTO {IssueCounter._meta.db_table} (day, last) VALUES (%s, 1) "
    f"ON CONFLICT (day) DO UPDATE SET last = {IssueCounter._meta.db_table}.last + 1 RETURNING last"
)


def issue_number_next(*, day: date | None = None) -> str:
    """Return the next unused issue number of `day` (default: today, local time); call inside the submit transaction."""
    day = day or timezone.localdate()
    with connection.cursor() as cursor:
        cursor.execute(_NEXT_SQL, [day.isoformat()])  # as text: sqlite3's default date adapter is deprecated
        (last,) = cursor.fetchone()
    return f"{PREFIX}-{day:%Y%m%d}-{last:05d}"
