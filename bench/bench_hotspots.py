"""Hot-spot detection benchmark: what triage.hotspots.hotspot_detect costs per new issue as history grows.

Follows bench/run.py's contract. For each history size N (issues of one category already in the street, spread over
the 28 days before in one busy grid and counted by detection as they came), then a burst of new reports in a
quiet grid of the same street: the queries and the in-process time of detecting each new report (below the
threshold, raising the alert, growing it).
The claim is that the query count is the same at every N and for every report of the burst
(tests/triage/test_hotspots.py asserts it too); the time is a timing figure of this machine.
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
SIZES = [int(s) for s in os.environ.get("GRIDDESK_BENCH_HOTSPOT_SIZES", "0,300,3000").split(",")]
BURST = 20


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
