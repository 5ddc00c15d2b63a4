"""Fewer index entries and HOT updates for what an escalation sweep writes (docs/scaling.md "Escalation sweep").

EscalationMark's own index on issue_id goes: its primary key (issue_id, deadline, due_at) leads with it and serves
every lookup by issue, so the index only cost each escalation a second entry at a random place of a large index. The
statistics rollup and its entries leave room on each page (fillfactor 80 and 90, PostgreSQL) so that adding to a
count, which changes no indexed column, is rewritten in place (HOT) instead of writing an entry into each index. The
setting applies to pages written from now on; `VACUUM FULL issues_statsrollup` in a quiet moment applies it to all.
"""

import django.db.models.deletion
from django.db import migrations, models

FILLFACTORS = {"issues_statsrollup": 80, "issues_statsentry": 90}


def fillfactor_set(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        for table, fillfactor in FILLFACTORS.items():
            schema_editor.execute(f"ALTER TABLE {table} SET (fillfactor = {fillfactor})")


def fillfactor_reset(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        for table in FILLFACTORS:
            schema_editor.execute(f"ALTER TABLE {table} RESET (fillfactor)")


class Migration(migrations.Migration):
    dependencies = [
        ("issues", "0019_merge_0018_escalation_marks_0018_stats_rollup_slots"),
    ]

    operations = [
        migrations.AlterField(
            model_name="escalationmark",
            name="issue",
            field=models.ForeignKey(
                db_index=False,
                on_delete=django.db.models.deletion.CASCADE,
                related_name="escalation_marks",
                to="issues.issue",
            ),
        ),
        migrations.RunPython(fillfactor_set, fillfactor_reset),
    ]
