"""Map benchmark: /api/v1/map/grids/, /api/v1/map/issues/ and the /map/ page over the 10,000 grids of the routing
benchmark, with 40,000 issues of which 20,000 are open.

Follows bench/run.py's contract. On the fresh PostgreSQL database: the routing benchmark's territory (one street, 100
communities, 10,000 grids made by `generate_grids` tiling a 1° × 1° box), then issues written by INSERT … SELECT,
each at a point inside its grid: half closed, half open, a fifth of the open ones past their resolution deadline.
A street officer and a community's staff read the map in-process (the test Client, signed in by session): for each
request the SQL queries, the time of the first call in a process (the layer is assembled from the drawings stored
when the grids were generated) and the median of the next calls (the layer is kept; the counts are read each time),
and the bytes written, raw and gzipped. Zoomed-in views (bbox=) are measured as the page asks for them: the view of
a 600 × 600 px map at zoom 12 and 15 at the street's centre, padded by half on each side. Apart: the time to draw
the whole street's drawings from nothing (what generate_grids adds to write them).
"""

import statistics
import time

from bench.bench_routing import (
    BBOX,
    COMMUNITIES,
    GRIDS_PER_COMMUNITY,
    SEED,
    STREET,
    _territory,
    generate_bench_grids,
)

TITLE = "the map over 10,000 grids and 20,000 open issues: GeoJSON endpoints and the /map/ page, in-process"
ISSUES = 40_000
OPEN_SHARE = 0.5
WARM_CALLS = 5
BROWSER_LOADS = 3
CHROMIUM = "/usr/bin/chromium"
NOTES = {
    "grids": "grids with a boundary (generate_grids, as the routing benchmark)",
    "issues": "issues in the database, each inside its grid",
    "open_issues": "of them open (submitted, classified, dispatched, in progress)",
    "overdue_issues": "of the open ones past their resolution deadline",
}


def _view(zoom: int, pixels: int = 600) -> str:
    """Return the bbox the page asks for at `zoom` centred on the street: its view padded by half on each side."""
    import math

    lat_min, lat_max, lng_min, lng_max = BBOX
    lat, lng = (lat_min + lat_max) / 2, (lng_min + lng_max) / 2
    width = pixels * 360 / (256 * 2**zoom)  # degrees of longitude
    height = width * math.cos(math.radians(lat))  # Web Mercator near the centre
    return f"{lng - width:.5f},{lat - height:.5f},{lng + width:.5f},{lat + height:.5f}"


REQUESTS = {
    "street_grids": ("street", "/api/v1/map/grids/?area={street}"),
    "street_grids_z12": ("street", "/api/v1/map/grids/?area={street}&zoom=12&bbox=" + _view(12)),
    "street_grids_z15": ("street", "/api/v1/map/grids/?area={street}&zoom=15&bbox=" + _view(15)),
    "street_issues": ("street", "/api/v1/map/issues/?area={street}"),
    "street_issues_z12": ("street", "/api/v1/map/issues/?area={street}&bbox=" + _view(12)),
    "street_page": ("street", "/map/"),
    "community_grids": ("community", "/api/v1/map/grids/?area={community}"),
    "community_issues": ("community", "/api/v1/map/issues/?area={community}"),
    "community_page": ("community", "/map/"),
}
for _name, (_who, _url) in REQUESTS.items():
    NOTES[f"{_name}_queries"] = f"SQL queries of GET {_url} as the {_who} officer, the layer kept (warm)"
    NOTES[f"{_name}_first_ms"] = "the first call in the process: the layer assembled from the stored drawings, ms"
    NOTES[f"{_name}_ms"] = (
        f"median of {WARM_CALLS} calls after it (the layer kept; the counts read each time; unchanged, so the kept"
        " answer), ms"
    )
    NOTES[f"{_name}_written_ms"] = (
        f"median of {WARM_CALLS} calls with the kept answers dropped first (as when counts changed), ms"
    )
    NOTES[f"{_name}_kb"] = "bytes of the answer, KiB (no gzip)"
    NOTES[f"{_name}_gzip_kb"] = "bytes of the answer gzipped as sent to a browser (Accept-Encoding: gzip), KiB"
