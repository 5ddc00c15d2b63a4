"""Read replica benchmark: dashboards on a real streaming replica through the router, and what its lag means.

Follows bench/run.py's contract. The api benchmark's dataset (bench/bench_api.py; 100,000 issues unless `make bench
SCALE=…` says otherwise) is built in the bench database, then bench/pg_replica.py starts a PostgreSQL primary and a
hot standby of its own (initdb, pg_basebackup: the machine's cluster is not touched) and the dataset is copied into
the primary with pg_dump, so the standby receives it by streaming. Django is then pointed at that primary, with the
standby as DATABASE_REPLICA_URL would name it, and in-process:

- the statistics API (street, last 30 days) runs with the queries of each server counted: the statistics come
  from the standby (`pg_is_in_recovery()`), only the session from the primary; the same statistics timed on both
  (that an export job reads its rows from a real standby is tests/test_db_router.py's to show);
- a staff member submits issues through the API one after another: each answer pins them to the primary
  (config/db_router.py), so their next statistics count their own issue at once, while the standby's replay of
  that write is timed (the lag anyone else would see);
- a bulk write (manage.py rebuild_stats_rollups on the primary) and how long the standby needs, after it, to
  replay it: what replica lag means for a dashboard on a busy morning.
"""

import io
import os
import statistics
import threading
import time

from bench.bench_api import SCALES, _bulk_load, _user, _workflow_issues
from bench.pg_replica import ReplicaPair

TITLE = "statistics on a real streaming replica (pg_basebackup) through the router, and replica lag"
WRITES = 100
ROUNDS = 5
NOTES = {
    "scale": "dataset size (GRIDDESK_BENCH_SCALE / make bench SCALE=…; 100k unless named)",
    "issues": "issues in the copied database",
    "copy_s": "pg_dump of the bench database into the pair's primary",
    "copy_replayed_s": "how long after the copy committed the standby had replayed all of it",
    "stats_replica_queries": "queries of GET /api/v1/stats/ (street1, 30 days) that ran on the standby",
    "stats_primary_queries": "queries of that request on the primary: the signed-in user's session, no statistics",
    "stats_replica_in_recovery": "pg_is_in_recovery() on the server the statistics read: true = a standby",
    "stats_on_replica_ms": f"issue_stats of the street's month read from the standby, median of {ROUNDS}, ms",
    "stats_on_primary_ms": f"the same read from the primary, median of {ROUNDS}, ms",
    "writes": "issues submitted through the API (community1, session), one after another",
    "writer_pinned": "of those, how many left their author's next statistics on the primary",
    "writer_saw_own_write": "of those, how many the author's next statistics counted at once",
    "lag_ms_median": "standby replay of one submission, from its answer to pg_last_wal_replay_lsn() passing it, ms",
    "lag_ms_p95": "95th percentile of that, ms",
    "lag_ms_max": "the longest of that, ms",
    "bulk_write_s": "manage.py rebuild_stats_rollups on the primary (a bulk write)",
    "bulk_write_wal_mb": "WAL it wrote, MB",
    "bulk_write_behind_mb_max": "during it, the most WAL the standby had received or not yet replayed, MB (sampled"
    " every 20 ms)",
    "bulk_write_behind_s_max": "during it, the longest a written position waited to be replayed, s (sampled)",
    "bulk_write_lag_s": "after it committed, how long until the standby had replayed it (what others wait for)",
}


def _point_at(primary_port: int, replica_port: int, name: str) -> dict:
    """Send 'default' to the pair's primary and add the 'replica' alias on its standby; return what to restore."""
    from django.conf import settings
    from django.db import connections

    connections.close_all()
    default = connections["default"].settings_dict
    saved = {key: default[key] for key in ("HOST", "PORT", "NAME")}
    default.update(HOST="127.0.0.1", PORT=str(primary_port), NAME=name)
    settings.DATABASES["replica"] = {**default, "PORT": str(replica_port), "TEST": {"MIRROR": None}}
    return saved


def _restore(saved: dict) -> None:
    from django.conf import settings
    from django.db import connections

    connections.close_all()
    settings.DATABASES.pop("replica", None)
    connections.settings.pop("replica", None)
    connections["default"].settings_dict.update(saved)


