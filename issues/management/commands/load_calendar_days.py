"""Load working-day overrides (CalendarDay) from a CSV file; the rules are issues.calendar_days' (docs/calendar.md)."""

from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from issues.calendar_days import CalendarFileError, calendar_days_load, calendar_days_parse


class Command(BaseCommand):
    help = (
        "Load working-day overrides from a CSV file of date,is_workday,note lines (e.g. the State Council's holiday "
        "schedule for a year chinesecalendar does not cover yet). Idempotent; nothing is written if any line is bad."
    )

    def add_arguments(self, parser):
        parser.add_argument("csv", type=Path, help="the CSV file (UTF-8): date,is_workday,note")

    def handle(self, *args, **options):
        path: Path = options["csv"]
        try:
            text = path.read_text(encoding="utf-8")
        except OSError as exc:
            raise CommandError(f"Nothing was loaded: cannot read {path} ({exc.strerror}).") from exc
        except UnicodeDecodeError as exc:
            raise CommandError(f"Nothing was loaded: {path} is not UTF-8 text ({exc.reason}).") from exc
        try:
            rows = calendar_days_parse(text=text)
        except CalendarFileError as exc:
            raise CommandError(f"Nothing was loaded from {path}:\n" + "\n".join(exc.errors)) from exc
        result = calendar_days_load(rows=rows)
        days = [row.date for row in rows]
        self.stdout.write(
            f"{len(rows)} dates from {min(days)} to {max(days)}: "
            f"{result.created} added, {result.updated} updated, {result.unchanged} unchanged."
        )
