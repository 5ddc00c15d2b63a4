"""Give hot-spot detection the history it would have counted had it run since the first issue: for a database that
predates hot spots (an upgrade, an SQL load, a restored backup), so each place has its baseline at once.

Idempotent: every issue is marked seen (and counted under its category), and each place's day counts are set from
the issues themselves, whatever was counted before. Two statements for the seen rows, two aggregate reads and
upserts for the counts (grids, then buildings); PostgreSQL and SQLite alike.
"""

from django.db import connection, transaction
from django.db.models import Count
from django.db.models.functions import TruncDate

from issues.models import Issue
from issues.sla import LOCAL_TZ
from triage.models import PlaceDayCount, SeenIssue

BATCH = 5000


def hotspot_backfill() -> tuple[int, int]:
    """Mark every issue seen and counted, and set every place's day counts from the issues; return (issues seen,
    day rows written)."""
    # Table names from the models, never from input.
    seen, issue = SeenIssue._meta.db_table, Issue._meta.db_table
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {seen} (issue_id, grid_code, building_code, created_at, counted_category) "
            # "WHERE true": SQLite's parser needs it between INSERT … SELECT and ON CONFLICT.
            f"SELECT id, grid_code, building_code, created_at, category_id FROM {issue} WHERE true "
            "ON CONFLICT (issue_id) DO NOTHING"
        )
        # Rows seen at submission and classified since: counted now, as the counts below include them.
        cursor.execute(
            f"UPDATE {seen} SET counted_category = "
            f"(SELECT category_id FROM {issue} WHERE {issue}.id = {seen}.issue_id) WHERE counted_category IS NULL"
        )
        written = 0
        days = Issue.objects.filter(category__isnull=False).annotate(day=TruncDate("created_at", tzinfo=LOCAL_TZ))
        for field in ("grid_code", "building_code"):
            rows = days.exclude(**{field: ""}).values(field, "category_id", "day").annotate(n=Count("pk"))
            batch = []
            for row in rows.order_by().iterator(chunk_size=BATCH):
                batch.append(
                    PlaceDayCount(place_code=row[field], category_pk=row["category_id"], day=row["day"], count=row["n"])
                )
                if len(batch) == BATCH:
                    written += _upsert(batch)
                    batch = []
            written += _upsert(batch)
    return SeenIssue.objects.count(), written


def _upsert(rows: list[PlaceDayCount]) -> int:
    PlaceDayCount.objects.bulk_create(
        rows, update_conflicts=True, unique_fields=["place_code", "category_pk", "day"], update_fields=["count"]
    )
    return len(rows)
