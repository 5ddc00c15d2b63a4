"""API benchmark: the issue API over real HTTP (gunicorn, 2 sync workers, wrk) against a bare Django view and plain
DRF, on a city-sized dataset (1,000,000 issues by default; `make bench SCALE=100k` quick, `SCALE=10m` stretch).

Follows bench/run.py's contract. On the fresh PostgreSQL database: `seed_demo`, a few hundred issues through
issues.workflow (so events, dispatches, ratings and outbox rows exist the way the code writes them), then the
dataset written by INSERT … SELECT in time order as production writes it: two years of issues over every demo grid,
old ones ended (closed, mostly rated; rejected), the last 20 days still moving, about 1 % past their resolution
deadline; every issue with its dispatch, rating, channel and events (not through the workflow: an hour per 100k).

In-process first: the SQL queries of each hot request (list, deep page, detail, statistics of a street's month and
a district's year, text search, create) and the median of five timings; `EXPLAIN (ANALYZE, BUFFERS)` of each of
their queries on issues, events or ratings is saved in bench/plans/<request>.txt, and a sequential scan of one of
those tables fails the benchmark (its figures are kept).

Then gunicorn serves bench.gunicorn_settings (production's settings plus /bench/) with bench/gunicorn.conf.py (the
deployment's gunicorn.conf.py without worker recycling, which restarted workers inside the bare view's runs), and
wrk drives each endpoint for SECONDS_PER_ENDPOINT seconds over CONNECTIONS keep-alive connections, ROUNDS rounds
interleaved, each run right after a run of the bare view through the same server: the ratio is the median of the
rounds' ratios, with their range. The same server serves two references (bench/reference.py): a plain DRF
one-insert create and a plain DRF cursor list of 20 over the same table, so each figure also reads as "× plain DRF".
"""

import io
import os
import re
import secrets
import shutil
import socket
import statistics
import subprocess
import sys
import time
from datetime import timedelta
from pathlib import Path
from urllib.parse import urlsplit

TITLE = "issue API over HTTP (gunicorn 2 sync workers, wrk) against the bare view and plain DRF, 1,000,000 issues"
HOT_REQUESTS = ["list_street", "detail", "stats_street_month", "stats_district_year", "search_street", "create"]
HOT_REQUESTS += ["search_street_rare"]
HOT_REQUESTS += ["triage_street", "resident_issue"]
HTTP_RUNS = ["create", "list_street", "list_street_deep", "detail", "stats_street_month", "reference_create"]
HTTP_RUNS += ["reference_list", "triage_street", "resident_issue"]
NOTES = {
    "scale": "dataset size (GRIDDESK_BENCH_SCALE / make bench SCALE=…)",
    "issues": "issues in the database while measuring (bulk + through the workflow)",
    "bulk_load_s": "wall time of writing the dataset: issues, dispatches, ratings and events, then ANALYZE",
    "rollup_rebuild_s": "wall time of manage.py rebuild_stats_rollups over the whole dataset (issues.rollups)",
    "bare_http_per_s": "bare view (HttpResponse('ok')) requests/s through the same gunicorn and wrk: the median of its"
    " runs, one right before each endpoint run",
    "bare_http_range_per_s": "lowest–highest of those bare view runs: how much the machine's load moved meanwhile",
    "create_vs_bare": "POST /api/v1/issues/ as community1 (JSON, token) ÷ the bare view just before; median of rounds",
    "list_street_vs_bare": "GET /api/v1/issues/?page_size=20 as street1 (黄金岭街道), first page",
    "list_street_deep_vs_bare": "the same list, the page reached by following `next` 40 times",
    "detail_vs_bare": "GET /api/v1/issues/<id>/ as community1 (an issue with events, dispatches and a rating)",
    "stats_street_month_vs_bare": "GET /api/v1/stats/?area=<street>&from=…&to=… over the last 30 days, as street1",
    "triage_street_vs_bare": "GET /desk/triage/ as street1 (session cookie): the street's triage queue page, server"
    "-rendered, new issues first (50 rows), with its tab counts and the likely duplicates of the page's issues",
    "resident_issue_vs_bare": "GET /issues/<number>/ as resident1 (session cookie): their own issue's page, server"
    "-rendered, rated and closed, with its events, two photos before and one after, and the rating",
    "reference_create_vs_bare": "plain DRF: a ModelSerializer create, one INSERT (bench/reference.py)",
    "reference_list_vs_bare": "plain DRF: a cursor list of 20 issues, ModelSerializer, no scoping",
    "create_vs_plain_drf": "create_vs_bare ÷ reference_create_vs_bare",
    "list_street_vs_plain_drf": "list_street_vs_bare ÷ reference_list_vs_bare",
    "list_street_deep_vs_plain_drf": "list_street_deep_vs_bare ÷ reference_list_vs_bare",
    "non_2xx": "responses that were not 2xx in all wrk runs (must be 0)",
    "seq_scans_on_hot_tables": "sequential scans of issues, events, ratings or the statistics rollup in the hot plans"
    " (must be none)",
    "load_average_1m_before": "1-minute load average just before the HTTP runs (2 CPUs, shared with other work):"
    " compare the ratios, not the rates",
    "load_average_1m_after": "1-minute load average after the HTTP runs",
}
NOTES |= {f"queries_{k}": f"SQL queries of one {k} request, in-process with a warm token" for k in HOT_REQUESTS}
NOTES |= {f"{k}_in_process_ms": f"one {k} request in-process (test Client), median of 5, ms" for k in HOT_REQUESTS}
NOTES |= {f"{k}_per_s": f"{k}: requests/s, median of the rounds" for k in HTTP_RUNS}
NOTES |= {f"{k}_vs_bare_range": f"{k}: lowest–highest ratio of the rounds" for k in HTTP_RUNS}

