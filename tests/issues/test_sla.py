"""The working-day calendar: 2026 Spring Festival and National Day (调休 included), normal weeks, uncovered years."""

import logging
from datetime import UTC, date, datetime, timedelta
from types import SimpleNamespace

import pytest

from issues import sla
from issues.sla import LOCAL_TZ, add_workdays, deadlines_for, is_workday

# is_workday reads the CalendarDay overrides first (none here: these are chinesecalendar's and the fallback's days).
pytestmark = pytest.mark.django_db


def local(y, m, d, hh=15, mm=0):
    return datetime(y, m, d, hh, mm, tzinfo=LOCAL_TZ)


@pytest.mark.parametrize(
    ("day", "expected"),
    [
        (date(2026, 2, 13), True),  # Friday before the Spring Festival
        (date(2026, 2, 14), True),  # Saturday worked (调休)
        (date(2026, 2, 15), False),  # Sunday, first holiday
        (date(2026, 2, 16), False),  # Monday, holiday
        (date(2026, 2, 23), False),  # Monday, last holiday
        (date(2026, 2, 24), True),  # Tuesday, back at work
        (date(2026, 2, 28), True),  # Saturday worked (调休)
        (date(2026, 3, 1), False),  # ordinary Sunday
        (date(2026, 9, 20), True),  # Sunday worked before National Day
        (date(2026, 10, 1), False),
        (date(2026, 10, 7), False),
        (date(2026, 10, 8), True),
        (date(2026, 10, 10), True),  # Saturday worked after National Day
        (date(2026, 10, 11), False),
        (date(2026, 11, 16), True),  # ordinary Monday
        (date(2026, 11, 21), False),  # ordinary Saturday
    ],
)
def test_is_workday_follows_the_2026_statutory_calendar(day, expected):
    assert is_workday(day) is expected


def test_is_workday_accepts_a_datetime():
    assert is_workday(local(2026, 2, 14)) is True
    assert is_workday(local(2026, 2, 16)) is False


@pytest.mark.parametrize(
    ("start", "workdays", "expected"),
    [
        # Normal week: Monday + 3 → Thursday; Friday + 1 → Monday (weekend skipped).
        (local(2026, 11, 16), 3, local(2026, 11, 19)),
        (local(2026, 11, 20), 1, local(2026, 11, 23)),
        # Started on a Saturday: the start date never counts; the first working day after it is day 1.
        (local(2026, 11, 21), 1, local(2026, 11, 23)),
        (local(2026, 11, 16), 0, local(2026, 11, 16)),
        # Spring Festival: Fri 13 → Sat 14 (worked) → holidays 15–23 → Tue 24, Wed 25 …
        (local(2026, 2, 13), 1, local(2026, 2, 14)),
        (local(2026, 2, 13), 2, local(2026, 2, 24)),
        (local(2026, 2, 13), 5, local(2026, 2, 27)),
        (local(2026, 2, 13), 6, local(2026, 2, 28)),  # the working Saturday counts
        (local(2026, 2, 13), 7, local(2026, 3, 2)),
        # Started during the holiday: day 1 is the first working day after it.
        (local(2026, 2, 17, 9, 30), 1, local(2026, 2, 24, 9, 30)),
        # National Day: Wed 30 Sep → Thu 8, Fri 9, Sat 10 (worked), Mon 12 Oct.
        (local(2026, 9, 30), 1, local(2026, 10, 8)),
        (local(2026, 9, 30), 3, local(2026, 10, 10)),
        (local(2026, 9, 30), 4, local(2026, 10, 12)),
        # Sat 19 Sep → Sun 20 Sep is worked.
        (local(2026, 9, 19), 1, local(2026, 9, 20)),
    ],
)
def test_add_workdays_lands_on_the_nth_working_day_at_the_same_local_time(start, workdays, expected):
    assert add_workdays(start=start, workdays=workdays) == expected


