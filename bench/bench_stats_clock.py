"""Time issue_stats in-process on a kept dataset, by hand: a street's month and a district's year (bench/bench_api.py's
periods), each the median of N calls, with its queries and, per query, its time; and a digest of the answer (so two
versions of the code can be compared on one database at one moment `now`).

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/<a copy> .venv/bin/python bench/bench_stats_clock.py [-n 15]
        [--now 2026-12-04T20:00:00+08:00]

Read-only. Run from the checkout whose code is measured (PYTHONPATH picks it up).
"""

import argparse
import hashlib
import json
import os
import statistics
import sys
import time
from datetime import date, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path.cwd()))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.test")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("-n", type=int, default=15)
    parser.add_argument("--now", default=None, help="the moment of reading (ISO 8601); default: now")
    args = parser.parse_args()
    import django

    django.setup()
    from django.db import connection
    from django.test.utils import CaptureQueriesContext
    from django.utils import timezone

    from grids.models import Area
    from issues.stats import issue_stats

    now = datetime.fromisoformat(args.now) if args.now else timezone.now()
    today = timezone.localdate(now)
    calls = {
        "stats_street_month": (Area.objects.get(code="360702091"), today - timedelta(days=29), today),
        "stats_district_year": (Area.objects.get(code="360702"), today - timedelta(days=364), today),
    }
    out = {"now": now.isoformat(), "load_average_1m_before": round(os.getloadavg()[0], 2)}
    for name, (area, date_from, date_to) in calls.items():
        call = lambda a=area, f=date_from, t=date_to: issue_stats(area=a, date_from=f, date_to=t, now=now)  # noqa: E731
        answer = call()  # warm
        with CaptureQueriesContext(connection) as queries:
            call()
        times = []
        for _ in range(args.n):
            start = time.perf_counter()
            call()
            times.append((time.perf_counter() - start) * 1000)
        out[name] = {
            "median_ms": round(statistics.median(times), 1),
            "min_ms": round(min(times), 1),
            "max_ms": round(max(times), 1),
            "queries": len(queries),
            "query_ms": [float(q["time"]) * 1000 for q in queries.captured_queries],
            "overdue": answer["overdue"],
            "due": answer["counts"]["due"],
            "answer_sha256": hashlib.sha256(json.dumps(answer, default=str).encode()).hexdigest()[:16],
        }
    out["load_average_1m_after"] = round(os.getloadavg()[0], 2)
    print(json.dumps(out, default=lambda v: v.isoformat() if isinstance(v, date) else str(v)))


if __name__ == "__main__":
    main()
