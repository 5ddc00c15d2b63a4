"""The escalation sweep's partial indexes carry created_at besides id: its candidate read stays an index-only scan and
hands each chunk the months of its issues, which the chunk's locking read and update name (issues.escalation), so that
a table partitioned by month (issues.partitioning) reads only those months' partitions instead of probing every
partition for each id."""

from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("issues", "0021_sweep_key_checks"),
    ]

    operations = [
        migrations.RemoveIndex(model_name="issue", name="issue_response_escalation"),
        migrations.RemoveIndex(model_name="issue", name="issue_resolution_escalation"),
        migrations.AddIndex(
            model_name="issue",
            index=models.Index(
                condition=models.Q(("status__in", ["classified", "dispatched"]), ("accepted_at__isnull", True)),
                fields=["response_due_at"],
                include=("id", "created_at"),
                name="issue_response_escalation",
            ),
        ),
        migrations.AddIndex(
            model_name="issue",
            index=models.Index(
                condition=models.Q(("status__in", ["classified", "dispatched", "in_progress"])),
                fields=["resolution_due_at"],
                include=("id", "created_at"),
                name="issue_resolution_escalation",
            ),
        ),
    ]