NOTES["street_grids_z12_features"] = "features of the street's view at zoom 12 (grids meeting it, and outlines)"
NOTES["street_grids_z15_features"] = "features of the street's view at zoom 15"
NOTES["street_issues_z12_points"] = "points in the street's view at zoom 12"
NOTES["street_drawings_s"] = "drawing the street's 10,000 grids at 5 tiers and its 101 outlines from nothing, s"
NOTES["street_grids_per_s_vs_bare_view"] = "warm street_grids calls per second ÷ bare view calls/s"
NOTES["street_grids_features"] = "features of the street's answer: 10,000 grids, 100 community outlines, 1 street"
NOTES["street_issues_points"] = "points written for the street (newest first, capped at POINTS_MAX; counts are not)"
NOTES["street_grids_zoom"] = "zoom the street's geometry was simplified for (fits it in about 600 × 600 px)"
NOTES["browser_street_grids_drawn_ms"] = (
    "headless Chromium at 1280 px, /map/ as the street officer: from navigation to the 10,000 grids drawn (canvas),"
    f" median of {BROWSER_LOADS} loads, the layer kept, ms"
)
NOTES["browser_street_points_drawn_ms"] = "the same loads: from navigation to the 5,000 points clustered, ms"


def _issues(total: int) -> None:
    """Insert `total` issues at random grids, each at a point inside its grid's box, half of them open."""
    from django.db import connection

    from issues.models import Issue

    expressions = {
        "id": "gen_random_uuid()",
        "number": "'MP-' || lpad(g::text, 9, '0')",
        "status": "st",
        "description": "'井盖缺失（基准 ' || g || '）'",
        # The generated grids are boxes with jittered edges: a point a little inside their first corner is inside.
        "lat": "(grid.boundary->'coordinates'->0->0->>1)::float + 0.001 + r_lat * 0.002",
        "lng": "(grid.boundary->'coordinates'->0->0->>0)::float + 0.001 + r_lng * 0.002",
        "grid_id": "grid.id",
        "area_path": "grid.path",
        "district_code": "split_part(grid.path, '/', 1)",
        "street_code": "split_part(grid.path, '/', 2)",
        "community_code": "split_part(grid.path, '/', 3)",
        "grid_code": "grid.code",
        "response_due_at": "now() + interval '1 day'",
        "resolution_due_at": "CASE WHEN overdue THEN now() - interval '1 day' ELSE now() + interval '5 days' END",
        "accepted_at": "CASE WHEN st = 'in_progress' THEN now() END",
        "created_at": "now() - (g::float / %(total)s) * interval '60 days'",
        "updated_at": "now()",
    }
    columns, values, params = [], [], {"total": total}
    for field in Issue._meta.concrete_fields:
        if field.column in expressions:
            columns.append(field.column)
            values.append(expressions[field.column])
        elif not field.null:
            columns.append(field.column)
            values.append(f"%({field.column})s")
            params[field.column] = field.get_db_prep_save(field.get_default(), connection)
    with connection.cursor() as cursor:
        cursor.execute("SELECT setseed(%s)", [SEED / 1e8 % 1])
        cursor.execute(
            f"""
            WITH grids AS (
                SELECT row_number() OVER (ORDER BY code) AS n, id, code, path, boundary
                FROM grids_area WHERE level = 'grid' AND boundary IS NOT NULL
            ), rows AS (
                SELECT g, random() AS r_status, random() AS r_lat, random() AS r_lng,
                       1 + floor(random() * (SELECT count(*) FROM grids))::int AS grid_n
                FROM generate_series(1, {total}) AS g
            ), shaped AS (
                SELECT *, CASE WHEN r_status < {OPEN_SHARE / 4} THEN 'submitted'
                               WHEN r_status < {OPEN_SHARE / 2} THEN 'classified'
                               WHEN r_status < {OPEN_SHARE * 3 / 4} THEN 'dispatched'
                               WHEN r_status < {OPEN_SHARE} THEN 'in_progress' ELSE 'closed' END AS st
                FROM rows
            ), marked AS (
                SELECT *, st IN ('classified', 'dispatched', 'in_progress') AND g %% 4 = 0 AS overdue FROM shaped
            )
            INSERT INTO issues_issue ({", ".join(columns)})
            SELECT {", ".join(values)} FROM marked JOIN grids AS grid ON grid.n = marked.grid_n
            """,
            params,
        )
        cursor.execute("ANALYZE issues_issue")


