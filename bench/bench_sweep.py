"""Escalation sweep and large export at city scale (1,000,000 issues by default; `--scale 100k` quick).

Follows bench/run.py's contract. The dataset is bench_api's (seed_demo, then two years of issues written in time
order by INSERT … SELECT, with dispatches, ratings and events), then every deadline already passed is marked as
escalated for, and exactly OVERDUE open issues get a resolution deadline passed an hour or so ago and not yet
escalated. Measured in-process on PostgreSQL:

- the first sweep (escalates OVERDUE issues, their events and outbox rows, delivery queued on commit) and its
  number of queries; the second sweep (must escalate nothing); EXPLAIN (ANALYZE, BUFFERS) of the candidate reads in
  bench/plans/sweep.txt;
- an export job of EXPORT_MAX_ROWS rows (masked, Chinese) as CSV and XLSX, and the same CSV through the
  instance-and-prefetch path it replaced (for the before/after).
"""

import io
import os
import sys
import time

from bench.bench_api import PLANS_DIR, SCALES, SEQ_SCAN, _bulk_load

TITLE = "escalation sweep and export jobs at city scale"
OVERDUE = 10_000
NOTES = {
    "sweep_first_read": "how the first sweep found them: 'minute' (they fell due within the last minute, read from the"
    " horizon the previous minute's run left) or 'full' (due over the last day, every running deadline read)",
    "sweep_first_s": f"wall time of the sweep that escalates {OVERDUE:,} overdue issues (one run)",
    "sweep_first_queries": "SQL statements of that sweep, BEGIN/COMMIT not counted (constant per chunk of 1,000)",
    "sweep_first_python_cpu_s": "CPU time of the Python process in that sweep (the rest of the wall time: the database,"
    " and waiting for a CPU on a shared machine)",
    "sweep_connections": "database connections the sweep worked its chunks on at once (GRIDDESK_SWEEP_CONNECTIONS;"
    " queries and Python CPU count every thread's)",
    "sweep_escalated": "escalations done by the first sweep",
    "sweep_notifications": "outbox rows the first sweep wrote",
    "sweep_issue_updates": "rows of issues_issue the first sweep updated (pg_stat_user_tables.n_tup_upd)",
    "sweep_issue_hot_updates": "of those, HOT updates (n_tup_hot_upd): rewritten in place, no index entry written",
    "sweep_second_s": "wall time of the next sweep, which must escalate nothing",
    "sweep_second_escalated": "escalations of the second sweep (0)",
    "sweep_second_queries": "SQL queries of the second sweep (the two candidate reads)",
    "sweep_load_average_1m_before": "1-minute load average just before the first sweep (2 CPUs shared with other work)",
    "sweep_load_average_1m_after": "1-minute load average just after the second sweep",
    "export_csv_s": "export job, 100,000 rows, CSV, masked, Chinese",
    "export_xlsx_s": "export job, 100,000 rows, XLSX, masked, Chinese",
    "export_csv_instances_s": "the same CSV rows through the model-instance path with prefetches (before)",
}