WORKFLOW_ISSUES = 300
SECONDS_PER_ENDPOINT = 5
ROUNDS = 3
CONNECTIONS = 4
DEEP_PAGES = 40
PAGE_SIZE = 20
PLANS_DIR = Path(__file__).resolve().parent / "plans"
# Prepended to the plan files' names (main's --plans-prefix: partitioned_ for the partitioned schema's plans).
PLANS_PREFIX = os.environ.get("GRIDDESK_BENCH_PLANS_PREFIX", "")
# The statistics rollup is a hot table too: its plans are saved, and a sequential scan of it fails like the others.
HOT_TABLES = re.compile(r'"?(issues_issue|issues_event|issues_rating|issues_statsrollup)"?')
SEQ_SCAN = re.compile(r"Seq Scan on (issues_issue|issues_event|issues_rating|issues_statsrollup)\w*")
WORKERS = 2
SEED = 0.2026
ROOT = Path(__file__).resolve().parent.parent

# Status mix of the bulk issues (status, cumulative share): the last 20 days' issues are still moving, older ones
# have ended.
OPEN_MIX = [
    ("submitted", 0.10),
    ("classified", 0.18),
    ("dispatched", 0.35),
    ("in_progress", 0.60),
    ("resolved", 0.75),
    ("closed", 0.95),
    ("rejected", 1.00),
]
OLD_MIX = [("closed", 0.90), ("rejected", 1.00)]
# The dataset: GRIDDESK_BENCH_SCALE (bench/run.py --scale): 100k quick, 1m the default, 10m a stretch.
# The triage queue page is signed in with a session (a cookie), not a token.
SESSION_USER = "street1-session"
# The resident issue page: a resident signed in with a session reads their own issue.
RESIDENT_SESSION = "resident1-session"
SESSION_USERS = (SESSION_USER, RESIDENT_SESSION)
SCALES = {"100k": 100_000, "1m": 1_000_000, "10m": 10_000_000}

CREATE_LUA = """
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Authorization"] = "Token {token}"
wrk.body = '{body}'
"""


def _workflow_issues(log) -> str:
    """Submit WORKFLOW_ISSUES issues and take most of them some way along; return one fully handled issue's id."""
    from django.contrib.auth import get_user_model

    from grids.models import Area
    from issues import workflow
    from issues.models import Category
    from orgs.models import Membership

    users = {u.username: u for u in get_user_model().objects.all()}
    grids = list(Area.objects.filter(level=Area.Level.GRID, path__startswith="360702/360702091/360702091005/"))
    staff_of = {m.department_id: m.user for m in Membership.objects.filter(department__isnull=False)}
    # Categories whose department has a demo account, so that someone can accept.
    categories = list(Category.objects.filter(is_active=True, department__in=staff_of).select_related("department"))
    handled = None
    for n in range(WORKFLOW_ISSUES):
        reporter = users["resident1" if n % 2 else "resident2"]
        issue = workflow.issue_submit(
            actor=reporter,
            description=f"基准测试事件 {n}：楼道堆放杂物",
            grid=grids[n % len(grids)],
            reporter_name="刘洋",
            reporter_phone="13800138000",
        )
        if n % 3 == 0:
            continue
        category = categories[n % len(categories)]
        workflow.issue_classify(issue=issue, actor=users["community1"], category=category)
        workflow.issue_dispatch(issue=issue, actor=users["community1"], departments=[category.department])
        if n % 3 == 1:
            continue
        workflow.issue_accept(issue=issue, actor=staff_of[category.department_id])
        workflow.issue_resolve(issue=issue, actor=staff_of[category.department_id], note="已清理")
        workflow.issue_comment(issue=issue, actor=users["community1"], text="已回访", internal=True)
        workflow.issue_rate(issue=issue, actor=reporter, score=4 + n % 2)
        handled = issue
    log(f"{WORKFLOW_ISSUES} issues through the workflow")
    return str(handled.pk)


