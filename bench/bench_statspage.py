"""Statistics page benchmark: what /stats/ costs in-process on the api benchmark's dataset (bench/bench_api.py).

Follows bench/run.py's contract. The same dataset as the api benchmark (seed_demo, WORKFLOW_ISSUES through the
workflow, then the bulk issues with their dispatches, ratings and events over two years; `make bench
BENCH=statspage SCALE=100k`), then each page signed in with a session through the test Client: a community's month,
a street's month, the district's month and the district's year (the issue's target: a district year over 1,000,000
issues under 300 ms, once the rollups land). Per page: its SQL queries (constant whatever the data), the median of
ROUNDS timings, and the part spent in issue_stats (which the page calls twice: this period and the previous one) as
against the page's own aggregations (issues.stats_report: kinds and trend, departments), each read from its rollup
and checked equal to the live count it replaced (timed beside it). The plans of its queries
on issues, events, dispatches and ratings go to bench/plans/statspage_<page>.txt; a sequential scan of a hot table
is reported (not fatal here: the figures are what this benchmark is for).
"""

import io
import os
import statistics
import time
from datetime import timedelta

from bench.bench_api import SCALES, _bulk_load, _explain, _user, _workflow_issues

TITLE = "the statistics page /stats/ in-process on the api benchmark's dataset (1,000,000 issues by default)"
PAGES = {
    # name: (username, area code, days)
    "community_month": ("community1", "360702091005", 30),
    "street_month": ("street1", "360702091", 30),
    "district_month": ("district1", "360702", 30),
    "district_year": ("district1", "360702", 365),
}
ROUNDS = 3
NOTES = {
    "scale": "dataset size (GRIDDESK_BENCH_SCALE / make bench SCALE=…)",
    "issues": "issues in the database while measuring",
    "bulk_load_s": "wall time of writing the dataset (bench_api._bulk_load)",
    "seq_scans": "sequential scans of issues, events or ratings in the page's plans",
}
for _name, (_user_name, _code, _days) in PAGES.items():
    NOTES[f"{_name}_queries"] = f"SQL queries of one /stats/ page, {_days} days under {_code}, as {_user_name}"
    NOTES[f"{_name}_page_ms"] = f"the whole page in-process (test Client, session), median of {ROUNDS}, ms"
    NOTES[f"{_name}_issue_stats_ms"] = "issue_stats of the period alone (the page calls it twice), median, ms"
    NOTES[f"{_name}_report_extra_ms"] = "kinds, weekly trend and departments (stats_report's own queries), median, ms"
    NOTES[f"{_name}_kinds_trend_ms"] = "kinds and weekly trend alone (the rollup's trend rows from a community up), ms"
    NOTES[f"{_name}_kinds_trend_live_ms"] = "the same counted live over the issues (the implementation before), ms"
    NOTES[f"{_name}_departments_ms"] = "the departments alone (department rollup rows + entries past a deadline), ms"
    NOTES[f"{_name}_departments_live_ms"] = "the same counted live over dispatches and ratings (before), ms"
NOTES["rollup_rebuild_s"] = "wall time of manage.py rebuild_stats_rollups after the bulk load (it bypasses events)"


def _median_ms(call, rounds=ROUNDS) -> float:
    times = []
    for _ in range(rounds):
        started = time.perf_counter()
        call()
        times.append((time.perf_counter() - started) * 1000)
    return round(statistics.median(times), 1)


def _explain_departments(name: str, statements: list[str]) -> list[str]:
    """Write the plans of the page's reads of the department rollup; return their sequential scans."""
    from django.db import connection

    from bench.bench_api import PLANS_DIR

    found, out = [], []
    for sql in statements:
        if sql.lstrip().upper().startswith("SELECT") and '"issues_department' in sql:
            with connection.cursor() as cursor:
                cursor.execute(f"EXPLAIN (ANALYZE, BUFFERS) {sql}")
                plan = "\n".join(row[0] for row in cursor.fetchall())
            out.append(f"-- {sql}\n{plan}\n")
            found += [f"{name}: {line.strip()}" for line in plan.splitlines() if "Seq Scan on issues_" in line]
    (PLANS_DIR / f"{name}.txt").write_text("\n".join(out), encoding="utf-8")
    return found


