"""The outbox's event_id loses its index and its foreign key constraint: nothing reads the outbox by event, events
are never deleted (append-only, issues/0002) and an outbox row is written in its event's transaction, so each row (a
sweep writes 20,000) wrote an index entry and looked its event up at commit for nothing."""

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
                db_constraint=False,
                db_index=False,
                null=True,
                on_delete=django.db.models.deletion.PROTECT,
                related_name="+",
                to="issues.event",
                verbose_name="event",
            ),
        ),
    ]
