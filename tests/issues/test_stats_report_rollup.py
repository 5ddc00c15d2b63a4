# ruff: noqa: F811  (the `world` fixture, imported from test_stats_rollup, is a parameter of the tests)
"""The statistics page's kinds and weekly trend read from the rollup answer exactly what the live count answered.

Randomized issues (fixed seeds) of every kind, status and scope, created and resolved around local midnights and
month ends, compared with tests/issues/stats_report_reference.py (the live implementation before the trend rows) for
every level of scope and several periods, after a rebuild and after refreshes of changed issues (kind, status,
resolution, place); the whole stats_report too. On SQLite and PostgreSQL alike.
"""

import random
from datetime import date, datetime
from unittest import mock

from django.db import connection
from django.test.utils import CaptureQueriesContext

from issues import stats_report as report_module
from issues.models import Issue, Kind, StatsRollup
from issues.rollups import rollup_fold, rollup_rebuild, rollup_refresh
from issues.sla import LOCAL_TZ
from issues.stats_report import kinds_and_trend, stats_report
from tests.issues.stats_report_reference import live_kinds_and_trend
from tests.issues.test_stats_rollup import NOWS, _random_issue, world  # noqa: F401 (world: a fixture)

KINDS = list(Kind.values)
PERIODS = [
    (date(2026, 10, 1), date(2026, 10, 31)),  # a whole month
    (date(2026, 9, 30), date(2026, 12, 1)),  # two whole months and an edge day on each side
    (date(2026, 10, 15), date(2026, 11, 14)),  # no whole month, weeks cut at both ends
    (date(2026, 11, 30), date(2026, 11, 30)),  # one day
    (date(2026, 9, 1), date(2026, 12, 31)),  # everything
]


def _issues(world, rng: random.Random, n: int) -> list[Issue]:
    issues = [_random_issue(rng, world["places"], world["categories"], world["resident"]) for _ in range(n)]
    for issue in issues:
        issue.kind = rng.choice(KINDS)
        Issue.objects.filter(pk=issue.pk).update(kind=issue.kind)
    return issues


def _compare(scopes) -> int:
    compared = 0
    for area in scopes:
        for date_from, date_to in PERIODS:
            args = {"area": area, "date_from": date_from, "date_to": date_to}
            assert kinds_and_trend(**args) == live_kinds_and_trend(**args), args
            compared += 1
    return compared


def _trend_table() -> list[tuple]:
    rows = StatsRollup.objects.filter(grain=StatsRollup.Grain.TREND, total__gt=0)
    return sorted(rows.values_list("level", "period", "area_path", "kind", "resolved_on", "total"))


def test_the_trend_rows_answer_what_the_live_count_answers_over_randomized_issues(world):
    rng = random.Random(11)
    _issues(world, rng, 150)
    rollup_rebuild()
    assert _trend_table(), "the rebuild wrote trend rows"
    assert _compare(world["scopes"]) == len(world["scopes"]) * len(PERIODS)
    # Something to compare: intake and resolutions in several weeks, several kinds.
    by_kind, trend = kinds_and_trend(area=world["scopes"][0], date_from=date(2026, 9, 1), date_to=date(2026, 12, 31))
    assert len([k for k, n in by_kind.items() if n]) >= 3
    assert len([w for w in trend if w["resolved"]]) >= 4


def test_refreshing_changed_issues_keeps_the_trend_rows_equal_to_a_rebuild_and_the_live_count(world):
    rng = random.Random(12)
    issues = _issues(world, rng, 80)
    rollup_refresh([i.pk for i in issues])
    _compare(world["scopes"])
    changed = rng.sample(issues, 30)
    for issue in changed:
        other = _random_issue(rng, world["places"], world["categories"], world["resident"])
        for field in ("status", "resolved_at", "accepted_at"):
            setattr(issue, field, getattr(other, field))
        issue.kind = rng.choice(KINDS)
        place = rng.choice(world["places"])
        codes = place.path.split("/")
        issue.area_path, issue.community_code, issue.street_code = place.path, codes[2], codes[1]
        issue.grid_code = codes[3]
        issue.building_code = codes[4] if len(codes) > 4 else ""
        issue.save()
        rollup_refresh([other.pk])
    rollup_refresh([i.pk for i in changed[:20]])
    rollup_refresh([i.pk for i in changed[10:]])
    _compare(world["scopes"])
    incremental = _trend_table()
    rollup_rebuild()
    assert _trend_table() == incremental


def _report(area, now):
    return stats_report(area=area, date_from=date(2026, 10, 1), date_to=date(2026, 11, 30), now=now)


def test_the_whole_report_is_what_the_live_kinds_and_trend_gave(world):
    rng = random.Random(13)
    _issues(world, rng, 100)
    rollup_rebuild()
    for area in world["scopes"]:
        for now in NOWS:
            report = _report(area, now)
            with mock.patch.object(report_module, "kinds_and_trend", live_kinds_and_trend):
                assert report == _report(area, now), (area.path, now)


def test_the_report_costs_the_same_queries_whatever_the_number_of_issues(world):
    rng = random.Random(14)
    district = world["scopes"][0]
    now = datetime(2026, 12, 20, tzinfo=LOCAL_TZ)
    counts = []
    for n in (40, 160):
        _issues(world, rng, n)
        rollup_rebuild()
        rollup_fold()  # what the rebuild counted, some still pending on PostgreSQL: found nothing to add
        with CaptureQueriesContext(connection) as queries:
            # The previous period (Sep 17 to Oct 31) has issues too: issue_stats' four queries each time.
            stats_report(area=district, date_from=date(2026, 11, 1), date_to=date(2026, 12, 15), now=now)
        counts.append(len(queries))
    # issue_stats twice (four each, and the fold's look for submissions not yet counted), the kinds and the trend
    # (two, and the fold's look), the departments (two).
    assert counts == [15, 15]
    # Neither of the kinds-and-trend queries reads the issues table.
    kinds_queries = [q["sql"] for q in queries.captured_queries if "'trend'" in q["sql"]]
    assert len(kinds_queries) == 2 and not any('"issues_issue"' in q for q in kinds_queries)