def _replay_waiter(port: int):
    """Return wait(lsn) -> seconds until the standby on `port` replayed `lsn`, polling every half millisecond."""
    import psycopg2

    conn = psycopg2.connect(host="127.0.0.1", port=port, user="postgres", dbname="postgres")
    conn.autocommit = True

    def wait(lsn: str) -> float:
        started = time.perf_counter()
        with conn.cursor() as cursor:
            while True:
                cursor.execute("SELECT pg_last_wal_replay_lsn() >= %s::pg_lsn", [lsn])
                if cursor.fetchone()[0]:
                    return time.perf_counter() - started
                time.sleep(0.0005)

    return wait


def _current_lsn() -> str:
    from django.db import connections

    with connections["default"].cursor() as cursor:
        cursor.execute("SELECT pg_current_wal_lsn()")
        return cursor.fetchone()[0]


def _routing(log) -> dict:
    """Statistics through the router: count where their queries ran."""
    from datetime import timedelta

    from django.db import connections
    from django.test import Client
    from django.test.utils import CaptureQueriesContext
    from django.utils import timezone

    from config.db_router import replica_reads
    from grids.models import Area
    from issues.stats import issue_stats

    street1 = _user("street1")
    client = Client()
    client.force_login(street1)
    today = timezone.localdate()
    query = {"area": "360702091", "from": str(today - timedelta(days=30)), "to": str(today)}
    client.get("/api/v1/stats/", query)  # warm: the session's first request remembers its user
    with (
        CaptureQueriesContext(connections["replica"]) as on_replica,
        CaptureQueriesContext(connections["default"]) as on_primary,
    ):
        answer = client.get("/api/v1/stats/", query)
    assert answer.status_code == 200, answer.content[:500]
    with connections["replica"].cursor() as cursor:
        cursor.execute("SELECT pg_is_in_recovery()")
        in_recovery = cursor.fetchone()[0]
    figures = {
        "stats_replica_queries": len(on_replica),
        "stats_primary_queries": len(on_primary),
        "stats_replica_in_recovery": in_recovery,
    }
    log("statistics request on the primary: " + " | ".join(q["sql"][:90] for q in on_primary.captured_queries))
    street = Area.objects.get(code="360702091")
    since = today - timedelta(days=30)
    for where, use in (("replica", True), ("primary", False)):
        times = []
        for _ in range(ROUNDS):
            started = time.perf_counter()
            if use:
                with replica_reads(user=street1):
                    issue_stats(area=street, date_from=since, date_to=today)
            else:
                issue_stats(area=street, date_from=since, date_to=today)
            times.append((time.perf_counter() - started) * 1000)
        figures[f"stats_on_{where}_ms"] = round(statistics.median(times), 1)

    log(f"routing: {figures}")
    return figures


def _read_your_write(log, wait) -> dict:
    """Submit WRITES issues through the API as community1; check each pins its author and time the standby's replay."""
    from django.test import Client

    from config.db_router import replica_reads
    from grids.models import Area
    from issues.models import Issue
    from issues.stats import issue_stats

    community1 = _user("community1")
    client = Client()
    client.force_login(community1)
    body = {"description": "楼道灯不亮了，请尽快维修", "location": {"lat": 25.83, "lng": 114.96}}
    first = client.post("/api/v1/issues/", body, content_type="application/json")  # warm; finds the community
    assert first.status_code == 201, first.content[:500]
    community = Area.objects.get(code=Issue.objects.get(pk=first.json()["id"]).community_code)
    pinned = saw = 0
    lags = []
    with replica_reads(user=community1):
        before = issue_stats(area=community, date_from=None, date_to=None)["total"]
    for n in range(1, WRITES + 1):
        answer = client.post("/api/v1/issues/", body, content_type="application/json")
        assert answer.status_code == 201, answer.content[:500]
        lsn = _current_lsn()
        with replica_reads(user=community1) as used:
            total = issue_stats(area=community, date_from=None, date_to=None)["total"]
        pinned += not used
        saw += total == before + n
        lags.append(wait(lsn) * 1000)
    lags.sort()
    figures = {
        "writes": WRITES,
        "writer_pinned": pinned,
        "writer_saw_own_write": saw,
        "lag_ms_median": round(statistics.median(lags), 2),
        "lag_ms_p95": round(lags[int(len(lags) * 0.95) - 1], 2),
        "lag_ms_max": round(lags[-1], 2),
    }
    log(f"read your write: {figures}")
    return figures