def _measure(client, url: str) -> dict:
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from grids.maps import map_layers_forget
    from issues.api.map import map_answers_forget

    map_layers_forget()
    map_answers_forget()
    started = time.perf_counter()
    response = client.get(url)
    first_ms = (time.perf_counter() - started) * 1000
    if response.status_code != 200:
        raise RuntimeError(f"{url} answered {response.status_code}: {response.content[:300]!r}")
    times = []
    for _ in range(WARM_CALLS):
        started = time.perf_counter()
        client.get(url)
        times.append((time.perf_counter() - started) * 1000)
    written = []  # as when the counts changed since the last call: the answer is written again (the layer kept)
    for _ in range(WARM_CALLS):
        map_answers_forget()
        started = time.perf_counter()
        client.get(url)
        written.append((time.perf_counter() - started) * 1000)
    with CaptureQueriesContext(connection) as queries:
        client.get(url)
    counted = len(queries)  # now: the next request's start empties the connection's query log
    body = response.content
    zipped = client.get(url, HTTP_ACCEPT_ENCODING="gzip").content
    return {
        "queries": counted,
        "first_ms": round(first_ms, 1),
        "ms": round(statistics.median(times), 1),
        "written_ms": round(statistics.median(written), 1),
        "kb": round(len(body) / 1024, 1),
        "gzip_kb": round(len(zipped) / 1024, 1),
        "body": body,
    }


def _redraw_street() -> float:
    """Drop every stored drawing and time drawing the street's again (as generate_grids does after writing grids)."""
    from grids.maps import map_drawings_refresh, map_layers_forget
    from grids.models import Area, MapDrawing

    MapDrawing.objects.all().delete()
    map_layers_forget()
    started = time.perf_counter()
    map_drawings_refresh(area=Area.objects.get(code=STREET))
    return round(time.perf_counter() - started, 2)


def _browser(street_officer) -> dict:
    """Load /map/ in headless Chromium, served by a live server thread over the bench database, and time the drawing."""
    import os
    import threading

    from django.contrib.staticfiles.handlers import StaticFilesHandler
    from django.test import Client, override_settings
    from django.test.testcases import LiveServerThread

    if not os.path.exists(CHROMIUM):
        return {"browser_skipped": f"{CHROMIUM} is absent"}
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        return {"browser_skipped": "playwright is not installed"}
    client = Client()
    client.force_login(street_officer)
    session = client.cookies["sessionid"].value
    with override_settings(ALLOWED_HOSTS=["127.0.0.1"], DEBUG=False):
        server = LiveServerThread("127.0.0.1", StaticFilesHandler, port=0)
        server.daemon = True
        server.start()
        server.is_ready.wait()
        if server.error:
            raise server.error
        url = f"http://127.0.0.1:{server.port}"
        grids, points = [], []
        try:
            with sync_playwright() as pw:
                browser = pw.chromium.launch(executable_path=CHROMIUM, args=["--headless", "--no-sandbox"])
                context = browser.new_context(viewport={"width": 1280, "height": 900})
                context.add_cookies([{"name": "sessionid", "value": session, "url": url}])
                page = context.new_page()
                page.goto(f"{url}/map/")  # the first load builds the layer; the timed ones find it kept
                page.wait_for_selector("#map[data-points]", timeout=120_000)
                for _ in range(BROWSER_LOADS):
                    started = time.perf_counter()
                    page.goto(f"{url}/map/")
                    page.wait_for_selector('#map[data-loaded="grids"]', timeout=120_000)
                    grids.append((time.perf_counter() - started) * 1000)
                    page.wait_for_selector("#map[data-points]", timeout=120_000)
                    points.append((time.perf_counter() - started) * 1000)
                if os.environ.get("GRIDDESK_BENCH_MAP_SHOT"):  # a picture of the street's 10,000 grids, to look at
                    page.screenshot(path=os.environ["GRIDDESK_BENCH_MAP_SHOT"])
                browser.close()
        finally:
            server.terminate()
            threading.Event().wait(0.1)
    return {
        "browser_street_grids_drawn_ms": round(statistics.median(grids)),
        "browser_street_points_drawn_ms": round(statistics.median(points)),
    }


