"""config.snapshots.TableSnapshot: rebuilt after invalidate() or a change by another process, not otherwise."""

from datetime import date

import pytest
from django.utils import timezone

from config.snapshots import TableSnapshot
from issues.models import CalendarDay

pytestmark = pytest.mark.django_db


def _snapshot(check_seconds: float):
    builds = []

    def build():
        builds.append(1)
        return set(CalendarDay.objects.values_list("date", flat=True))

    return TableSnapshot(rows=CalendarDay.objects.all, build=build, check_seconds=lambda: check_seconds), builds


def _written_elsewhere(day: date) -> None:
    # bulk_create sends no signal: what another process's write looks like to this one.
    CalendarDay.objects.bulk_create([CalendarDay(date=day, is_workday=False, updated_at=timezone.now())])


def test_nothing_changed_means_no_rebuild(django_assert_num_queries):
    snapshot, builds = _snapshot(check_seconds=0)
    assert snapshot.get() == set()
    with django_assert_num_queries(1):  # the (count, latest) look, and nothing more
        assert snapshot.get() == set()
    assert len(builds) == 1


def test_a_change_by_another_process_is_seen_once_the_check_interval_passed():
    snapshot, builds = _snapshot(check_seconds=0)
    snapshot.get()
    _written_elsewhere(date(2027, 2, 8))
    assert snapshot.get() == {date(2027, 2, 8)}
    assert len(builds) == 2


def test_within_the_check_interval_the_value_is_served_without_a_query(django_assert_num_queries):
    snapshot, builds = _snapshot(check_seconds=3600)
    snapshot.get()
    _written_elsewhere(date(2027, 2, 8))
    with django_assert_num_queries(0):
        assert snapshot.get() == set()
    snapshot.invalidate()  # this process wrote: seen at once
    assert snapshot.get() == {date(2027, 2, 8)}
    assert len(builds) == 2