def _resident_issue(log) -> str:
    """Take one issue of resident1 through the workflow with photos before and after, and rate it; return its number.

    What the resident issue page shows at its fullest: events from the reporter and two units, photos, a rating.
    """
    from django.contrib.auth import get_user_model
    from django.core.files.uploadedfile import SimpleUploadedFile
    from PIL import Image

    from grids.models import Area
    from issues import workflow
    from issues.models import Category
    from issues.photos import photos_clean
    from orgs.models import Membership

    def jpeg(color) -> SimpleUploadedFile:
        buffer = io.BytesIO()
        Image.new("RGB", (64, 48), color).save(buffer, "JPEG")
        return SimpleUploadedFile("p.jpg", buffer.getvalue(), content_type="image/jpeg")

    users = {u.username: u for u in get_user_model().objects.filter(username__in=["resident1", "community1"])}
    grid = (
        Area.objects.filter(level=Area.Level.GRID, path__startswith="360702/360702091/360702091005/")
        .order_by("code")
        .first()
    )
    staff_of = {m.department_id: m.user for m in Membership.objects.filter(department__isnull=False)}
    category = Category.objects.filter(is_active=True, department__in=staff_of).order_by("code").first()
    worker = staff_of[category.department_id]
    issue = workflow.issue_submit(
        actor=users["resident1"],
        description="基准测试：小区东门路灯不亮，晚上看不清路",
        grid=grid,
        reporter_name="刘洋",
        reporter_phone="13800138000",
        photos=photos_clean(files=[jpeg((200, 80, 40)), jpeg((40, 80, 200))]),
    )
    workflow.issue_classify(issue=issue, actor=users["community1"], category=category)
    workflow.issue_dispatch(issue=issue, actor=users["community1"], departments=[category.department])
    workflow.issue_accept(issue=issue, actor=worker)
    workflow.issue_comment(issue=issue, actor=users["resident1"], text="晚上八点以后最暗")
    workflow.issue_resolve(issue=issue, actor=worker, note="已更换灯泡", photos=[jpeg((0, 160, 0))])
    workflow.issue_rate(issue=issue, actor=users["resident1"], score=5, comment="修得很快")
    log(f"resident issue {issue.number}: photos before and after, rated")
    return issue.number