def test_add_workdays_counts_local_dates_not_utc_dates():
    # 2026-02-13 17:00 UTC is Sat 14 01:00 in Shanghai: the start date is the 14th, so day 1 is Tue 24.
    start = datetime(2026, 2, 13, 17, 0, tzinfo=UTC)
    due = add_workdays(start=start, workdays=1)
    assert due == local(2026, 2, 24, 1, 0)
    assert due.utcoffset() == timedelta(hours=8)


def test_add_workdays_composes_so_an_extension_equals_a_longer_limit():
    start = local(2026, 2, 10, 11, 20)
    for a in range(0, 8):
        for b in range(0, 8):
            assert add_workdays(start=add_workdays(start=start, workdays=a), workdays=b) == add_workdays(
                start=start, workdays=a + b
            )


def test_add_workdays_refuses_naive_and_negative_input():
    with pytest.raises(ValueError):
        add_workdays(start=datetime(2026, 11, 16, 15, 0), workdays=1)
    with pytest.raises(ValueError):
        add_workdays(start=local(2026, 11, 16), workdays=-1)


def test_uncovered_year_falls_back_to_monday_to_friday_with_one_warning(caplog):
    sla._warn_uncovered_year.cache_clear()
    with caplog.at_level(logging.WARNING, logger="issues.sla"):
        # 2031-01-01 is a Wednesday; Friday 3 Jan + 1 → Monday 6 Jan (no holiday data for 2031).
        assert is_workday(date(2031, 1, 1)) is True
        assert is_workday(date(2031, 1, 4)) is False
        assert add_workdays(start=local(2031, 1, 3), workdays=1) == local(2031, 1, 6)
    warnings = [r for r in caplog.records if "2031" in r.getMessage()]
    assert len(warnings) == 1


def test_add_workdays_crosses_from_a_covered_into_an_uncovered_year():
    # Thu 31 Dec 2026 (covered) + 2 working days: Fri 1 Jan 2027 is not known as a holiday, so Fri 1, Mon 4
    # under the fallback — unless the library covers 2027, in which case New Year's Day is skipped.
    due = add_workdays(start=local(2026, 12, 31), workdays=2)
    assert due in (local(2027, 1, 4), local(2027, 1, 5))


CATEGORY = SimpleNamespace(
    response_hours=24, resolution_workdays=5, urgent_response_hours=2, urgent_resolution_workdays=1
)


def test_deadlines_for_uses_clock_hours_for_response_and_working_days_for_resolution():
    start = local(2026, 2, 13, 16, 0)  # Friday before the Spring Festival
    response, resolution = deadlines_for(category=CATEGORY, urgent=False, start=start)
    assert response == local(2026, 2, 14, 16, 0)  # 24 clock hours, holiday or not
    assert resolution == local(2026, 2, 27, 16, 0)  # Sat 14, Tue 24, Wed 25, Thu 26, Fri 27


def test_deadlines_for_urgent_shortens_both_limits():
    start = local(2026, 2, 13, 16, 0)
    response, resolution = deadlines_for(category=CATEGORY, urgent=True, start=start)
    assert response == local(2026, 2, 13, 18, 0)
    assert resolution == local(2026, 2, 14, 16, 0)


def test_deadline_statuses_are_issue_statuses_and_the_partial_indexes_use_them():
    from django.db.models import Q

    from issues.models import Issue, escalation_running_q

    assert Issue.DEADLINE_STATUSES == {
        "response": ("classified", "dispatched"),
        "resolution": ("classified", "dispatched", "in_progress"),
    }
    assert all(set(running) <= set(Issue.Status.values) for running in Issue.DEADLINE_STATUSES.values())
    indexes = {index.name: index for index in Issue._meta.indexes}
    assert indexes["issue_response_escalation"].condition == escalation_running_q("response")
    assert indexes["issue_resolution_escalation"].condition == escalation_running_q("resolution")
    assert ("status__in", ["classified", "dispatched"]) in escalation_running_q("response").children
    assert escalation_running_q("resolution") == Q(status__in=["classified", "dispatched", "in_progress"])
