"""The first requests of a connection: how long each of a new process's first N lean requests takes, in-process.

`python -m bench.first_requests DB [--requests 10] [--custom-plans]`: on a kept dataset (a scratch copy of yours, as
bench_api's in-process part uses), one new process and database session asks for the detail of the benchmark's
handled issue (as community1) and the street's first list page (as street1), N times each, interleaved, and prints
each request's milliseconds. The first request of each also compiles and prepares its statement (issues/api/lean.py);
the next ones show what planning costs: PostgreSQL plans a prepared statement's first five executions for their
values before it settles on a generic plan, unless the session plans generically from the start (config.compiled,
on a database with partitioned tables). `--custom-plans` measures without that setting (PostgreSQL's default), for
the before/after on the same database.
"""

import argparse
import json
import os
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("database")
    parser.add_argument("--requests", type=int, default=10)
    parser.add_argument("--custom-plans", action="store_true", help="PostgreSQL's default plan choice (before)")
    args = parser.parse_args()
    if args.database == "griddesk_bench":
        parser.error("it submits nothing, but tokens are written: use a copy")
    os.environ["DATABASE_URL"] = f"postgres://postgres@127.0.0.1:5432/{args.database}"
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.test")
    sys.path.insert(0, str(ROOT))
    import django

    django.setup()
    from django.db import connection
    from django.test import Client, override_settings
    from rest_framework.authtoken.models import Token

    from bench.bench_api import PAGE_SIZE, _handled_issue_id, _user_id
    from config import compiled

    if args.custom_plans:
        compiled.GENERIC_PLANS_WHEN_PARTITIONED = ""
    issue_id = _handled_issue_id()
    clients = {}
    for name in ("community1", "street1"):
        token = Token.objects.get_or_create(user__username=name, defaults={"user_id": _user_id(name)})[0].key
        clients[name] = Client(headers={"authorization": f"Token {token}"})
    requests = {
        "detail": (clients["community1"], f"/api/v1/issues/{issue_id}/"),
        "list_street": (clients["street1"], f"/api/v1/issues/?page_size={PAGE_SIZE}"),
    }
    load = round(os.getloadavg()[0], 2)
    times: dict[str, list[float]] = {name: [] for name in requests}
    with override_settings(ALLOWED_HOSTS=["testserver"]):
        for _ in range(args.requests):
            for name, (client, path) in requests.items():
                started = time.perf_counter()
                response = client.get(path)
                times[name].append(round((time.perf_counter() - started) * 1000, 1))
                if response.status_code != 200:
                    raise RuntimeError(f"{name}: {response.status_code}")
    with connection.cursor() as cursor:
        cursor.execute("SHOW plan_cache_mode")
        mode = cursor.fetchone()[0]
        cursor.execute("SELECT name, generic_plans, custom_plans FROM pg_prepared_statements ORDER BY name")
        plans = {name: {"generic": g, "custom": c} for name, g, c in cursor.fetchall()}
    figures = {
        "plan_cache_mode": mode,
        "load_average_1m_before": load,
        "load_average_1m_after": round(os.getloadavg()[0], 2),
        **{f"{name}_ms": values for name, values in times.items()},
        **{f"{name}_median_2_to_n_ms": statistics.median(values[1:]) for name, values in times.items()},
        "prepared_plans": plans,
    }
    print(json.dumps(figures, ensure_ascii=False))


if __name__ == "__main__":
    main()
