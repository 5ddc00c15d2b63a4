"""Convert issues and events into tables partitioned by month (PostgreSQL), with a progress bar.

issues.partitioning does the work; docs/scaling.md says what it costs.
"""

from django.core.management.base import BaseCommand, CommandError
from tqdm import tqdm

from issues.partitioning import AHEAD_MONTHS, PartitioningRefused, partition_by_month, partitions_ensure


class Command(BaseCommand):
    help = (
        "Convert issues_issue (by created_at) and issues_event (by at) into tables partitioned by month, in one "
        "transaction that locks both tables until it commits (PostgreSQL only; refused if already partitioned). "
        "With --ensure: only create the missing months ahead (what the daily beat task does); safe to repeat."
    )

    def add_arguments(self, parser):
        parser.add_argument("--ahead", type=int, default=AHEAD_MONTHS, help="empty months to create past this one")
        parser.add_argument("--ensure", action="store_true", help="only create the missing months ahead")
        parser.add_argument("--no-progress", action="store_true", help="no progress bar")

    def handle(self, *args, **options):
        if options["ensure"]:
            created = partitions_ensure(ahead=options["ahead"])
            self.stdout.write(f"{len(created)} partitions created: {', '.join(created) or '-'}")
            return

        def bar(months):
            # disable=None: a bar on a terminal, quiet when stderr is not one.
            return tqdm(months, unit=" months", disable=True if options["no_progress"] else None, leave=False)

        try:
            done = partition_by_month(ahead=options["ahead"], progress=bar)
        except PartitioningRefused as exc:
            raise CommandError(str(exc)) from exc
        for conversion in done:
            self.stdout.write(
                f"{conversion.table}: {conversion.rows} rows in {len(conversion.partitions)} partitions by"
                f" {conversion.key} ({conversion.partitions[1]} … {conversion.partitions[-1]})"
            )
            for name in conversion.dropped_foreign_keys:
                self.stdout.write(f"  foreign key dropped (Django still cascades): {name}")
