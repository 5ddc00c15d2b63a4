"""manage.py hotspot_backfill: a database that predates hot spots gets each place's baseline from its issues."""

import io
from datetime import timedelta

import pytest
from django.core.management import call_command
from django.utils import timezone

from triage import hotspots
from triage.models import HotSpot, PlaceDayCount, SeenIssue

pytestmark = pytest.mark.django_db


def test_backfill_counts_every_issue_once_and_gives_detection_its_baseline(territory, report, category):
    grid, building = territory["grid"], territory["building"]
    # Eight a day for the baseline's four weeks, written before hot spots existed (never detected).
    for d in range(2, 2 + hotspots.BASELINE_DAYS):
        for i in range(8):
            report(building if i % 2 else grid, ago=timedelta(days=d, minutes=i), detect=False)
    unclassified = report(grid, ago=timedelta(days=3), detect=False, category=None)
    call_command("hotspot_backfill", stdout=io.StringIO())
    call_command("hotspot_backfill", stdout=io.StringIO())  # safe to run again
    day = timezone.localdate() - timedelta(days=2)
    assert PlaceDayCount.objects.get(place_code=grid.code, category_pk=category.pk, day=day).count == 8
    assert PlaceDayCount.objects.get(place_code=building.code, category_pk=category.pk, day=day).count == 4
    assert SeenIssue.objects.count() == 8 * hotspots.BASELINE_DAYS + 1
    assert SeenIssue.objects.get(issue_id=unclassified.pk).counted_category is None
    # With that history, eight today in the grid are its usual day: no alert.
    for i in range(8):
        report(grid, ago=timedelta(minutes=20 * (8 - i)))
    assert HotSpot.objects.count() == 0