def run(ctx) -> dict:
    from django.core.management import call_command

    from issues.models import Issue

    scale = os.environ.get("GRIDDESK_BENCH_SCALE", "1m")
    call_command("seed_demo", "--no-progress", verbosity=0, stdout=io.StringIO())
    _workflow_issues(ctx.log)
    started = time.perf_counter()
    _bulk_load(SCALES[scale])
    figures = {
        "scale": scale,
        "issues": Issue.objects.count(),
        "bulk_load_s": round(time.perf_counter() - started, 1),
    }
    ctx.log(f"{figures['issues']} issues, bulk load {figures['bulk_load_s']} s")
    started = time.perf_counter()
    call_command("rebuild_stats_rollups", "--no-progress", stdout=io.StringIO())
    figures["rollup_rebuild_s"] = round(time.perf_counter() - started, 1)
    return {**figures, **measure(ctx.log)}


def measure(log, *, pages=PAGES, rounds=ROUNDS, prefix: str = "") -> dict:
    """Time `pages` on the current database (built by run(), or the dataset `make bench KEEP=1` leaves).

    Plans go to bench/plans/statspage_<prefix><page>[_departments].txt.
    """
    from django.db import connection
    from django.test import Client, override_settings
    from django.test.utils import CaptureQueriesContext
    from django.utils import timezone

    from grids.models import Area
    from issues.stats import issue_stats
    from issues.stats_report import _kinds_and_trend_live, department_stats, kinds_and_trend
    from tests.issues.stats_department_reference import live_department_stats

    def median_ms(call) -> float:
        return _median_ms(call, rounds)

    figures = {}
    today = timezone.localdate()
    seq_scans = []
    with override_settings(ALLOWED_HOSTS=["testserver"]):
        for name, (username, code, days) in pages.items():
            client = Client()
            client.force_login(_user(username))
            start = today - timedelta(days=days - 1)
            path = f"/stats/?area={code}&from={start.isoformat()}&to={today.isoformat()}"
            client.get(path)  # warm: scope, calendar, plans
            with CaptureQueriesContext(connection) as queries:
                response = client.get(path)
            if response.status_code != 200 or b'id="tile-response_rate"' not in response.content:
                raise RuntimeError(f"{name}: {response.status_code}, not the statistics page")
            figures[f"{name}_queries"] = len(queries)
            # Read now: every later request starts with Django's reset_queries, which empties the log they slice.
            statements = [q["sql"] for q in queries.captured_queries]
            figures[f"{name}_page_ms"] = median_ms(lambda c=client, p=path: c.get(p))
            area = Area.objects.get(code=code)
            now = timezone.now()
            figures[f"{name}_issue_stats_ms"] = median_ms(
                lambda a=area, s=start, n=now: issue_stats(area=a, date_from=s, date_to=today, now=n)
            )
            figures[f"{name}_report_extra_ms"] = median_ms(
                lambda a=area, s=start, n=now: (
                    kinds_and_trend(area=a, date_from=s, date_to=today),
                    department_stats(area=a, date_from=s, date_to=today, now=n),
                )
            )
            kt = {"area": area, "date_from": start, "date_to": today}
            if kinds_and_trend(**kt) != _kinds_and_trend_live(**kt):
                raise RuntimeError(f"{name}: the rollup's kinds and trend differ from the live count")
            figures[f"{name}_kinds_trend_ms"] = median_ms(lambda k=kt: kinds_and_trend(**k))
            figures[f"{name}_kinds_trend_live_ms"] = median_ms(lambda k=kt: _kinds_and_trend_live(**k))
            dt = {**kt, "now": now}
            if department_stats(**dt) != live_department_stats(**dt):
                raise RuntimeError(f"{name}: the department rollup differs from the live count")
            figures[f"{name}_departments_ms"] = median_ms(lambda d=dt: department_stats(**d))
            figures[f"{name}_departments_live_ms"] = median_ms(lambda d=dt: live_department_stats(**d))
            seq_scans += _explain(f"statspage_{prefix}{name}", statements)
            seq_scans += _explain_departments(f"statspage_{prefix}{name}_departments", statements)
            log(f"{name}: {figures[f'{name}_page_ms']} ms, {figures[f'{name}_queries']} queries")
    figures["seq_scans"] = "; ".join(seq_scans) or "none"
    return figures


if __name__ == "__main__":
    # By hand on a kept dataset (HELPERS.md: a copy of griddesk_bench, migrated, rollups rebuilt):
    # DATABASE_URL=postgres://…/gd1m_x .venv/bin/python -m bench.bench_statspage [rounds] [page …]
    # (plans to bench/plans/statspage_byhand_*.txt, beside the harness's own)
    import json
    import sys

    import django

    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.local")
    django.setup()
    args = sys.argv[1:]
    chosen = {name: PAGES[name] for name in args[1:]} or PAGES
    print(json.dumps(measure(print, pages=chosen, rounds=int(args[0]) if args else 5, prefix="byhand_"), indent=1))
