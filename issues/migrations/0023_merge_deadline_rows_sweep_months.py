"""Joins two migrations written side by side: the deadline rows (0022_deadline_rollup) and the sweep's indexes with
created_at (0022_sweep_chunk_months). Nothing to do: they touch different tables and indexes."""

from django.db import migrations


class Migration(migrations.Migration):
    dependencies = [
        ("issues", "0022_deadline_rollup"),
        ("issues", "0022_sweep_chunk_months"),
    ]

    operations = []
