"""issues.stats_report: the statistics page's report on issue_stats' population, the previous period, the weekly
trend, the departments and the rankings (红黄榜)."""

from datetime import date, timedelta

import pytest
from django.utils import timezone

from issues.models import Issue
from issues.rollups import rollup_refresh
from issues.sla import LOCAL_TZ
from issues.stats import issue_stats
from issues.stats_report import kinds_and_trend, previous_period, rank_rows, stats_report

pytestmark = pytest.mark.django_db


def row(name, rate, volume, total=None):
    return {"code": name, "name": name, "r": rate, "total": total or volume, "counts": {"d": volume}}


def ranked(rows, **kwargs):
    return [(r["name"], r["rank"], r["mark"]) for r in rank_rows(rows, rate="r", denominator="d", **kwargs)]


def test_rows_are_ranked_best_first_ties_share_a_rank_and_the_larger_volume_is_listed_first():
    rows = [row("a", 0.5, 10), row("b", 0.9, 10), row("c", 0.5, 20), row("d", 0.7, 10), row("e", 0.2, 10)]
    assert ranked(rows, min_volume=1, marked=1) == [
        ("b", 1, "top"),
        ("d", 2, None),
        ("c", 3, None),
        ("a", 3, None),
        ("e", 5, "bottom"),
    ]


def test_a_row_under_the_minimum_volume_or_without_a_rate_is_listed_after_the_ranked_ones_unranked():
    rows = [row("small", 1.0, 3), row("big", 0.4, 30), row("none", None, 0, total=5), row("mid", 0.8, 12)]
    assert ranked(rows, min_volume=10, marked=3) == [
        ("mid", 1, "top"),
        ("big", 2, "bottom"),
        ("small", None, None),
        ("none", None, None),
    ]


def test_the_lists_mark_at_most_half_the_ranked_rows_each_so_no_row_is_both():
    assert ranked([row("only", 0.9, 10)], min_volume=1, marked=3) == [("only", 1, None)]
    five = [row(str(n), n / 10, 10) for n in range(5)]
    assert [mark for _n, _r, mark in ranked(five, min_volume=1, marked=3)] == ["top", "top", None, "bottom", "bottom"]


def test_equal_rates_everywhere_put_nobody_on_the_yellow_list():
    rows = [row(n, 1.0, 10) for n in "abcd"]
    assert {mark for _n, _r, mark in ranked(rows, min_volume=1, marked=2)} == {"top"}


def test_the_previous_period_has_the_same_length_and_ends_the_day_before():
    assert previous_period(date(2026, 11, 1), date(2026, 11, 30)) == (date(2026, 10, 2), date(2026, 10, 31))
    assert previous_period(date(2026, 3, 1), date(2026, 3, 1)) == (date(2026, 2, 28), date(2026, 2, 28))


def test_the_report_stands_on_issue_stats_population_and_its_deltas_compare_the_previous_period(make, territory):
    today = timezone.localdate()
    make("closed")
    make("dispatched")
    old = make("closed")
    Issue.objects.filter(pk=old.pk).update(created_at=timezone.now() - timedelta(days=10))
    rollup_refresh([old.pk])  # a direct write, not through the event seam that keeps the rollup current
    start = today - timedelta(days=6)
    report = stats_report(area=territory["community"], date_from=start, date_to=today)
    same = issue_stats(area=territory["community"], date_from=start, date_to=today)
    assert {k: report[k] for k in same} == same
    assert report["previous"] == issue_stats(
        area=territory["community"], date_from=start - timedelta(days=7), date_to=start - timedelta(days=1)
    )
    assert report["previous"]["total"] == 1
    # Response 1/2 now (one not accepted yet) and 1/1 before: 50 points down; resolution 1/1 both: no change.
    assert report["deltas"] == {
        "total": 1,
        "response_rate": -50.0,
        "resolution_rate": 0.0,
        "on_time_resolution_rate": 0.0,
        "satisfaction_rate": 0.0,
    }
    assert sum(report["by_kind"].values()) == report["total"] == 2


def test_the_trend_has_every_week_of_the_period_and_counts_resolutions_in_their_week(make, territory):
    today = timezone.localdate()
    done = make("resolved")
    Issue.objects.filter(pk=done.pk).update(
        created_at=timezone.now() - timedelta(days=14), resolved_at=timezone.now() - timedelta(days=7)
    )
    rollup_refresh([done.pk])
    make("submitted")
    by_kind, trend = kinds_and_trend(area=territory["community"], date_from=today - timedelta(days=20), date_to=today)
    start = today - timedelta(days=20)
    mondays = [start - timedelta(days=start.weekday())]
    while mondays[-1] + timedelta(days=7) <= today:
        mondays.append(mondays[-1] + timedelta(days=7))
    assert [w["week"] for w in trend] == mondays
    by_week = {w["week"]: (w["intake"], w["resolved"]) for w in trend}
    monday = today - timedelta(days=today.weekday())
    assert by_week[monday] == (1, 0)
    created_week = (timezone.now() - timedelta(days=14)).astimezone(LOCAL_TZ).date()
    resolved_week = (timezone.now() - timedelta(days=7)).astimezone(LOCAL_TZ).date()
    assert by_week[created_week - timedelta(days=created_week.weekday())][0] == 1
    assert by_week[resolved_week - timedelta(days=resolved_week.weekday())][1] == 1
    assert sum(w["intake"] for w in trend) == 2 and sum(w["resolved"] for w in trend) == 1
    assert by_kind["complaint"] == 2


def test_empty_child_areas_are_named_apart_and_not_ranked(street_officer, make, territory, other_territory):
    make("closed")
    today = timezone.localdate()
    report = stats_report(area=territory["street"], date_from=today.replace(day=1), date_to=today, min_volume=1)
    assert report["empty_children"] == [{"code": other_territory["community"].code, "name": "社区001"}]
    for rankings in report["rankings"].values():
        assert [r["code"] for r in rankings["areas"]] == [territory["community"].code]
