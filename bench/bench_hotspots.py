"""Hot-spot detection benchmark: what triage.hotspots.hotspot_detect costs per new issue as history grows.

Follows bench/run.py's contract. For each history size N (issues of one category already in the street, spread over
the 28 days before in one busy grid and counted by detection as they came), then a burst of new reports in a
quiet grid of the same street: the queries and the in-process time of detecting each new report (below the
threshold, raising the alert, growing it).
The claim is that the query count is the same at every N and for every report of the burst
(tests/triage/test_hotspots.py asserts it too); the time is a timing figure of this machine.

By hand, on a kept database (`make bench KEEP=1`'s 1,000,000 issues, copied first; HELPERS.md) and on a small one
built the same way, to compare: `python bench/bench_hotspots.py --kept` (DATABASE_URL names the copy, migrated to
this branch) gives every issue there its detection history (`hotspot_backfill`, if not done yet), then times
detection of new reports in the grid with the most recent reports (beside its real window and 28-day baseline)
and of a burst in a new quiet grid; `--build N` first loads N issues with bench_api's loader into an empty,
migrated database. docs/benchmarks.md has the figures.
"""

import os
import statistics
import time
from datetime import timedelta

TITLE = "hot-spot detection: queries and time per new issue, as the place's history and the burst grow"
NOTES = {
    "queries_below_at_N": "queries of detecting a report below the threshold (the 2nd to 4th of the burst)",
    "queries_raise_at_N": "queries of the report that raised the alert (links the window's reports, tells once)",
    "queries_grow_at_N": "queries of a report joining the open alert (the rest of the burst)",
    "queries_spread_at_N": "max − min queries over the reports joining the alert (0: constant)",
    "detect_p50_ms_at_N": "detection of one new report, median ms, in-process, with N issues of history",
    "detect_max_ms_at_N": "slowest detection of the burst, ms",
    "alerts_at_N": "alerts raised by the burst (1: one alert however long the burst)",
}
BENCH_USER = "bench_hot_resident"
# Three residents' own words (near-duplicates of nothing): new reports in a busy grid that raise nothing.
BUSY_TEXTS = ["小区东门的路灯坏了一个星期", "垃圾桶满了三天没人清运，味道很大", "楼下烧烤店油烟太大，窗户都不敢开"]
# The 5th report of a burst raises the alert (triage.hotspots.MIN_COUNT, a quiet place's floor rate).
MIN_COUNT_AT = 4
SIZES = [int(s) for s in os.environ.get("GRIDDESK_BENCH_HOTSPOT_SIZES", "0,300,3000").split(",")]
BURST = 20