def _bulk_load(total: int) -> None:
    """Insert `total` issues over two years in time order, as production writes them, with their trail.

    Old issues are closed (mostly rated 3–5), rejected or left resolved-and-auto-closed; the last 20 days hold the open
    ones, a third of which (about 1 % of all) are past their resolution deadline. Each issue gets the dispatch, the
    rating and the events (submit, classify, dispatch, accept, resolve, close) its state implies.
    """
    from django.db import connection

    from issues.models import Issue

    column_names = {f.column for f in Issue._meta.concrete_fields}
    open_mix = " ".join(f"WHEN r_status < {share} THEN '{status}'" for status, share in OPEN_MIX)
    old_mix = " ".join(f"WHEN r_status < {share} THEN '{status}'" for status, share in OLD_MIX)
    expressions = {
        "id": "gen_random_uuid()",
        "number": "'BK-' || lpad(g::text, 9, '0')",
        "status": "st",
        "kind": "(ARRAY['consultation','suggestion','help','complaint','report'])[1 + g %% 5]",
        "category_id": "CASE WHEN st = 'submitted' THEN NULL ELSE cat.id END",
        "urgent": "g %% 17 = 0",
        "description": "(ARRAY['楼道堆放杂物，影响通行','路灯不亮，晚上看不清路','下水道堵塞，污水外溢',"
        "'小区门口占道经营','噪音扰民，夜间施工'])[1 + g %% 5] || '（基准 ' || g || '）'",
        "lat": "25.80 + r_lat * 0.06",
        "lng": "114.93 + r_lng * 0.07",
        "grid_id": "grid.id",
        "area_path": "grid.path",
        "district_code": "split_part(grid.path, '/', 1)",
        "street_code": "split_part(grid.path, '/', 2)",
        "community_code": "split_part(grid.path, '/', 3)",
        "grid_code": "grid.code",
        "reporter_user_id": "CASE WHEN g %% 2 = 0 THEN %(resident1)s ELSE %(resident2)s END",
        "reporter_name": "'王芳'",
        "reporter_phone": "'1390000' || lpad((g %% 10000)::text, 4, '0')",
        "escalation_level": "CASE WHEN overdue AND g %% 2 = 0 THEN 1 ELSE 0 END",
        "response_due_at": "CASE WHEN st NOT IN ('submitted', 'rejected') THEN created + interval '26 hours' END",
        "resolution_due_at": "CASE WHEN st NOT IN ('submitted', 'rejected') THEN"
        " CASE WHEN overdue THEN least(now() - interval '1 hour', created + interval '2 days')"
        " ELSE created + interval '7 days' END END",
        "reject_reason": "CASE WHEN st = 'rejected' THEN 'invalid' ELSE '' END",
        "closed_how": "CASE WHEN st = 'closed' THEN"
        " CASE WHEN g %% 10 = 0 THEN 'auto_closed' ELSE 'rated' END ELSE '' END",
        "channel": "(ARRAY['web','web','web','partner','hotline','hotline','patrol','on_behalf','open311'])"
        "[1 + g %% 9]",
        "created_at": "created",
        "updated_at": "created + interval '5 days'",
        "classified_at": "CASE WHEN st NOT IN ('submitted', 'rejected') THEN created + interval '1 hour' END",
        "dispatched_at": "CASE WHEN st NOT IN ('submitted', 'classified', 'rejected') THEN created + interval '2 hours'"
        " END",
        "accepted_at": "CASE WHEN st IN ('in_progress', 'resolved', 'closed') THEN created + interval '5 hours' END",
        "resolved_at": "CASE WHEN st IN ('resolved', 'closed') THEN created + (r_lat * interval '4 days') END",
        "closed_at": "CASE WHEN st IN ('closed', 'rejected') THEN created + interval '10 days' END",
        "version": "3",
    }
    columns, values, params = [], [], {}
    for field in Issue._meta.concrete_fields:
        if field.column in expressions and field.column in column_names:
            columns.append(field.column)
            values.append(expressions[field.column])
        elif not field.null:
            columns.append(field.column)
            values.append(f"%({field.column})s")
            params[field.column] = field.get_db_prep_save(field.get_default(), connection)
    from django.contrib.auth import get_user_model

    users = dict(get_user_model().objects.filter(username__startswith="resident").values_list("username", "pk"))
    params.update(users)
    with connection.cursor() as cursor:
        cursor.execute("SELECT setseed(%s)", [SEED])
        cursor.execute(
            f"""
            WITH grids AS (
                SELECT row_number() OVER (ORDER BY code) AS n, id, code, path FROM grids_area WHERE level = 'grid'
            ), cats AS (
                SELECT row_number() OVER (ORDER BY code) AS n, id FROM issues_category
                WHERE is_active AND department_id IS NOT NULL
            ), rows AS (
                SELECT g, random() AS r_status, random() AS r_lat, random() AS r_lng,
                       now() - interval '730 days' * (1 - g::float / {total}) - random() * interval '1 hour'
                           AS created,
                       1 + floor(random() * (SELECT count(*) FROM grids))::int AS grid_n,
                       1 + floor(random() * (SELECT count(*) FROM cats))::int AS cat_n
                FROM generate_series(1, {total}) AS g
            ), aged AS (
                SELECT *, created > now() - interval '20 days' AS recent FROM rows
            ), shaped AS (
                SELECT *, CASE WHEN recent THEN CASE {open_mix} END ELSE CASE {old_mix} END END AS st FROM aged
            ), marked AS (
                SELECT *, st IN ('classified', 'dispatched', 'in_progress') AND g %% 3 = 0 AS overdue FROM shaped
            )
            INSERT INTO issues_issue ({", ".join(columns)})
            SELECT {", ".join(values)}
            FROM marked JOIN grids AS grid ON grid.n = marked.grid_n JOIN cats AS cat ON cat.n = marked.cat_n
            ORDER BY created
            """,
            params,
        )
        # Statistics of the full table before the next statements: their deferred foreign-key checks look issues up
        # through plans this connection may have cached while the table held a few hundred rows (a sequential scan
        # per checked row: 600,000 scans of 100,000 issues, seen stuck for 15 minutes at commit).
        cursor.execute("ANALYZE issues_issue")
        # Half the overdue issues escalated once already: their resolution deadline's mark, as the sweep writes it.
        cursor.execute(
            """
            INSERT INTO issues_escalationmark (issue_id, deadline, due_at)
            SELECT id, 'resolution', resolution_due_at FROM issues_issue
            WHERE number LIKE 'BK-%' AND escalation_level = 1 AND resolution_due_at IS NOT NULL
            """
        )
        cursor.execute(
            """
            INSERT INTO issues_dispatch (issue_id, department_id, lead, status, active, summoned, note, return_reason,
                                         created_at, accepted_at)
            SELECT i.id, c.department_id, true, CASE WHEN i.accepted_at IS NULL THEN 'pending' ELSE 'accepted' END,
                   true, false, '', '', i.dispatched_at, i.accepted_at
            FROM issues_issue i JOIN issues_category c ON c.id = i.category_id
            WHERE i.number LIKE 'BK-%' AND i.dispatched_at IS NOT NULL
            ORDER BY i.dispatched_at
            """
        )
        cursor.execute(
            """
            INSERT INTO issues_rating (issue_id, score, comment, rated_by_id, created_at, via)
            SELECT id, CASE WHEN abs(hashtext(number)) % 20 = 0 THEN 2 ELSE 3 + (abs(hashtext(number)) % 3) END,
                   '', reporter_user_id, closed_at, 'reporter'
            FROM issues_issue WHERE number LIKE 'BK-%' AND status = 'closed' AND closed_how = 'rated'
            ORDER BY closed_at
            """
        )
        # The trail of each issue, as the workflow writes it (statistics read accepts; the detail shows them all).
        cursor.execute(
            """
            INSERT INTO issues_event (issue_id, at, actor_id, action, from_status, to_status, note, internal, data)
            SELECT i.id, e.at, NULL, e.action, e.from_status, e.to_status, '', false, '{}'
            FROM issues_issue i CROSS JOIN LATERAL (VALUES
                (i.created_at, 'submit', '', 'submitted'),
                (i.classified_at, 'classify', 'submitted', 'classified'),
                (i.dispatched_at, 'dispatch', 'classified', 'dispatched'),
                (i.accepted_at, 'accept', 'dispatched', 'in_progress'),
                (i.resolved_at, 'resolve', 'in_progress', 'resolved'),
                (CASE WHEN i.status = 'closed' THEN i.closed_at END,
                 CASE WHEN i.closed_how = 'auto_closed' THEN 'auto_close' ELSE 'rate' END, 'resolved', 'closed'),
                (CASE WHEN i.status = 'rejected' THEN i.closed_at END, 'reject', 'submitted', 'rejected')
            ) AS e(at, action, from_status, to_status)
            WHERE i.number LIKE 'BK-%' AND e.at IS NOT NULL
            ORDER BY e.at
            """
        )
        cursor.execute("ANALYZE")


