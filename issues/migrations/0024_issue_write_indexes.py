"""Five indexes of issues that no query needs any more, each an entry every create or status change wrote
(docs/scaling.md "A create's round trips").

- The category's and the reporter's own indexes: issue_category_created (category_id, created_at) and issue_reporter
  (reporter_user_id, created_at DESC) lead with the same column and serve every lookup by it, the protection checks
  of a category's or a user's deletion included.
- The number's pattern index (varchar_pattern_ops, Django's `_like` beside a unique CharField): nothing matches
  numbers by prefix; exact numbers read the unique index, `q` the trigram index.
- issue_response_due_open and issue_resolution_due_open: every query on a deadline asks for it while it still runs
  (issues.sla.deadline_running_q), which is the condition of issue_response_escalation and
  issue_resolution_escalation on the same column (the response's with "not accepted yet" besides).

Indexes only: the foreign keys stay (Django's AlterField would drop and add them again, checking every row under a
lock that stops writes). Nothing is built going forward; going back builds the five again.
"""

import django.db.models.deletion
from django.conf import settings
from django.db import migrations, models

# Their names as Django made them (issues/0001); on a table partitioned by month (issues.partitioning) the parent's
# indexes keep those names, and dropping one drops the partitions' own.
COLUMN_INDEXES = {
    "issues_issue_category_id_53a7fdd2": "category_id",
    "issues_issue_reporter_user_id_b9563c2e": "reporter_user_id",
}
PATTERN_INDEX = "issues_issue_number_05ff188f_like"


def column_indexes_drop(apps, schema_editor):
    for name in [*COLUMN_INDEXES, *([PATTERN_INDEX] if schema_editor.connection.vendor == "postgresql" else [])]:
        schema_editor.execute(f'DROP INDEX IF EXISTS "{name}"')


def column_indexes_build(apps, schema_editor):
    for name, column in COLUMN_INDEXES.items():
        schema_editor.execute(f'CREATE INDEX IF NOT EXISTS "{name}" ON "issues_issue" ("{column}")')
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(
            f'CREATE INDEX IF NOT EXISTS "{PATTERN_INDEX}" ON "issues_issue" ("number" varchar_pattern_ops)'
        )


class Migration(migrations.Migration):
    dependencies = [
        ("issues", "0023_merge_deadline_rows_sweep_months"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.RemoveIndex(model_name="issue", name="issue_response_due_open"),
        migrations.RemoveIndex(model_name="issue", name="issue_resolution_due_open"),
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.AlterField(
                    model_name="issue",
                    name="category",
                    field=models.ForeignKey(
                        blank=True,
                        db_index=False,
                        null=True,
                        on_delete=django.db.models.deletion.PROTECT,
                        related_name="issues",
                        to="issues.category",
                    ),
                ),
                migrations.AlterField(
                    model_name="issue",
                    name="reporter_user",
                    field=models.ForeignKey(
                        blank=True,
                        db_index=False,
                        null=True,
                        on_delete=django.db.models.deletion.PROTECT,
                        related_name="reported_issues",
                        to=settings.AUTH_USER_MODEL,
                    ),
                ),
            ],
            database_operations=[migrations.RunPython(column_indexes_drop, column_indexes_build)],
        ),
    ]
