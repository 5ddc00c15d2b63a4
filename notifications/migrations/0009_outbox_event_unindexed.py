"""The outbox's event_id loses its index: nothing reads the outbox by event, and events are never deleted
(append-only, issues/0002), so no foreign key check looks there either; each row (a sweep writes 20,000) wrote an
entry for nothing."""

import django.db.models.deletion
from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("issues", "0019_merge_0018_escalation_marks_0018_stats_rollup_slots"),
        ("notifications", "0008_webhook_index_partial"),
    ]

    operations = [
        migrations.AlterField(
            model_name="notification",
            name="event",
            field=models.ForeignKey(
                blank=True,
                db_index=False,
                null=True,
                on_delete=django.db.models.deletion.PROTECT,
                related_name="+",
                to="issues.event",
                verbose_name="event",
            ),
        ),
    ]
