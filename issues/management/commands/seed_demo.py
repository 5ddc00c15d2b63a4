"""manage.py seed_demo: the demo data of API.md "Demo data", idempotent; prints the demo partner's API key."""

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from issues.demo import PARTNER_SLUG, demo_seed
from meetings.demo import demo_meetings
from triage.training import triage_seed


class Command(BaseCommand):
    help = (
        "Load the demo data (API.md 'Demo data'): districts 360702, grids tiling lat 25.80–25.86 lng 114.93–115.00, "
        "departments, categories, accounts with DEMO_PASSWORD and the demo-partner app. Idempotent; prints a new "
        "partner API key each run (the previous demo key stops working)."
    )

    def add_arguments(self, parser):
        parser.add_argument("--no-progress", action="store_true", help="no progress bar")
        parser.add_argument(
            "--force-production",
            action="store_true",
            help="run under production settings anyway (it creates accounts with the demo password)",
        )

    def handle(self, *args, **options):
        if settings.GRIDDESK_PRODUCTION and not options["force_production"]:
            raise CommandError(
                "seed_demo creates a district admin and other accounts with the demo password: it does not run under "
                "production settings. For a trial deployment, pass --force-production and change DEMO_PASSWORD."
            )
        quiet = options["verbosity"] == 0
        raw_key = demo_seed(
            say=(lambda _: None) if quiet else self.stdout.write,
            progress=not quiet and not options["no_progress"],
        )
        # The weekly meetings stand on the accounts above (an entrypoint may reach the page-level apps).
        if demo_meetings() and not quiet:
            self.stdout.write("Weekly meetings of 金东南路社区: last week's minutes and this week's meeting")
        model = triage_seed()
        if model is not None and not quiet:
            self.stdout.write(f"Triage model v{model.pk} trained on {model.trained_on} labelled descriptions.")
        self.stdout.write(self.style.SUCCESS("Demo data loaded."))
        self.stdout.write(f"Partner API key ({PARTNER_SLUG}), shown once: {raw_key}")
        self.stdout.write(f"  send it as: Authorization: Api-Key {raw_key}")
