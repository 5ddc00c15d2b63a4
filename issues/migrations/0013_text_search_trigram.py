"""Text search `q` (issues.filters) served by trigram indexes on PostgreSQL; SQLite keeps scanning (it is small).

`q` compares UPPER(column) LIKE UPPER('%text%') on the number, title, description and address: one GIN index with
gin_trgm_ops on exactly those expressions per column, so PostgreSQL answers each arm with a bitmap index scan and
ORs them. The pg_trgm extension ships with PostgreSQL (contrib); creating it needs the owner's rights.
"""

from django.db import migrations

COLUMNS = ["number", "title", "description", "address"]


def _postgres(schema_editor) -> bool:
    return schema_editor.connection.vendor == "postgresql"


def create(apps, schema_editor):
    if not _postgres(schema_editor):
        return
    schema_editor.execute("CREATE EXTENSION IF NOT EXISTS pg_trgm")
    for column in COLUMNS:
        schema_editor.execute(
            f"CREATE INDEX IF NOT EXISTS issue_{column}_trgm ON issues_issue USING gin (UPPER({column}::text) gin_trgm_ops)"
        )
    # Statistics of the new expressions: without them the planner guesses a common word rare, reads its 200,000
    # matches through the index and sorts them (5 s at 1 M issues) instead of walking the newest-first index.
    schema_editor.execute("ANALYZE issues_issue")


def drop(apps, schema_editor):
    if not _postgres(schema_editor):
        return
    for column in COLUMNS:
        schema_editor.execute(f"DROP INDEX IF EXISTS issue_{column}_trgm")


class Migration(migrations.Migration):
    dependencies = [("issues", "0012_stats_rollup")]

    operations = [migrations.RunPython(create, drop, elidable=False)]
