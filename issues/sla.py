"""Working-day calendar and deadlines: the Chinese statutory calendar, 调休 working weekends included.

Rules (DESIGN.md "Time limits"):

- A working day is a statutory working day of the Chinese calendar: Monday to Friday unless it is a public
  holiday, plus the swapped weekend days that are worked (调休, e.g. Sat 2026-02-14). Asked in this order:
  1. a CalendarDay row (issues.models) for that date: operators enter a year's schedule when the State Council
     publishes it, before a `chinesecalendar` release covers it (docs/calendar.md);
  2. `chinesecalendar`;
  3. for a year neither covers, Monday to Friday; a warning is logged once per year and process, unless some
     CalendarDay of that year exists (then the year's holidays and 调休 days are known and the rest is Mon–Fri).
- The CalendarDay rows are read once per process into a dict, read again at once after a save or delete in this
  process (signals, or `calendar_invalidate()` after bulk writes), and within `GRIDDESK_CALENDAR_CHECK_SECONDS`
  after a change made by another process (a cheap (count, max(updated_at)) query).
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
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from functools import cache
from zoneinfo import ZoneInfo

import chinese_calendar
from django.conf import settings
from django.db.models import Q
from django.db.models.signals import post_delete, post_save
from django.dispatch import receiver
from django.utils import timezone

from config.snapshots import TableSnapshot
from issues.models import CalendarDay, Issue

logger = logging.getLogger(__name__)

# The calendar deadlines are counted in (the server's zone, API.md "Conventions").
LOCAL_TZ = ZoneInfo(settings.TIME_ZONE)


@cache
def _warn_uncovered_year(year: int) -> None:
    # Cached: one warning per year and process, not one per day looked at.
    logger.warning(
        "chinesecalendar has no data for %d and no CalendarDay is set in it: counting Monday to Friday as working "
        "days (load the year's schedule with load_calendar_days, docs/calendar.md)",
        year,
    )


@dataclass(frozen=True)
class _Overrides:
    """An immutable snapshot of the CalendarDay rows."""

    days: dict[date, bool]
    years: frozenset[int]


def _load_overrides() -> _Overrides:
    days = dict(CalendarDay.objects.values_list("date", "is_workday"))
    return _Overrides(days=days, years=frozenset(day.year for day in days))


_snapshot = TableSnapshot(
    rows=CalendarDay.objects.all,
    build=_load_overrides,
    check_seconds=lambda: settings.GRIDDESK_CALENDAR_CHECK_SECONDS,
)


def _current_overrides() -> _Overrides:
    """Return a fresh enough snapshot, reading the rows again when this or another process changed them."""
    return _snapshot.get()


def calendar_invalidate() -> None:
    """Drop the cached CalendarDay rows; the next lookup reads them again (call after bulk writes)."""
    _snapshot.invalidate()


@receiver(post_save, sender=CalendarDay, dispatch_uid="issues.sla.calendar_day_saved")
@receiver(post_delete, sender=CalendarDay, dispatch_uid="issues.sla.calendar_day_deleted")
def _calendar_day_changed(sender, **kwargs) -> None:
    # Cache invalidation only (no business rule): the next lookup in this process sees the change.
    calendar_invalidate()


def is_workday(d: date) -> bool:
    """Return whether `d` is a working day: a CalendarDay override, else chinesecalendar, else Monday–Friday."""
    if isinstance(d, datetime):
        d = d.date()
    overrides = _current_overrides()
    override = overrides.days.get(d)
    if override is not None:
        return override
    try:
        return chinese_calendar.is_workday(d)
    except NotImplementedError:
        if d.year not in overrides.years:
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


def deadline_running_q(deadline: str) -> Q:
    """Return the filter for issues whose `deadline` ("response" or "resolution") still runs, whenever it falls."""
    q = Q(status__in=Issue.DEADLINE_STATUSES[deadline])
    ended_by = Issue.DEADLINE_ENDED_BY.get(deadline)
    if ended_by:
        q &= Q(**{f"{ended_by}__isnull": True})
    return q


def deadline_passed_q(deadline: str, *, now: datetime) -> Q:
    """Return the filter for issues whose `deadline` ("response" or "resolution") still runs and passed before `now`.

    The one rule behind the overdue filter, the statistics and the escalation sweep.
    """
    return deadline_running_q(deadline) & Q(**{f"{deadline}_due_at__lt": now})


def overdue_q(*, now: datetime | None = None) -> Q:
    """Return the filter for issues past a running deadline (see the module docstring)."""
    now = now or timezone.now()
    return deadline_passed_q("resolution", now=now) | deadline_passed_q("response", now=now)
