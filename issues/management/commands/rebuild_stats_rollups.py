"""Rebuild the statistics rollups from the issues, month by month, with a progress bar (issues.rollups)."""

from django.core.management.base import BaseCommand
from tqdm import tqdm

from issues.models import DeadlineRollup, StatsRollup
from issues.rollups import rollup_rebuild, rollup_rebuild_deadlines


class Command(BaseCommand):
    help = (
        "Recompute every statistics rollup row from the issues (after loading issues by SQL, or to check drift). "
        "Each month is replaced in its own transaction; the site may keep running meanwhile."
    )

    def add_arguments(self, parser):
        parser.add_argument("--no-progress", action="store_true", help="no progress bar")
        parser.add_argument(
            "--deadlines",
            action="store_true",
            help="only the deadline rows and the entries' deadline days, from the open issues (minutes, not hours, "
            "at 10 M issues; one transaction): after migrating issues/0022",
        )

    def handle(self, *args, **options):
        if options["deadlines"]:
            counted = rollup_rebuild_deadlines()
            self.stdout.write(f"{counted} open issues counted: {DeadlineRollup.objects.count()} deadline rows.")
            return

        def bar(months):
            # disable=None: a bar on a terminal, quiet when stderr is not one.
            return tqdm(months, unit=" months", disable=True if options["no_progress"] else None, leave=False)

        months = rollup_rebuild(progress=bar)
        self.stdout.write(f"{months} months rebuilt: {StatsRollup.objects.count()} rollup rows.")
