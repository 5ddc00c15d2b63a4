"""A place's prior counts (triage.suggest.place_counts) come from the statistics rollup's leaf rows and say what
counting the grid's recent categorised issues says, for issues at a grid and at one of its buildings."""

from datetime import timedelta

import pytest
from django.db.models import Count
from django.utils import timezone

from issues.models import Issue
from triage.suggest import PLACE_DAYS, place_counts, place_priors

pytestmark = pytest.mark.django_db


def counted_from_issues(grid_code: str) -> dict[str, int]:
    since = timezone.now() - timedelta(days=PLACE_DAYS)
    rows = (
        Issue.objects.filter(grid_code=grid_code, category__isnull=False, created_at__gte=since)
        .values_list("category__code")
        .annotate(n=Count("id"))
    )
    return dict(rows)


def test_place_counts_are_the_grids_categorised_issues(territory, make):
    make("classified")
    make("dispatched", place=territory["grid"])
    make("submitted")  # no category yet: not counted
    grid = territory["grid"]
    counts = place_counts({grid.code: grid.path})
    assert counts == {grid.code: counted_from_issues(grid.code)}
    assert sum(counts[grid.code].values()) == 2


def test_a_building_takes_its_grids_prior_and_a_quiet_grid_none(territory, other_territory, make):
    make("classified")
    priors = place_priors([territory["building"], other_territory["grid"], None], classes=["x", "stairwell"])
    assert priors[0] is not None and priors[1] is None and priors[2] is None
