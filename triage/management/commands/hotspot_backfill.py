"""manage.py hotspot_backfill: give hot-spot detection each place's baseline from the issues already there."""

from django.core.management.base import BaseCommand

from triage.backfill import hotspot_backfill


class Command(BaseCommand):
    help = (
        "Mark every issue as seen by hot-spot detection and set each grid's and building's daily counts per category "
        "from the issues (after an upgrade, an SQL load or a restored backup); safe to run again."
    )

    def handle(self, *args, **options):
        seen, days = hotspot_backfill()
        self.stdout.write(self.style.SUCCESS(f"Hot-spot history: {seen} issues seen, {days} place-day counts set."))
