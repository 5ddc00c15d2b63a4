"""Escalation marks in their own table (issues.models.EscalationMark), so that an escalation is a HOT update.

The markers `<deadline>_escalated_for` on the issue row sat in the conditions of the sweep's partial indexes: every
escalation changed an indexed column and wrote a new entry into each of the issue table's indexes. They move to
EscalationMark (one row per issue, deadline and the deadline value it escalated for), the partial indexes keep only
"the deadline still runs", and the issue table leaves a tenth of each page free (fillfactor 90, PostgreSQL) so the
updates of an issue find room on its own page.
"""

import django.db.models.deletion
from django.db import migrations, models

DEADLINES = ("response", "resolution")


def marks_from_columns(apps, schema_editor):
    """Move every `<deadline>_escalated_for` value into an EscalationMark row (one statement per deadline)."""
    quote = schema_editor.connection.ops.quote_name
    for deadline in DEADLINES:
        column = quote(f"{deadline}_escalated_for")
        schema_editor.execute(
            f"INSERT INTO issues_escalationmark (issue_id, deadline, due_at)"
            f" SELECT id, %s, {column} FROM issues_issue WHERE {column} IS NOT NULL",
            [deadline],
        )


def columns_from_marks(apps, schema_editor):
    """Put back the latest mark of each deadline into `<deadline>_escalated_for` (what the column remembered)."""
    quote = schema_editor.connection.ops.quote_name
    for deadline in DEADLINES:
        column = quote(f"{deadline}_escalated_for")
        schema_editor.execute(
            f"UPDATE issues_issue SET {column} = (SELECT max(m.due_at) FROM issues_escalationmark m"
            f" WHERE m.issue_id = issues_issue.id AND m.deadline = %s)"
            f" WHERE id IN (SELECT issue_id FROM issues_escalationmark WHERE deadline = %s)",  # only rows with a mark
            [deadline, deadline],
        )


def fillfactor_set(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute("ALTER TABLE issues_issue SET (fillfactor = 90)")


def fillfactor_reset(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute("ALTER TABLE issues_issue RESET (fillfactor)")


class Migration(migrations.Migration):
    dependencies = [
        ("issues", "0017_merge_20261203_0245"),
    ]

    operations = [
        migrations.CreateModel(
            name="EscalationMark",
            fields=[
                (
                    "pk",
                    models.CompositePrimaryKey(
                        "issue_id", "deadline", "due_at", blank=True, editable=False, primary_key=True, serialize=False
                    ),
                ),
                (
                    "issue",
                    models.ForeignKey(
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="escalation_marks",
                        to="issues.issue",
                    ),
                ),
                (
                    "deadline",
                    models.CharField(
                        choices=[("response", "response deadline"), ("resolution", "resolution deadline")],
                        max_length=10,
                    ),
                ),
                ("due_at", models.DateTimeField()),
            ],
            options={
                "verbose_name": "escalation mark",
                "verbose_name_plural": "escalation marks",
            },
        ),
        migrations.RunPython(marks_from_columns, columns_from_marks),
        migrations.RemoveIndex(model_name="issue", name="issue_response_escalation"),
        migrations.RemoveIndex(model_name="issue", name="issue_resolution_escalation"),
        migrations.RemoveField(model_name="issue", name="resolution_escalated_for"),
        migrations.RemoveField(model_name="issue", name="response_escalated_for"),
        migrations.AddIndex(
            model_name="issue",
            index=models.Index(
                condition=models.Q(("status__in", ["classified", "dispatched"]), ("accepted_at__isnull", True)),
                fields=["response_due_at"],
                include=("id",),
                name="issue_response_escalation",
            ),
        ),
        migrations.AddIndex(
            model_name="issue",
            index=models.Index(
                condition=models.Q(("status__in", ["classified", "dispatched", "in_progress"])),
                fields=["resolution_due_at"],
                include=("id",),
                name="issue_resolution_escalation",
            ),
        ),
        migrations.RunPython(fillfactor_set, fillfactor_reset),
    ]