def _hot_requests(*, issue_id: str, street: str, district: str, resident_issue: str) -> dict:
    """Return {name: (username, path)} of the requests whose queries are counted and explained in-process."""
    month, year = _period(30), _period(365)
    return {
        "list_street": ("street1", f"/api/v1/issues/?page_size={PAGE_SIZE}"),
        "detail": ("community1", f"/api/v1/issues/{issue_id}/"),
        "stats_street_month": ("street1", f"/api/v1/stats/?area={street}&from={month[0]}&to={month[1]}"),
        "stats_district_year": ("district1", f"/api/v1/stats/?area={district}&from={year[0]}&to={year[1]}"),
        "search_street": ("street1", f"/api/v1/issues/?page_size={PAGE_SIZE}&q=%E4%B8%8B%E6%B0%B4%E9%81%93"),
        # A rare text (a few issues in a million): the trigram indexes, not the newest-first walk, find it.
        "search_street_rare": ("street1", f"/api/v1/issues/?page_size={PAGE_SIZE}&q=%E5%9F%BA%E5%87%86%2012345"),
        # A page, signed in with a session (the desks are pages, not API).
        "triage_street": (SESSION_USER, "/desk/triage/"),
        "resident_issue": (RESIDENT_SESSION, f"/issues/{resident_issue}/"),
    }


def _in_process(ctx, *, tokens: dict[str, str], hot: dict) -> dict:
    """Count the SQL of one request of each kind, time it (median of 5), and save EXPLAIN (ANALYZE, BUFFERS) of its
    queries on issues, events and ratings to bench/plans/<name>.txt; return the figures and the sequential scans."""
    from django.db import connection
    from django.test import Client, override_settings
    from django.test.utils import CaptureQueriesContext

    figures, seq_scans = {}, []
    PLANS_DIR.mkdir(exist_ok=True)
    create_body = {"description": "楼道灯不亮了，请尽快维修", "location": {"lat": 25.83, "lng": 114.96}}
    with override_settings(ALLOWED_HOSTS=["testserver"]):
        clients = {
            name: Client(headers={"authorization": f"Token {token}"})
            for name, token in tokens.items()
            if name not in SESSION_USERS
        }
        for name in SESSION_USERS:
            clients[name] = Client()
            clients[name].force_login(_user(name.removesuffix("-session")))
        requests = {name: (lambda c=clients[user], p=path: c.get(p)) for name, (user, path) in hot.items()}
        requests["create"] = lambda: clients["community1"].post(
            "/api/v1/issues/", create_body, content_type="application/json"
        )
        for name, request in requests.items():
            request()  # warm caches (scope, routing index, calendar) as a long-running worker has them
            with CaptureQueriesContext(connection) as queries:
                response = request()
            if response.status_code >= 300:
                raise RuntimeError(f"{name}: {response.status_code} {response.content[:200]!r}")
            figures[f"queries_{name}"] = len(queries)
            # Read now: every later request starts by emptying the connection's query log (request_started).
            statements = [q["sql"] for q in queries.captured_queries]
            times = []
            for _ in range(5):
                started = time.perf_counter()
                request()
                times.append((time.perf_counter() - started) * 1000)
            figures[f"{name}_in_process_ms"] = round(statistics.median(times), 1)
            if name != "create":
                seq_scans += _explain(name, statements)
    ctx.log(f"plans in {PLANS_DIR.relative_to(ROOT)}; sequential scans on hot tables: {seq_scans or 'none'}")
    return figures, seq_scans


PREPARED = re.compile(r"EXECUTE (\w+)(?:\(.*\))?$", re.S)


def _explain(name: str, statements: list[str]) -> list[str]:
    """Write the plans of `statements` that read the hot tables; return the sequential scans of those tables."""
    from django.db import connection

    found, out = [], []
    for sql in statements:
        # A statement run under planner settings of its own (issues.filters._text_probe: SET LOCAL …; SELECT …) is
        # explained under them, in the same round trip.
        settings = ""
        while sql.startswith("SET LOCAL "):
            first, _, sql = sql.partition("; ")
            settings += f"{first}; "
        # The lean paths run prepared statements (issues/api/lean.py): read the text a name stands for.
        executed = PREPARED.search(sql)
        text = sql
        if executed:
            with connection.cursor() as cursor:
                cursor.execute("SELECT statement FROM pg_prepared_statements WHERE name = %s", [executed.group(1)])
                row = cursor.fetchone()
            text = row[0] if row else ""
            sql = executed.group(0)
        if not text.lstrip().upper().startswith(("SELECT", "PREPARE")) or not HOT_TABLES.search(text):
            continue
        with connection.cursor() as cursor:
            cursor.execute(f"{settings}EXPLAIN (ANALYZE, BUFFERS) {sql}")
            plan = "\n".join(row[0] for row in cursor.fetchall())
        out.append(f"-- {text}\n-- {sql}\n{plan}\n" if executed else f"-- {settings}{sql}\n{plan}\n")
        scans = [m.group(0) for m in SEQ_SCAN.finditer(plan)]
        empty = _empty_partitions({scan.removeprefix("Seq Scan on ") for scan in scans})
        found += [f"{name}: {scan}" for scan in scans if scan.removeprefix("Seq Scan on ") not in empty]
    (PLANS_DIR / f"{PLANS_PREFIX}{name}.txt").write_text("\n".join(out), encoding="utf-8")
    return found


def _empty_partitions(tables: set[str]) -> set[str]:
    """Return those of `tables` that are partitions without a row (issues.partitioning: `_before` and the months
    ahead): the planner reads an empty table by a sequential scan, which reads nothing; not a scan the rule is about."""
    from django.db import connection

    empty = set()
    with connection.cursor() as cursor:
        cursor.execute("SELECT relname FROM pg_class WHERE relispartition AND relname = ANY(%s)", [sorted(tables)])
        for (table,) in cursor.fetchall():
            cursor.execute(f'SELECT NOT EXISTS (SELECT FROM "{table}")')
            if cursor.fetchone()[0]:
                empty.add(table)
    return empty