class _BehindSampler(threading.Thread):
    """Every 20 ms during a bulk write: how far the standby's replay is behind the primary's WAL, in bytes, and how
    long the oldest unreplayed position has been waiting (what a dashboard on the standby misses)."""

    def __init__(self, *, primary: dict, replica: dict):
        super().__init__(daemon=True)
        self.primary, self.replica = primary, replica
        self.most_bytes, self.most_seconds = 0, 0.0
        self.done = threading.Event()

    def _connect(self, db: dict):
        import psycopg2

        conn = psycopg2.connect(host=db["HOST"], port=db["PORT"], user=db["USER"] or "postgres", dbname="postgres")
        conn.autocommit = True
        return conn

    def run(self) -> None:
        primary, replica = self._connect(self.primary), self._connect(self.replica)
        waiting: dict[str, float] = {}  # primary position -> when first seen unreplayed
        try:
            while not self.done.wait(0.02):
                with primary.cursor() as cursor:
                    cursor.execute("SELECT pg_current_wal_lsn()")
                    current = cursor.fetchone()[0]
                waiting.setdefault(current, time.perf_counter())
                with replica.cursor() as cursor:
                    cursor.execute("SELECT pg_last_wal_replay_lsn()")
                    replayed = cursor.fetchone()[0]
                    cursor.execute("SELECT %s::pg_lsn - %s::pg_lsn", [current, replayed])
                    self.most_bytes = max(self.most_bytes, int(cursor.fetchone()[0]))
                    cursor.execute(
                        "SELECT array_agg(p) FROM unnest(%s::text[]) AS p WHERE p::pg_lsn <= %s::pg_lsn",
                        [list(waiting), replayed],
                    )
                    for position in cursor.fetchone()[0] or []:
                        self.most_seconds = max(self.most_seconds, time.perf_counter() - waiting.pop(position))
        finally:
            primary.close()
            replica.close()

    def stop(self) -> None:
        self.done.set()
        self.join()


def _bulk_write(log, wait) -> dict:
    from django.core.management import call_command
    from django.db import connections

    def wal_bytes(lsn: str) -> int:
        with connections["default"].cursor() as cursor:
            cursor.execute("SELECT pg_wal_lsn_diff(pg_current_wal_lsn(), %s::pg_lsn)", [lsn])
            return int(cursor.fetchone()[0])

    start = _current_lsn()
    behind = _BehindSampler(primary=connections["default"].settings_dict, replica=connections["replica"].settings_dict)
    behind.start()
    started = time.perf_counter()
    try:
        call_command("rebuild_stats_rollups", "--no-progress", stdout=io.StringIO())
    finally:
        behind.stop()
    figures = {"bulk_write_s": round(time.perf_counter() - started, 1)}
    figures["bulk_write_behind_mb_max"] = round(behind.most_bytes / 1e6, 1)
    figures["bulk_write_behind_s_max"] = round(behind.most_seconds, 3)
    figures["bulk_write_wal_mb"] = round(wal_bytes(start) / 1e6, 1)
    figures["bulk_write_lag_s"] = round(wait(_current_lsn()), 3)
    log(f"bulk write: {figures}")
    return figures


def run(ctx) -> dict:
    from django.core.management import call_command
    from django.db import connections
    from django.test import override_settings

    from issues.models import Issue

    scale = os.environ.get("GRIDDESK_BENCH_SCALE", "100k")
    figures = {"scale": scale}
    if not ctx.reuse:
        call_command("seed_demo", "--no-progress", verbosity=0, stdout=io.StringIO())
        _workflow_issues(ctx.log)
        _bulk_load(SCALES[scale])
        call_command("rebuild_stats_rollups", "--no-progress", stdout=io.StringIO())
    figures["issues"] = Issue.objects.count()
    connections.close_all()
    name = connections["default"].settings_dict["NAME"]
    with ReplicaPair() as pair:
        started = time.perf_counter()
        pair.copy_database(ctx.database_url, name)
        figures["copy_s"] = round(time.perf_counter() - started, 1)
        figures["copy_replayed_s"] = round(pair.replayed(pair.primary_lsn()), 3)
        ctx.log(f"{figures['issues']} issues copied into the pair's primary in {figures['copy_s']} s")
        saved = _point_at(pair.primary_port, pair.replica_port, name)
        try:
            wait = _replay_waiter(pair.replica_port)
            with override_settings(ALLOWED_HOSTS=["testserver"], MEDIA_ROOT=str(ctx.tmp_dir / "media")):
                figures.update(_routing(ctx.log))
                figures.update(_read_your_write(ctx.log, wait))
                figures.update(_bulk_write(ctx.log, wait))
        finally:
            _restore(saved)
    return figures
