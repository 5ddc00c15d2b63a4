"""The outbox's issue key loses its database check, not its index (retention reads by issue): every row is about an
issue with events, which the events' key keeps from being deleted, so the check at commit (a lookup and a row lock of
the issue per row: a sweep writes 20,000) could never fail."""

import django.db.models.deletion
from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("issues", "0021_sweep_key_checks"),
        ("notifications", "0009_outbox_event_key"),
    ]

    operations = [
        migrations.AlterField(
            model_name="notification",
            name="issue",
            field=models.ForeignKey(
                blank=True,
                db_constraint=False,
                null=True,
                on_delete=django.db.models.deletion.CASCADE,
                related_name="+",
                to="issues.issue",
                verbose_name="issue",
            ),
        ),
    ]
