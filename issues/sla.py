"""Working-day calendar and deadlines: the Chinese statutory calendar, 调休 working weekends included.

Rules (DESIGN.md "Time limits"):

- A working day is a statutory working day of the Chinese calendar (`chinesecalendar`): Monday to Friday unless
  it is a public holiday, plus the swapped weekend days that are worked (调休, e.g. Sat 2026-02-14).
  For a year the library does not cover, Monday to Friday are working days; a warning is logged once per year.
- `add_workdays(start=S, workdays=N)` is the same local time-of-day (Asia/Shanghai) as S on the N-th working day
  strictly after S's local date. The start date itself never counts, whether or not it is a working day, so an
  issue classified on Friday 15:00 with N=1 is due Monday 15:00, and one classified on a Saturday (or during the
  Spring Festival) at 15:00 is due at 15:00 on the first working day after it. N=0 returns S. The rule composes:
  adding A then B working days equals adding A+B, so an extension added to a deadline is the same as a longer
  limit from the start.
- Overdue (`overdue_q`): an issue not yet resolved (classified, dispatched, in progress) whose resolution deadline
  has passed, or one still waiting for acceptance (classified, dispatched) whose response deadline has passed.
  Resolved, closed and rejected issues are never overdue, even if they were resolved late.
- Response deadline: clock hours (not working hours) after the start, `response_hours` or
  `urgent_response_hours` of the category. Resolution deadline: `add_workdays` with `resolution_workdays` or
  `urgent_resolution_workdays`.
"""

import logging
from datetime import date, datetime, timedelta
from functools import cache
from zoneinfo import ZoneInfo

import chinese_calendar
from django.conf import settings
from django.db.models import Q
from django.utils import timezone

from issues.models import Issue

logger = logging.getLogger(__name__)

# The calendar deadlines are counted in (the server's zone, API.md "Conventions").
LOCAL_TZ = ZoneInfo(settings.TIME_ZONE)


@cache
def _warn_uncovered_year(year: int) -> None:
    # Cached: one warning per year and process, not one per day looked at.
    logger.warning("chinesecalendar has no data for %d: counting Monday to Friday as working days", year)


def is_workday(d: date) -> bool:
    """Return whether `d` is a statutory working day (Monday–Friday outside covered years)."""
    if isinstance(d, datetime):
        d = d.date()
    try:
        return chinese_calendar.is_workday(d)
    except NotImplementedError:
        _warn_uncovered_year(d.year)
        return d.weekday() < 5


def add_workdays(*, start: datetime, workdays: int) -> datetime:
    """Return the same local time-of-day as `start` on the `workdays`-th working day after its local date."""
    if start.tzinfo is None:
        raise ValueError("add_workdays needs a timezone-aware start.")
    if workdays < 0:
        raise ValueError("workdays must not be negative.")
    local = start.astimezone(LOCAL_TZ)
    day = local.date()
    remaining = workdays
    while remaining:
        day += timedelta(days=1)
        if is_workday(day):
            remaining -= 1
    return datetime.combine(day, local.timetz())


def deadlines_for(*, category, urgent: bool, start: datetime) -> tuple[datetime, datetime]:
    """Return (response_due_at, resolution_due_at) of an issue of `category` whose clock starts at `start`."""
    if urgent:
        hours, workdays = category.urgent_response_hours, category.urgent_resolution_workdays
    else:
        hours, workdays = category.response_hours, category.resolution_workdays
    return start + timedelta(hours=hours), add_workdays(start=start, workdays=workdays)


def overdue_q(*, now: datetime | None = None) -> Q:
    """Return the filter for issues past a running deadline (see the module docstring)."""
    now = now or timezone.now()
    running = Issue.DEADLINE_STATUSES
    return Q(status__in=running["resolution"], resolution_due_at__lt=now) | Q(
        status__in=running["response"], response_due_at__lt=now
    )
