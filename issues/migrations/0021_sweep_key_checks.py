"""EscalationMark's issue key loses its database check (not its meaning: Django still cascades): a mark is written
with its escalation's event in the transaction holding the issue's row, and the events' key keeps an issue with events
from being deleted, so the check at commit (a lookup and a row lock of the issue per escalation) could never fail."""

import django.db.models.deletion
from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("issues", "0020_sweep_write_costs"),
    ]

    operations = [
        migrations.AlterField(
            model_name="escalationmark",
            name="issue",
            field=models.ForeignKey(
                db_constraint=False,
                db_index=False,
                on_delete=django.db.models.deletion.CASCADE,
                related_name="escalation_marks",
                to="issues.issue",
            ),
        ),
    ]