def _partner_webhook(subscribed: bool) -> None:
    """Subscribe the demo partner to escalations (and make it the reporter of a tenth of the overdue issues), or remove
    that subscription: with it, those escalations also write a webhook row whose body is the issue as the partner sees
    it."""
    from django.db import connection

    from notifications.models import WebhookEndpoint
    from notifications.webhooks import webhook_secret_new
    from orgs.models import PartnerApp

    url = "https://partner.example/bench-sweep"
    WebhookEndpoint.objects.filter(url=url).delete()
    if subscribed:
        partner = PartnerApp.objects.get(slug="demo-partner")
        WebhookEndpoint.objects.create(
            partner=partner, url=url, events=["issue.escalated"], secret=webhook_secret_new(), is_active=True
        )
        # A partner sees what it reported: one overdue issue in ten came through its app.
        with connection.cursor() as cursor:
            cursor.execute(
                "UPDATE issues_issue SET reporter_user_id = %s WHERE id IN (SELECT id FROM issues_issue i"
                " WHERE resolution_due_at < now() AND status IN ('classified', 'dispatched', 'in_progress')"
                " AND NOT EXISTS (SELECT FROM issues_escalationmark m WHERE m.issue_id = i.id"
                " AND m.deadline = 'resolution' AND m.due_at = i.resolution_due_at) ORDER BY number LIMIT %s)",
                [partner.user_id, OVERDUE // 10],
            )


# The running deadlines (issues.models.escalation_running_q) as SQL, for preparing the dataset.
RUNNING = {
    "response": "status IN ('classified', 'dispatched') AND accepted_at IS NULL",
    "resolution": "status IN ('classified', 'dispatched', 'in_progress')",
}


# How the first sweep finds the OVERDUE deadlines (--first-read):
# "minute": they fell due within the last minute, all at once (deadlines counted in working days cluster on the
#   first working hour after a holiday), and the sweeps ran every minute before: the first sweep reads from the
#   horizon the run a minute earlier left (issues.escalation.escalation_horizon), as every run does in steady state.
# "full": they fell due over the last day, and the first sweep reads every running deadline (no horizon: the first run
#   on a database, an hourly backstop read, a run after an outage).
FIRST_READS = ("minute", "full")


def _prepare(total: int, first_read: str = "minute") -> None:
    from django.db import connection

    spread = "random() * interval '55 seconds'"
    if first_read == "full":
        spread = "interval '1 hour' + random() * interval '1 day'"
    with connection.cursor() as cursor:
        # Exactly OVERDUE open issues whose resolution deadline passed (FIRST_READS), not escalated yet (still at the
        # community: each run escalates them to the street and their rollup rows change, as on a first run). The
        # rows are rewritten (a non-HOT update: the deadline is indexed), as a deadline change in production rewrites
        # them, so they land on pages filled to the table's fillfactor.
        cursor.execute(
            f"""
            UPDATE issues_issue SET resolution_due_at = now() - ({spread}),
                                    escalation_level = 0
            WHERE id IN (SELECT id FROM issues_issue WHERE status IN ('classified', 'dispatched', 'in_progress')
                         AND response_due_at IS NOT NULL ORDER BY number LIMIT %s)
            """,
            [OVERDUE],
        )
        # Their earlier runs' resolution marks go (each run is a first run: one mark per deadline, as in production).
        cursor.execute(
            """
            DELETE FROM issues_escalationmark WHERE deadline = 'resolution' AND issue_id IN (SELECT id FROM issues_issue
                WHERE status IN ('classified', 'dispatched', 'in_progress') AND response_due_at IS NOT NULL
                ORDER BY number LIMIT %s)
            """,
            [OVERDUE],
        )
        # Every other deadline that passed while it ran has escalated already: the sweep starts from a quiet city.
        for deadline in ("response", "resolution"):
            cursor.execute(
                f"""
                INSERT INTO issues_escalationmark (issue_id, deadline, due_at)
                SELECT id, %s, {deadline}_due_at FROM issues_issue
                WHERE {RUNNING[deadline]} AND {deadline}_due_at < now()
                      AND id NOT IN (SELECT id FROM issues_issue WHERE status IN ('classified', 'dispatched',
                                     'in_progress') AND response_due_at IS NOT NULL ORDER BY number LIMIT %s)
                ON CONFLICT DO NOTHING
                """,
                [deadline, OVERDUE],
            )
        cursor.execute(
            """
            INSERT INTO issues_escalationmark (issue_id, deadline, due_at)
            SELECT id, 'response', response_due_at FROM issues_issue
            WHERE response_due_at < now() AND id IN (SELECT id FROM issues_issue WHERE status IN ('classified',
                  'dispatched', 'in_progress') AND response_due_at IS NOT NULL ORDER BY number LIMIT %s)
            ON CONFLICT DO NOTHING
            """,
            [OVERDUE],
        )
    _rollups_refresh()
    with connection.cursor() as cursor:
        cursor.execute("VACUUM ANALYZE issues_issue")
        cursor.execute("VACUUM ANALYZE issues_escalationmark")


def _rollups_refresh() -> None:
    """Bring the statistics rollups of the re-marked issues up to date, as the workflow does when it moves a deadline,
    so the sweep's rollup refresh counts the escalations alone (not the new deadlines and levels written above)."""
    from django.db import transaction

    from issues.models import Issue
    from issues.rollups import rollup_refresh

    ids = list(
        Issue.objects.filter(status__in=["classified", "dispatched", "in_progress"], response_due_at__isnull=False)
        .order_by("number")
        .values_list("pk", flat=True)[:OVERDUE]
    )
    for start in range(0, len(ids), 1000):
        with transaction.atomic():
            rollup_refresh(ids[start : start + 1000])


def _issue_updates() -> tuple[int, int]:
    """Return issues_issue's (updated, HOT-updated) row counts so far, this backend's pending counts flushed first."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_stat_force_next_flush()")
    with connection.cursor() as cursor:  # a statement later: the flush happens when the previous one ends
        # Partitioned (issues.partitioning): the partitions' counts, the parent has none.
        cursor.execute(
            "SELECT sum(n_tup_upd)::bigint, sum(n_tup_hot_upd)::bigint FROM pg_stat_user_tables"
            " WHERE relid = 'issues_issue'::regclass"
            " OR relid IN (SELECT inhrelid FROM pg_inherits WHERE inhparent = 'issues_issue'::regclass)"
        )
        return cursor.fetchone()


class _QueryCounter:
    """Count the queries run inside it (an execute wrapper: unlike CaptureQueriesContext it keeps no SQL text, whose
    rendering of a sweep's arrays of thousands of ids would be timed with the sweep)."""

    def __init__(self, timed: bool = False):
        self.count = 0
        self.timed = {} if timed else None  # --profile: seconds by the statement's first words

    def __call__(self, execute, sql, params, many, context):
        self.count += 1
        if self.timed is None:
            return execute(sql, params, many, context)
        started = time.perf_counter()
        try:
            return execute(sql, params, many, context)
        finally:
            key = " ".join(sql.split()[:6])[:90]
            seconds, n = self.timed.get(key, (0.0, 0))
            self.timed[key] = (seconds + time.perf_counter() - started, n + 1)

    def __len__(self):
        return self.count

    def __enter__(self):
        from django.db import connection

        self._wrapped = connection.execute_wrapper(self)
        self._wrapped.__enter__()
        return self

    def __exit__(self, *exc):
        self._wrapped.__exit__(*exc)


def _sweep(ctx, first_read: str = "minute") -> dict:
    from datetime import timedelta

    from django.conf import settings
    from django.utils import timezone

    from issues.escalation import ESCALATION_LIMIT, escalation_reads, escalation_sweep
    from issues.models import EscalationHorizon
    from notifications.models import Notification

    now = timezone.now()
    EscalationHorizon.objects.all().delete()
    if first_read == "minute":  # the sweep a minute ago covered everything up to then; the last full read was at :00
        EscalationHorizon.objects.create(
            name="escalation", covered_until=now - timedelta(minutes=1), full_read_at=now - timedelta(minutes=30)
        )
    candidates = [read[:ESCALATION_LIMIT] for read in escalation_reads(now)[1].values()]
    plans = [f"-- before the first sweep (the overdue issues due; read: {first_read})"]
    plans += [f"-- {query.query}\n{query.explain(analyze=True, buffers=True)}\n" for query in candidates]
    before = Notification.objects.count()
    updates_before = _issue_updates()
    load_before = round(os.getloadavg()[0], 2)
    profile = os.environ.get("GRIDDESK_SWEEP_PROFILE")  # --profile: where the first sweep's time goes, on stderr
    if profile:
        import cProfile

        profiler = cProfile.Profile()
        profiler.enable()
    started, cpu = time.perf_counter(), time.process_time()
    with _QueryCounter(timed=bool(profile)) as captured:
        done = escalation_sweep(now=now)
    first = time.perf_counter() - started
    cpu = time.process_time() - cpu
    if profile:
        import pstats

        profiler.disable()
        pstats.Stats(profiler, stream=sys.stderr).sort_stats("cumulative").print_stats(40)
        for key, (seconds, n) in sorted(captured.timed.items(), key=lambda item: -item[1][0])[:15]:
            ctx.log(f"{seconds:7.3f} s {n:4d}x {key}")
    figures = {
        "sweep_first_read": first_read,
        "sweep_load_average_1m_before": load_before,
        "sweep_first_s": round(first, 3),
        "sweep_first_queries": len(captured),
        "sweep_first_python_cpu_s": round(cpu, 3),
        "sweep_connections": settings.GRIDDESK_SWEEP_CONNECTIONS,
        "sweep_escalated": len(done),
        "sweep_notifications": Notification.objects.count() - before,
    }
    updates = _issue_updates()
    figures["sweep_issue_updates"] = updates[0] - updates_before[0]
    figures["sweep_issue_hot_updates"] = updates[1] - updates_before[1]
    ctx.log(
        f"sweep: {len(done)} escalations in {first:.2f} s, {len(captured)} queries (load {load_before}),"
        f" {figures['sweep_issue_hot_updates']} of {figures['sweep_issue_updates']} issue updates HOT"
    )
    started = time.perf_counter()
    with _QueryCounter() as captured:
        again = escalation_sweep(now=now)  # the same moment: deadlines passing meanwhile are the next run's
    figures["sweep_second_s"] = round(time.perf_counter() - started, 3)
    figures["sweep_second_queries"] = len(captured)
    figures["sweep_second_escalated"] = len(again)
    figures["sweep_load_average_1m_after"] = round(os.getloadavg()[0], 2)
    ctx.log(f"second sweep: {len(again)} escalations in {figures['sweep_second_s']} s, {len(captured)} queries")
    # The plans of the candidate reads after the sweep: the next minute's (from this run's horizon: nothing due) and the
    # hourly full read's (every running deadline; all escalated for already).
    for label, full in (("the next run, from the horizon", False), ("a full read", True)):
        plans += [f"-- after it: {label}, nothing due"]
        queries = [read[:ESCALATION_LIMIT] for read in escalation_reads(now, full=full)[1].values()]
        plans += [f"-- {query.query}\n{query.explain(analyze=True, buffers=True)}\n" for query in queries]
    PLANS_DIR.mkdir(exist_ok=True)
    prefix = os.environ.get("GRIDDESK_BENCH_PLANS_PREFIX", "")
    name = "sweep" if first_read == "minute" else f"sweep_{first_read}"
    (PLANS_DIR / f"{prefix}{name}.txt").write_text("\n".join(plans), encoding="utf-8")
    figures["sweep_seq_scans"] = sum(len(SEQ_SCAN.findall(plan)) for plan in plans)
    return figures


def _exports(ctx) -> dict:
    from django.contrib.auth import get_user_model

    from issues import exports
    from issues.models import ExportJob
    from issues.selectors import issue_list_for_user

    user = get_user_model().objects.get(username="district1")
    figures = {}
    for file_format in ("csv", "xlsx"):
        job = exports.export_record(
            user=user, file_format=file_format, lang="zh", filters={}, masked=True, rows=0, direct=False
        )
        started = time.perf_counter()
        status = exports.export_job_run(job_id=job.pk)
        figures[f"export_{file_format}_s"] = round(time.perf_counter() - started, 2)
        job = ExportJob.objects.get(pk=job.pk)
        figures[f"export_{file_format}_rows"] = job.rows_done
        ctx.log(f"export {file_format}: {status}, {job.rows_done} rows in {figures[f'export_{file_format}_s']} s")
    # The path it replaced: model instances with three prefetches, chunk by chunk.
    queryset = issue_list_for_user(user=user)
    labels = exports.export_labels(lang="zh")
    started = time.perf_counter()
    rows = (
        exports.export_row(issue=issue, viewer=user, labels=labels)
        for issue in queryset.select_related("grid__parent__parent__parent")[: exports.EXPORT_MAX_ROWS].iterator(
            chunk_size=exports.EXPORT_CHUNK_SIZE
        )
    )
    sink = io.BytesIO()
    for chunk in exports.csv_stream(rows=rows, lang="zh"):
        sink.write(chunk)
    figures["export_csv_instances_s"] = round(time.perf_counter() - started, 2)
    ctx.log(f"export csv through instances: {figures['export_csv_instances_s']} s")
    return figures


def run(ctx) -> dict:
    from django.core.management import call_command
    from django.test.utils import override_settings

    from issues.models import Issue

    scale = os.environ.get("GRIDDESK_BENCH_SCALE", "1m")
    call_command("seed_demo", "--no-progress", verbosity=0, stdout=io.StringIO())
    started = time.perf_counter()
    _bulk_load(SCALES[scale])
    _prepare(SCALES[scale])
    figures: dict = {"scale": scale, "issues": Issue.objects.count(), "load_s": round(time.perf_counter() - started, 1)}
    ctx.log(f"{figures['issues']} issues loaded in {figures['load_s']} s")
    figures.update(_sweep(ctx))
    # Again with the deadlines spread over a day and every running deadline read (FIRST_READS).
    _prepare(SCALES[scale], "full")
    figures.update({f"full_read_{key}": value for key, value in _sweep(ctx, "full").items()})
    with override_settings(MEDIA_ROOT=str(ctx.tmp_dir)):
        figures.update(_exports(ctx))
    return figures


def main() -> None:
    """`python -m bench.bench_sweep DATABASE [--scale 1m] [--load]`: measure again and again on a database kept
    between runs (bench/run.py makes a fresh one each time): --load creates, migrates and fills it once; every run
    then re-marks OVERDUE issues as due and measures. DATABASE must be a scratch database of your own."""
    import argparse
    import json
    import sys
    from pathlib import Path

    import psycopg2

    parser = argparse.ArgumentParser()
    parser.add_argument("database")
    parser.add_argument("--scale", default="1m", choices=SCALES)
    parser.add_argument("--load", action="store_true")
    parser.add_argument("--sweep-only", action="store_true", help="measure the sweep, not the exports")
    parser.add_argument("--partner-webhook", action="store_true", help="the demo partner hears of escalations")
    parser.add_argument("--profile", action="store_true", help="cProfile the first sweep and time its statements")
    parser.add_argument("--plans-prefix", default="", help="bench/plans/<prefix>sweep.txt (partitioned_: 10 M)")
    parser.add_argument("--first-read", default="minute", choices=FIRST_READS, help="see FIRST_READS")
    args = parser.parse_args()
    os.environ["GRIDDESK_BENCH_PLANS_PREFIX"] = args.plans_prefix
    if args.load:
        admin = psycopg2.connect("postgres://postgres@127.0.0.1:5432/postgres")
        admin.autocommit = True
        admin.cursor().execute(f'DROP DATABASE IF EXISTS "{args.database}" WITH (FORCE)')
        admin.cursor().execute(f'CREATE DATABASE "{args.database}"')
    os.environ["DATABASE_URL"] = f"postgres://postgres@127.0.0.1:5432/{args.database}"
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.test")
    os.environ["GRIDDESK_BENCH_SCALE"] = args.scale
    if args.profile:
        os.environ["GRIDDESK_SWEEP_PROFILE"] = "1"
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    import django

    django.setup()
    from django.core.management import call_command

    class Ctx:
        tmp_dir = Path("/tmp") / f"{args.database}-media"

        @staticmethod
        def log(message):
            print(f"  {message}", file=sys.stderr, flush=True)

    if args.load:
        call_command("migrate", verbosity=0)
        call_command("seed_demo", "--no-progress", verbosity=0, stdout=io.StringIO())
        started = time.perf_counter()
        _bulk_load(SCALES[args.scale])
        Ctx.log(f"loaded in {time.perf_counter() - started:.0f} s")
    _prepare(SCALES[args.scale], args.first_read)
    _partner_webhook(args.partner_webhook)
    figures = {"partner_webhook": args.partner_webhook, **_sweep(Ctx, args.first_read)}
    from django.test.utils import override_settings

    if not args.sweep_only:
        with override_settings(MEDIA_ROOT=str(Ctx.tmp_dir)):
            figures.update(_exports(Ctx))
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
