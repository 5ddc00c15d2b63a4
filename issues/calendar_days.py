"""Working-day overrides (CalendarDay) from a CSV file: `date,is_workday,note`, one date a line.

Rules (docs/calendar.md):

- `date` is YYYY-MM-DD; `is_workday` is true/false, 1/0, yes/no, or 班 (worked) / 休 (day off); `note` is optional
  (at most 200 characters). A first line `date,is_workday,note` is a header; blank lines and lines starting with
  `#` are skipped. The file is UTF-8 (a byte-order mark, as spreadsheets write, is fine).
- Every line is checked before anything is written: one bad line, or a date given twice, and nothing is written;
  the error names the line.
- Loading is idempotent: a date already set the same way is left alone (its updated_at too), a date set otherwise
  is updated, a new date is added. Dates not in the file are never removed (delete them in the admin).
"""

import csv
import io
import re
from dataclasses import dataclass
from datetime import date

from django.db import transaction

from issues.models import CalendarDay

HEADER = ("date", "is_workday", "note")
TRUE_WORDS = {"true", "1", "yes", "班"}
FALSE_WORDS = {"false", "0", "no", "休"}
NOTE_MAX = CalendarDay._meta.get_field("note").max_length
_ISO_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")


class CalendarFileError(ValueError):
    """A CSV file of working-day overrides that cannot be loaded; `errors` are "line N: …" strings."""

    def __init__(self, errors: list[str]):
        super().__init__("\n".join(errors))
        self.errors = errors


@dataclass(frozen=True)
class CalendarRow:
    line: int
    date: date
    is_workday: bool
    note: str


@dataclass(frozen=True)
class CalendarLoadResult:
    created: int
    updated: int
    unchanged: int


def _parse_row(cells: list[str], line: int) -> CalendarRow:
    if len(cells) not in (2, 3):
        raise ValueError(f"expected 2 or 3 columns (date,is_workday,note), found {len(cells)}")
    day_text, workday_text, note = cells[0], cells[1].lower(), cells[2] if len(cells) == 3 else ""
    if not _ISO_DATE.fullmatch(day_text):
        raise ValueError(f"date {day_text!r} is not YYYY-MM-DD")
    try:
        day = date.fromisoformat(day_text)
    except ValueError:
        raise ValueError(f"date {day_text!r} does not exist") from None
    if workday_text in TRUE_WORDS:
        workday = True
    elif workday_text in FALSE_WORDS:
        workday = False
    else:
        raise ValueError(f"is_workday {cells[1]!r} is not one of true/false, 1/0, yes/no, 班/休")
    if len(note) > NOTE_MAX:
        raise ValueError(f"note is longer than {NOTE_MAX} characters")
    return CalendarRow(line=line, date=day, is_workday=workday, note=note)


def calendar_days_parse(*, text: str) -> list[CalendarRow]:
    """Return the rows of a working-day CSV, or raise CalendarFileError naming every bad line (see the module rules)."""
    rows: list[CalendarRow] = []
    errors: list[str] = []
    seen: dict[date, int] = {}
    first = True
    for line, cells in enumerate(csv.reader(io.StringIO(text.removeprefix("\ufeff"))), start=1):
        cells = [cell.strip() for cell in cells]
        if not any(cells) or cells[0].startswith("#"):
            continue
        if first and cells[0].lower() == "date":
            first = False
            if tuple(cell.lower() for cell in cells) not in (HEADER, HEADER[:2]):
                errors.append(f"line {line}: the header must be date,is_workday,note")
            continue
        first = False
        try:
            row = _parse_row(cells, line)
        except ValueError as exc:
            errors.append(f"line {line}: {exc}")
            continue
        if row.date in seen:
            errors.append(f"line {line}: {row.date.isoformat()} is already on line {seen[row.date]}")
            continue
        seen[row.date] = line
        rows.append(row)
    if errors:
        raise CalendarFileError(errors)
    if not rows:
        raise CalendarFileError(["the file has no dates"])
    return rows


def calendar_days_load(*, rows: list[CalendarRow]) -> CalendarLoadResult:
    """Create or update one CalendarDay per row in one transaction; leave a date already set the same way alone."""
    created = updated = unchanged = 0
    with transaction.atomic():
        existing = {
            day.date: day for day in CalendarDay.objects.select_for_update().filter(date__in=[r.date for r in rows])
        }
        for row in rows:
            day = existing.get(row.date)
            if day is None:
                CalendarDay.objects.create(date=row.date, is_workday=row.is_workday, note=row.note)
                created += 1
            elif (day.is_workday, day.note) != (row.is_workday, row.note):
                day.is_workday, day.note = row.is_workday, row.note
                day.save(update_fields=["is_workday", "note", "updated_at"])
                updated += 1
            else:
                unchanged += 1
    return CalendarLoadResult(created=created, updated=updated, unchanged=unchanged)