def _detect_measured(issue_id) -> tuple[int, float]:
    """Return (queries, ms) of detecting one new report."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from triage.hotspots import hotspot_detect

    with CaptureQueriesContext(connection) as captured:
        start = time.perf_counter()
        hotspot_detect(issue_id=issue_id)
        ms = (time.perf_counter() - start) * 1000
    return len(captured.captured_queries), ms


def run_kept(log) -> dict:
    """Measure detection on the data already in the database (module docstring), then make detection forget what it
    added (its     alerts, day counts and seen rows, `_forget`; its issues stay: use a copy); return the figures."""
    from triage import hotspots
    from triage.backfill import hotspot_backfill
    from triage.models import SeenIssue

    if not SeenIssue.objects.exists():  # a fresh copy: give it its history once (a later run's leftovers stay out)
        started = time.perf_counter()
        hotspot_backfill()
        log(f"backfill {time.perf_counter() - started:.1f} s")
    hotspots.hotspot_queue = lambda **kwargs: None  # measured here, not queued for a worker as well
    added: dict = {"issues": [], "grids": []}
    try:
        return _measure_kept(log, added)
    finally:
        _forget(**added)


def _forget(*, issues: list, grids: list) -> None:
    """Make detection forget what a measurement added: its alerts, its reports' day counts and seen rows (the window
    is read from those). The issues stay (events are append-only, by a trigger too), invisible to the next run."""
    from django.db.models import F
    from django.utils import timezone

    from triage.models import HotSpot, PlaceDayCount, SeenIssue

    HotSpot.objects.filter(issues__in=issues).delete()
    seen = SeenIssue.objects.filter(issue_id__in=issues)
    for grid, building, category, at in seen.filter(counted_category__isnull=False).values_list(
        "grid_code", "building_code", "counted_category", "created_at"
    ):
        PlaceDayCount.objects.filter(
            place_code__in=[grid, building], category_pk=category, day=timezone.localdate(at)
        ).update(count=F("count") - 1)
    seen.delete()
    PlaceDayCount.objects.filter(place_code__in=grids).delete()


def _measure_kept(log, added: dict) -> dict:
    from datetime import datetime

    from django.contrib.auth import get_user_model
    from django.db.models import Count
    from django.utils import timezone

    from grids.models import Area
    from grids.services import area_create
    from issues import workflow
    from issues.models import Issue
    from triage import hotspots
    from triage.models import HotSpot

    issues = Issue.objects.count()
    # The grid with the most reports in the last day (the largest window to read), and of its categories the one
    # with the most reports in 28 days among those with at most one in the last day (a busy baseline, no burst).
    now = timezone.now()
    real = Issue.objects.exclude(reporter_user__username=BENCH_USER)  # not an earlier run's reports
    day = real.filter(created_at__gt=now - hotspots.WINDOW)
    grid_code = day.values("grid_code").annotate(n=Count("pk")).order_by("-n").values_list("grid_code", flat=True)[0]
    recent = set(
        day.filter(grid_code=grid_code, category__isnull=False)
        .values("category_id")
        .annotate(n=Count("pk"))
        .filter(n__gt=1)
        .values_list("category_id", flat=True)
    )
    busy = (
        real.filter(grid_code=grid_code, created_at__gte=now - timedelta(days=28), category__isnull=False)
        .exclude(category_id__in=recent)
        .values("grid_code", "category_id")
        .annotate(n=Count("pk"))
        .order_by("-n")
        .first()
    )
    grid = Area.objects.get(code=busy["grid_code"])
    resident, _ = get_user_model().objects.get_or_create(username=BENCH_USER)
    stamp = datetime.now().strftime("%H%M%S")
    taken = set(Area.objects.filter(parent=grid.parent).values_list("code", flat=True))
    code = next(f"{grid.parent.code}{n}" for n in range(999, 900, -1) if f"{grid.parent.code}{n}" not in taken)
    quiet = area_create(code=code, name=f"热点测试{stamp}", level=Area.Level.GRID, parent=grid.parent)
    added["grids"].append(quiet.code)
    category = busy["category_id"]

    def submit(place, text):
        issue = workflow.issue_submit(actor=resident, grid=place.code, category=str(_code(category)), description=text)
        added["issues"].append(issue.pk)
        return issue

    out: dict = {"issues": issues, "busy_grid_window": day.filter(grid_code=grid_code).count()}
    out["busy_category_reports_28d"] = busy["n"]
    # In the busiest grid: a few new reports of its commonest category, each in its own words (no burst there: its
    # baseline expects about as many).
    measured = [_detect_measured(submit(grid, f"{text}（{stamp}）").pk) for text in BUSY_TEXTS]
    out["queries_busy"] = statistics.median(q for q, _ in measured)
    out["queries_busy_spread"] = max(q for q, _ in measured) - min(q for q, _ in measured)
    out["detect_busy_p50_ms"] = round(statistics.median(ms for _, ms in measured), 2)
    # A burst in a quiet grid: below the threshold, the report that raises the alert, then those joining it.
    burst = [_detect_measured(submit(quiet, "楼道里堆满杂物，过不去人").pk) for _ in range(BURST)]
    at = MIN_COUNT_AT
    out["queries_below"] = statistics.median(q for q, _ in burst[1:at])
    out["queries_raise"] = burst[at][0]
    out["queries_grow"] = statistics.median(q for q, _ in burst[at + 1 :])
    out["queries_grow_spread"] = max(q for q, _ in burst[at + 1 :]) - min(q for q, _ in burst[at + 1 :])
    out["detect_burst_p50_ms"] = round(statistics.median(ms for _, ms in burst), 2)
    out["detect_burst_max_ms"] = round(max(ms for _, ms in burst), 2)
    out["alerts_in_quiet_grid"] = HotSpot.objects.filter(grid_code=quiet.code).count()
    log(f"busy {measured}\nburst {burst}")
    return out


def _code(category_id) -> str:
    from issues.models import Category

    return Category.objects.get(pk=category_id).code


def run(ctx) -> dict:
    from django.db import connection
    from django.test.utils import CaptureQueriesContext
    from django.utils import timezone

    from grids.models import Area
    from grids.services import area_create
    from issues import workflow
    from issues.demo import demo_categories, demo_departments
    from issues.models import Category, Issue
    from orgs.models import Membership, Role
    from triage.hotspots import hotspot_detect
    from triage.models import HotSpot

    district = area_create(code="360702", name="章贡区", level=Area.Level.DISTRICT)
    street = area_create(code="360702091", name="黄金岭街道", level=Area.Level.STREET, parent=district)
    community = area_create(code="360702091005", name="金东南路社区", level=Area.Level.COMMUNITY, parent=street)
    demo_categories(departments=demo_departments(district=district))
    category = Category.objects.filter(is_active=True).first()
    from django.contrib.auth import get_user_model

    users = get_user_model().objects
    officer = users.create_user(username="bench_officer", password="x")
    Membership.objects.create(user=officer, role=Role.STREET_OFFICER, area=street)
    resident = users.create_user(username="bench_resident", password="x")
    out: dict = {}
    # Local noon today: the burst never straddles midnight (a day's first report creates its day row: 2 queries more).
    now = timezone.localtime().replace(hour=12, minute=0, second=0, microsecond=0)

    def submit(ago, grid):
        issue = workflow.issue_submit(
            actor=resident, grid=grid.code, category=category.code, description="楼道里堆满杂物，过不去人"
        )
        Issue.objects.filter(pk=issue.pk).update(created_at=now - ago)
        return issue

    busy = area_create(code="360702091005999", name="历史网格", level=Area.Level.GRID, parent=community)
    history = 0
    for index, size in enumerate(SIZES):
        grid = area_create(
            code=f"360702091005{index + 1:03d}", name=f"第{index + 1}网格", level=Area.Level.GRID, parent=community
        )
        for i in range(history, size):  # the history: spread over the 28 days before, counted as it came
            hotspot_detect(issue_id=submit(timedelta(days=2 + 28 * i / max(size, 1)), busy).pk)
        history = max(history, size)
        queries, times, at = [], [], None
        for i in range(BURST):
            issue = submit(timedelta(minutes=BURST - i), grid)
            with CaptureQueriesContext(connection) as captured:
                start = time.perf_counter()
                hotspot_detect(issue_id=issue.pk)
                times.append((time.perf_counter() - start) * 1000)
            queries.append(len(captured.captured_queries))
            if at is None and HotSpot.objects.filter(grid_code=grid.code).exists():
                at = i  # this report raised the alert
        below, grow = queries[1:at], queries[at + 1 :]
        out[f"queries_below_at_{size}"] = statistics.median(below)
        out[f"queries_raise_at_{size}"] = queries[at]
        out[f"queries_grow_at_{size}"] = statistics.median(grow)
        out[f"queries_spread_at_{size}"] = max(grow) - min(grow)
        out[f"detect_p50_ms_at_{size}"] = round(statistics.median(times), 3)
        out[f"detect_max_ms_at_{size}"] = round(max(times), 3)
        out[f"alerts_at_{size}"] = HotSpot.objects.filter(grid_code=grid.code).count()
        ctx.log(f"history {size}: queries {queries}, p50 {out[f'detect_p50_ms_at_{size}']} ms")
    return out


if __name__ == "__main__":
    import argparse
    import json
    import sys
    from pathlib import Path

    parser = argparse.ArgumentParser(description="Measure hot-spot detection on a kept database (module docstring).")
    parser.add_argument("--kept", action="store_true", required=True)
    parser.add_argument("--build", type=int, default=0, help="first load this many issues (bench_api's loader)")
    args = parser.parse_args()
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.test")
    import django

    django.setup()
    if args.build:
        import io

        from django.core.management import call_command

        from bench.bench_api import _bulk_load

        call_command("seed_demo", "--no-progress", verbosity=0, stdout=io.StringIO())
        _bulk_load(args.build)
    figures = run_kept(lambda message: print(message, file=sys.stderr))
    print(json.dumps(figures, indent=1))