def run(ctx) -> dict:
    import json

    from django.contrib.auth import get_user_model
    from django.test import Client, override_settings
    from django.urls import get_resolver

    from grids.models import Area
    from grids.routing import routing_invalidate
    from issues.models import Issue
    from issues.sla import overdue_q
    from orgs.models import Membership, Role

    communities = _territory()
    generate_bench_grids(communities)
    routing_invalidate()
    _issues(ISSUES)
    users = get_user_model().objects
    street_officer = users.create_user(username="map_street", password=None)
    community_staff = users.create_user(username="map_community", password=None)
    Membership.objects.create(user=street_officer, role=Role.STREET_OFFICER, area=Area.objects.get(code=STREET))
    Membership.objects.create(
        user=community_staff, role=Role.COMMUNITY_STAFF, area=Area.objects.get(code=communities[0])
    )
    figures = {
        "grids": Area.objects.filter(level=Area.Level.GRID, boundary__isnull=False).count(),
        "issues": Issue.objects.count(),
        "open_issues": Issue.objects.filter(status__in=Issue.OPEN_STATUSES).count(),
        "overdue_issues": Issue.objects.filter(overdue_q()).count(),
    }
    ctx.log(f"{figures['grids']} grids, {figures['issues']} issues ({figures['open_issues']} open)")
    # The URLconf (every app's views and APIs) is imported by a process's first request: done here, so that a "first
    # call" measures the map's own work, not the imports.
    _ = get_resolver().url_patterns
    clients = {}
    for who, user in (("street", street_officer), ("community", community_staff)):
        clients[who] = Client()
        clients[who].force_login(user)
    for name, (who, url) in REQUESTS.items():
        with override_settings(ALLOWED_HOSTS=["testserver"]):
            measured = _measure(clients[who], url.format(street=STREET, community=communities[0]))
        body = measured.pop("body")
        figures.update({f"{name}_{key}": value for key, value in measured.items()})
        if name == "street_grids":
            collection = json.loads(body)
            figures["street_grids_features"] = len(collection["features"])
            figures["street_grids_zoom"] = collection["zoom"]
        if name in ("street_grids_z12", "street_grids_z15"):
            figures[f"{name}_features"] = len(json.loads(body)["features"])
        if name == "street_issues":
            figures["street_issues_points"] = len(json.loads(body)["features"])
        if name == "street_issues_z12":
            figures["street_issues_z12_points"] = len(json.loads(body)["features"])
        ctx.log(f"{name}: {measured}")
    figures["street_grids_per_s_vs_bare_view"] = ctx.ratio(1000 / figures["street_grids_ms"])
    figures["street_drawings_s"] = _redraw_street()
    ctx.log(f"street drawn from nothing in {figures['street_drawings_s']} s")
    figures.update(_browser(street_officer))
    ctx.log(
        f"browser: {figures.get('browser_street_grids_drawn_ms')} ms grids, "
        f"{figures.get('browser_street_points_drawn_ms')} ms points"
    )
    assert COMMUNITIES * GRIDS_PER_COMMUNITY == figures["grids"]
    return figures


if __name__ == "__main__":
    raise SystemExit("Run it through the harness: python bench/run.py map")