def _period(days: int) -> tuple[str, str]:
    from django.utils import timezone

    today = timezone.localdate()
    return (today - timedelta(days=days - 1)).isoformat(), today.isoformat()


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _start_gunicorn(ctx, port: int, *, secret_key: str) -> subprocess.Popen:
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "bench.gunicorn_settings",
        "DJANGO_SECRET_KEY": secret_key,
        "DJANGO_SECURE_SSL_REDIRECT": "false",
        "DATABASE_URL": ctx.database_url,
        "DJANGO_ALLOWED_HOSTS": "127.0.0.1",
        "GRIDDESK_VAR_DIR": str(ctx.tmp_dir),
        # Nothing is delivered during the bench: the console backends are allowed for this run only.
        "GRIDDESK_ALLOW_CONSOLE_BACKENDS": "true",
        "DJANGO_LOG_LEVEL": "WARNING",
        # Production settings require a broker; nothing consumes it during the bench (a database of its own).
        "CELERY_BROKER_URL": os.environ.get("GRIDDESK_BENCH_BROKER_URL", "redis://127.0.0.1:6379/6"),
        # The throttles would answer 429 after a few hundred requests: the bench measures the work, not the limit.
        **{f"GRIDDESK_THROTTLE_{kind}": "10000000/min" for kind in ("ANON", "RESIDENT", "STAFF", "PARTNER")},
    }
    for key in ("REDIS_URL", "CACHE_URL"):
        env.pop(key, None)
    # As deployed (docker-compose.yml): one Redis cache shared by the workers, which remembers callers between
    # requests (orgs/auth_cache.py); a key prefix of this run's own, on a database other work does not use.
    env["CACHE_URL"] = os.environ.get("GRIDDESK_BENCH_CACHE_URL", "redis://127.0.0.1:6379/7")
    env["GRIDDESK_CACHE_KEY_PREFIX"] = f"griddesk-bench-{secrets.token_hex(4)}"
    log = open(ctx.tmp_dir / "gunicorn.log", "w")  # noqa: SIM115 — closed with the process
    process = subprocess.Popen(
        [
            str(Path(sys.executable).parent / "gunicorn"),
            "config.wsgi",
            # The deployment's settings without worker recycling, for the bare view and every endpoint alike.
            f"--config={ROOT / 'bench' / 'gunicorn.conf.py'}",
            f"--workers={WORKERS}",
            f"--bind=127.0.0.1:{port}",
            f"--chdir={ROOT}",
            "--log-level=warning",
        ],
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    deadline = time.monotonic() + 60
    import requests

    while time.monotonic() < deadline:
        try:
            if requests.get(f"http://127.0.0.1:{port}/bench/bare/", timeout=10).status_code == 200:
                return process
        except requests.RequestException:
            pass
        if process.poll() is not None:
            break
        time.sleep(0.3)
    process.terminate()
    raise RuntimeError(f"gunicorn did not start: {(ctx.tmp_dir / 'gunicorn.log').read_text()[-2000:]}")


def _wrk(ctx, url: str, *, token: str | None = None, script: str | None = None) -> tuple[float, int]:
    """Return (requests/s, non-2xx responses) of `url` under wrk for SECONDS_PER_ENDPOINT seconds.

    `token` is an API token, or a whole `Cookie: …` header for a page signed in with a session.
    """
    command = ["wrk", "-t2", f"-c{CONNECTIONS}", f"-d{SECONDS_PER_ENDPOINT}s", "--timeout", "20s"]
    if token and token.startswith("Cookie: "):
        command += ["-H", token]
    elif token:
        command += ["-H", f"Authorization: Token {token}"]
    if script:
        path = ctx.tmp_dir / "script.lua"
        path.write_text(script)
        command += ["-s", str(path)]
    output = subprocess.run(
        [*command, url], capture_output=True, text=True, timeout=SECONDS_PER_ENDPOINT + 60, check=True
    ).stdout
    rate = float(re.search(r"Requests/sec:\s+([\d.]+)", output).group(1))
    bad = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", output)
    errors = re.search(r"Socket errors: .*", output)
    if errors:
        ctx.log(f"{url}: {errors.group(0)}")
    return rate, int(bad.group(1)) if bad else 0


def _deep_url(base: str, path: str, token: str) -> str:
    """Follow `next` DEEP_PAGES times from `path` and return the URL reached (as wrk must request it)."""
    import requests

    session = requests.Session()
    session.headers["Authorization"] = f"Token {token}"
    url = base + path
    for _ in range(DEEP_PAGES):
        response = session.get(url, timeout=30)
        response.raise_for_status()
        url = response.json()["next"]
        if url is None:
            raise RuntimeError(f"fewer than {DEEP_PAGES} pages at {path}")
        # The next link names the host the request came in on; keep the scheme and port we serve on.
        parts = urlsplit(url)
        url = f"{base}{parts.path}?{parts.query}"
    return url


def _rounds(ctx, runs: dict, bare_url: str, tokens: dict) -> tuple[dict, list[float], int]:
    """Measure every endpoint ROUNDS times, each right after a run of the bare view, rounds interleaved.

    Return ({key: [(rate, bare rate), …]}, every bare rate, non-2xx count).
    """
    measured = {key: [] for key in runs}
    bare_rates, non_2xx = [], 0
    _wrk(ctx, bare_url)  # warm-up
    for url, user, script in runs.values():
        _wrk(ctx, url, token=tokens.get(user), script=script)  # warm-up: connections, caches, plans
    for round_number in range(ROUNDS):
        for key, (url, user, script) in runs.items():
            bare, bad_bare = _wrk(ctx, bare_url)
            rate, bad = _wrk(ctx, url, token=tokens.get(user), script=script)
            non_2xx += bad + bad_bare
            bare_rates.append(bare)
            measured[key].append((rate, bare))
            ctx.log(f"round {round_number + 1} {key}: {rate:.1f}/s ({bad} non-2xx), bare just before {bare:.1f}/s")
    return measured, bare_rates, non_2xx


def run(ctx) -> dict:
    from django.core.management import call_command
    from rest_framework.authtoken.models import Token

    from issues.models import Issue

    if shutil.which("wrk") is None:
        return {"skipped": "wrk is not installed (Debian: apt-get install wrk)"}

    scale = os.environ.get("GRIDDESK_BENCH_SCALE", "1m")
    total = SCALES[scale]
    if ctx.reuse and Issue.objects.count() >= total:
        # A dataset kept by an earlier run (make bench KEEP=1): measure it again as it is.
        issue_id = _handled_issue_id()
        resident_issue = _resident_issue(ctx.log)
        issues = Issue.objects.count()
        ctx.log(f"{issues} issues kept from an earlier run: measuring them again")
        figures: dict = {"scale": scale, "issues": issues, "dataset": "kept from an earlier run"}
    else:
        call_command("seed_demo", "--no-progress", verbosity=0, stdout=io.StringIO())  # its output holds a key
        issue_id = _workflow_issues(ctx.log)
        resident_issue = _resident_issue(ctx.log)
        started = time.perf_counter()
        _bulk_load(total)
        bulk_load_s = time.perf_counter() - started
        issues = Issue.objects.count()
        ctx.log(f"{issues} issues, bulk load {bulk_load_s:.1f} s")
        # The bulk load writes by SQL, past the event seam that keeps the statistics rollup current: rebuild it.
        started = time.perf_counter()
        call_command("rebuild_stats_rollups", "--no-progress", stdout=io.StringIO())
        rollup_rebuild_s = time.perf_counter() - started
        ctx.log(f"rollups rebuilt in {rollup_rebuild_s:.1f} s")
        figures = {"scale": scale, "issues": issues, "bulk_load_s": round(bulk_load_s, 1)}
        figures["rollup_rebuild_s"] = round(rollup_rebuild_s, 1)
    tokens = {
        name: Token.objects.get_or_create(user__username=name, defaults={"user_id": _user_id(name)})[0].key
        for name in ("community1", "street1", "district1")
    }
    hot = _hot_requests(issue_id=issue_id, street="360702091", district="360702", resident_issue=resident_issue)
    in_process, seq_scans = _in_process(ctx, tokens=tokens, hot=hot)
    figures.update(in_process)
    body = '{"description": "楼道灯不亮了，请尽快维修", "location": {"lat": 25.83, "lng": 114.96}}'

    secret_key = secrets.token_urlsafe(60)
    for name in SESSION_USERS:
        tokens[name] = _session_cookie(name.removesuffix("-session"), secret_key=secret_key)

    port = _free_port()
    base = f"http://127.0.0.1:{port}"
    figures["load_average_1m_before"] = round(os.getloadavg()[0], 2)
    try:
        process = _start_gunicorn(ctx, port, secret_key=secret_key)
    except RuntimeError as exc:  # the in-process figures stand
        raise BenchFailure(figures, str(exc)) from exc
    try:
        _check_page(f"{base}/desk/triage/", tokens[SESSION_USER], 'id="queue"')
        _check_page(base + hot["resident_issue"][1], tokens[RESIDENT_SESSION], 'id="photos-after"')
        list_path = f"/api/v1/issues/?page_size={PAGE_SIZE}"
        runs = {
            "create": (f"{base}/api/v1/issues/", None, CREATE_LUA.format(token=tokens["community1"], body=body)),
            "list_street": (base + list_path, "street1", None),
            "list_street_deep": (_deep_url(base, list_path, tokens["street1"]), "street1", None),
            "detail": (f"{base}/api/v1/issues/{issue_id}/", "community1", None),
            "stats_street_month": (base + hot["stats_street_month"][1], "street1", None),
            "reference_create": (
                f"{base}/bench/ref/issues/",
                None,
                CREATE_LUA.format(token=tokens["community1"], body='{"description": "楼道灯不亮了，请尽快维修"}'),
            ),
            "reference_list": (f"{base}/bench/ref/issues/", "community1", None),
            "triage_street": (f"{base}/desk/triage/", SESSION_USER, None),
            "resident_issue": (base + hot["resident_issue"][1], RESIDENT_SESSION, None),
        }
        measured, bare_rates, non_2xx = _rounds(ctx, runs, f"{base}/bench/bare/", tokens)
    finally:
        process.terminate()
        process.wait(timeout=30)
    figures["load_average_1m_after"] = round(os.getloadavg()[0], 2)
    figures["bare_http_per_s"] = round(statistics.median(bare_rates), 1)
    figures["bare_http_range_per_s"] = f"{min(bare_rates):.0f}–{max(bare_rates):.0f}"
    for key, pairs in measured.items():
        ratios = [rate / bare for rate, bare in pairs]
        figures[f"{key}_per_s"] = round(statistics.median(rate for rate, _ in pairs), 1)
        figures[f"{key}_vs_bare"] = round(statistics.median(ratios), 4)
        figures[f"{key}_vs_bare_range"] = f"{min(ratios):.3f}–{max(ratios):.3f}"
    for key, reference in (("create", "reference_create"), ("list_street", "reference_list")):
        figures[f"{key}_vs_plain_drf"] = round(figures[f"{key}_vs_bare"] / figures[f"{reference}_vs_bare"], 3)
    figures["list_street_deep_vs_plain_drf"] = round(
        figures["list_street_deep_vs_bare"] / figures["reference_list_vs_bare"], 3
    )
    figures["non_2xx"] = non_2xx
    figures["seq_scans_on_hot_tables"] = "; ".join(seq_scans) or "none"
    if seq_scans or non_2xx:
        # The figures are kept (bench/run.py records a failure with them), and the run fails.
        raise BenchFailure(figures, f"sequential scans on a hot path: {seq_scans}; non-2xx answers: {non_2xx}")
    return figures


class BenchFailure(RuntimeError):
    """The benchmark ran but broke a rule (a sequential scan of a hot table, an error answer): its figures stand."""

    def __init__(self, figures: dict, message: str):
        super().__init__(message)
        self.figures = figures


def _handled_issue_id() -> str:
    """Return the id of a kept dataset's issue taken all the way through the workflow (events, dispatch, rating)."""
    from issues.models import Issue

    issue = (
        Issue.objects.filter(description__startswith="基准测试事件", status=Issue.Status.CLOSED)
        .order_by("created_at")
        .values_list("pk", flat=True)
        .first()
    )
    if issue is None:
        issue = Issue.objects.filter(description__startswith="基准测试事件", ratings__isnull=False).values_list(
            "pk", flat=True
        )[0]
    return str(issue)


def _user(username: str):
    from django.contrib.auth import get_user_model

    return get_user_model().objects.get(username=username)


def _session_cookie(username: str, *, secret_key: str) -> str:
    """Return the Cookie header of a session signed in as `username`, valid for a server run with `secret_key`.

    The session row is in the database both processes share; its data and the user's session hash are signed with
    the server's secret key, hence the override while it is written.
    """
    from django.conf import settings
    from django.test import Client, override_settings

    with override_settings(SECRET_KEY=secret_key, ALLOWED_HOSTS=["testserver"]):
        client = Client()
        client.force_login(_user(username))
        return f"Cookie: {settings.SESSION_COOKIE_NAME}={client.cookies[settings.SESSION_COOKIE_NAME].value}"


def _check_page(url: str, cookie: str, mark: str) -> None:
    """Refuse to measure a page that does not answer 200 with `mark` (wrk counts a redirect to the login as 3xx)."""
    import requests

    name, _, value = cookie.removeprefix("Cookie: ").partition("=")
    response = requests.get(url, cookies={name: value}, allow_redirects=False, timeout=60)
    if response.status_code != 200 or mark not in response.text:
        raise RuntimeError(f"{url}: {response.status_code}, not the page measured ({mark} missing)")


def _user_id(username: str) -> int:
    from django.contrib.auth import get_user_model

    return get_user_model().objects.get(username=username).pk


def main() -> None:
    """`python -m bench.bench_api DATABASE [--plans-prefix P]`: the in-process part alone (queries, medians of 5 and
    plans of the hot requests) on a kept dataset (a scratch copy of yours: it submits a few issues), no HTTP. Used for
    the 10 M partitioned and unpartitioned measurements (docs/scaling.md); plans go to bench/plans/<P><request>.txt."""
    import argparse
    import json

    parser = argparse.ArgumentParser()
    parser.add_argument("database")
    parser.add_argument("--plans-prefix", default="")
    args = parser.parse_args()
    os.environ["DATABASE_URL"] = f"postgres://postgres@127.0.0.1:5432/{args.database}"
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.test")
    os.environ["GRIDDESK_BENCH_PLANS_PREFIX"] = args.plans_prefix
    sys.path.insert(0, str(ROOT))
    import django

    django.setup()
    from rest_framework.authtoken.models import Token

    from issues.models import Issue

    globals()["PLANS_PREFIX"] = args.plans_prefix

    class Ctx:
        @staticmethod
        def log(message):
            print(f"  {message}", file=sys.stderr, flush=True)

    hot = _hot_requests(
        issue_id=_handled_issue_id(), street="360702091", district="360702", resident_issue=_resident_issue(Ctx.log)
    )
    tokens = {
        name: Token.objects.get_or_create(user__username=name, defaults={"user_id": _user_id(name)})[0].key
        for name in ("community1", "street1", "district1")
    }
    load = round(os.getloadavg()[0], 2)
    figures, seq_scans = _in_process(Ctx, tokens=tokens, hot=hot)
    figures = {"issues": Issue.objects.count(), "load_average_1m_before": load, **figures}
    figures["load_average_1m_after"] = round(os.getloadavg()[0], 2)
    figures["seq_scans_on_hot_tables"] = "; ".join(seq_scans) or "none"
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
