"""Run GridDesk's benchmarks (`make bench`) and write bench/results.json and bench/RESULTS.md.

Usage: ``python bench/run.py [NAME ...]`` runs every ``bench/bench_*.py`` (or only the named ones, e.g.
``import``); the figures of benchmarks not run this time are kept from the previous results.json.

The database is PostgreSQL: ``DATABASE_URL`` (default postgres://postgres@127.0.0.1:5432/griddesk_bench).
The harness creates that database itself and drops it at the end; never point it at a database you keep.

Contract for a benchmark module ``bench/bench_<name>.py``:

- It exposes ``run(ctx: BenchContext) -> dict`` returning its figures: a flat dict of numbers (or short
  strings), with the unit in the key (``lookups_per_s``, ``first_run_s``, ``rows``). Return
  ``{"skipped": "why"}`` when it cannot run here (e.g. no network for a package it fetches).
- It reports its headline rate also as a ratio to ``ctx.bare_view_rate`` (``ctx.ratio(rate)``), under a key
  ending in ``_vs_bare_view``: the bare view's calls/s through the Django test Client, measured in this run
  (bench/common.py), so figures compare across machines.
- It may set module-level ``TITLE = "…"`` (one line for RESULTS.md) and ``NOTES = {key: "what it means"}``.
- When ``run`` is called, Django is set up with ``config.settings.test`` (DEBUG off, no TLS redirect) and
  the database is freshly created from a migrated, empty template: each benchmark starts from nothing and
  loads what it needs (``call_command(...)``, services, bulk_create). It may use ``ctx.tmp_dir`` (private,
  removed afterwards) and ``ctx.log(msg)`` (stderr).
- It must stop by itself in bounded time (a few minutes at most on 2 cores) and touch nothing outside
  this machine but the package registries.
"""

import argparse
import datetime as dt
import importlib
import json
import os
import platform
import shutil
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BENCH_DIR = ROOT / "bench"
RESULTS_JSON = BENCH_DIR / "results.json"
RESULTS_MD = BENCH_DIR / "RESULTS.md"
BENCHMARKS_DOC = ROOT / "docs" / "benchmarks.md"
# The performance issue's targets, each with the figure of the api benchmark that answers it (None: not measured).
TARGETS = [
    ("create `POST /api/v1/issues/`", "≥ 0.15 of the bare view", "create_vs_bare", "create_vs_bare_range"),
    ("staff list, street scope, 20 rows, first page", "≥ 0.15", "list_street_vs_bare", "list_street_vs_bare_range"),
    ("staff list, street scope, deep page", "≥ 0.15", "list_street_deep_vs_bare", "list_street_deep_vs_bare_range"),
    ("detail with events", "≥ 0.2", "detail_vs_bare", "detail_vs_bare_range"),
    ("staff triage queue page (session)", "≥ 0.1", "triage_street_vs_bare", "triage_street_vs_bare_range"),
    ("resident issue page (session)", "≥ 0.1", "resident_issue_vs_bare", "resident_issue_vs_bare_range"),
    ("stats, street-month (HTTP)", "—", "stats_street_month_vs_bare", "stats_street_month_vs_bare_range"),
    ("stats, street-month, in-process", "< 100 ms", "stats_street_month_in_process_ms", None),
    ("stats, district-year, in-process", "< 100 ms", "stats_district_year_in_process_ms", None),
    ("text search `q`, street scope, in-process", "< 200 ms", "search_street_in_process_ms", None),
    ("text search `q`, street scope, a rare text, in-process", "< 200 ms", "search_street_rare_in_process_ms", None),
    ("plain DRF one-insert create (reference)", "—", "reference_create_vs_bare", "reference_create_vs_bare_range"),
    ("plain DRF cursor list of 20 (reference)", "—", "reference_list_vs_bare", "reference_list_vs_bare_range"),
    ("create ÷ plain DRF create", "—", "create_vs_plain_drf", None),
    ("street list ÷ plain DRF list", "—", "list_street_vs_plain_drf", None),
    ("queries of a list page (warm token)", "≤ 3", "queries_list_street", None),
    ("sequential scans of issues/events/ratings on hot paths", "none", "seq_scans_on_hot_tables", None),
]
DEFAULT_DATABASE_URL = "postgres://postgres@127.0.0.1:5432/griddesk_bench"
# docs/benchmarks.md keeps what follows this line when make bench rewrites the rest.
KEPT_MARKER = "<!-- measured outside make bench: kept when it rewrites this file -->"


@dataclass
class BenchContext:
    """What a benchmark's run(ctx) gets."""

    database_url: str
    bare_view_rate: float
    tmp_dir: Path
    # Measure a dataset kept by an earlier run (--reuse) instead of building a fresh one.
    reuse: bool = False

    def ratio(self, rate: float) -> float:
        """Return `rate` divided by the bare view's calls per second measured in this run."""
        return round(rate / self.bare_view_rate, 4)

    def log(self, message: str) -> None:
        print(f"  {message}", file=sys.stderr, flush=True)


def discover(names: list[str]) -> list[str]:
    """Return the benchmark names (bench_<name>.py) to run, all when `names` is empty."""
    found = sorted(p.stem.removeprefix("bench_") for p in BENCH_DIR.glob("bench_*.py"))
    unknown = [n for n in names if n not in found]
    if unknown:
        sys.exit(f"unknown benchmark(s) {', '.join(unknown)}; there are: {', '.join(found)}")
    return names or found


class Databases:
    """Create the bench database from a migrated template for each benchmark; drop both at the end."""

    def __init__(self, url: str):
        import environ

        self.config = environ.Env.db_url_config(url)
        if "postgresql" not in self.config["ENGINE"]:
            sys.exit(f"DATABASE_URL must be PostgreSQL for the benchmarks, not {self.config['ENGINE']}")
        self.name = self.config["NAME"]
        self.template = f"{self.name}_template"

    def _admin(self, *statements: str) -> None:
        import psycopg2

        conn = psycopg2.connect(
            dbname="postgres",
            user=self.config["USER"] or None,
            password=self.config["PASSWORD"] or None,
            host=self.config["HOST"] or None,
            port=self.config["PORT"] or None,
        )
        conn.autocommit = True
        try:
            with conn.cursor() as cursor:
                for statement in statements:
                    cursor.execute(statement)
        finally:
            conn.close()

    def _use(self, name: str) -> None:
        from django.db import connections

        connections.close_all()
        connections["default"].settings_dict["NAME"] = name

    def prepare_template(self) -> None:
        from django.core.management import call_command

        self._admin(f'DROP DATABASE IF EXISTS "{self.template}" WITH (FORCE)', f'CREATE DATABASE "{self.template}"')
        self._use(self.template)
        call_command("migrate", verbosity=0, interactive=False)
        self._use(self.name)

    def fresh(self) -> None:
        """Make the bench database a fresh copy of the template."""
        self._use(self.name)
        self._admin(
            f'DROP DATABASE IF EXISTS "{self.name}" WITH (FORCE)',
            f'CREATE DATABASE "{self.name}" TEMPLATE "{self.template}"',
        )

    def drop_all(self) -> None:
        self._use(self.name)
        from django.db import connections

        connections.close_all()
        for name in (self.name, self.template):
            self._admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def machine() -> dict:
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else None
    return {
        "cpus": os.cpu_count(),
        "python": platform.python_version(),
        "platform": platform.platform(terse=True),
        "load_average_1m_at_start": round(load, 2) if load is not None else None,
    }


def write_markdown(results: dict) -> None:
    lines = [
        "# Benchmark results",
        "",
        "Written by `make bench` (bench/run.py); each figure is also given as a ratio to the calls/s of a bare",
        "Django view measured in the same run on the same machine. Do not edit by hand.",
        "",
    ]
    for name, entry in sorted(results.get("benchmarks", {}).items()):
        lines += [f"## {name}: {entry.get('title', '')}".rstrip(": "), ""]
        lines.append(
            f"Measured {entry['measured_at']} on {entry['machine']['cpus']} CPUs "
            f"(load average {entry['machine']['load_average_1m_at_start']} at start); "
            f"bare view: {entry['bare_view_calls_per_s']:.0f} calls/s."
        )
        lines += ["", "| figure | value | what it means |", "|---|---|---|"]
        notes = entry.get("notes", {})
        for key, value in entry["figures"].items():
            shown = f"{value:,.4g}" if isinstance(value, float) else f"{value:,}" if isinstance(value, int) else value
            lines.append(f"| {key} | {shown} | {notes.get(key, '')} |")
        lines.append("")
    RESULTS_MD.write_text("\n".join(lines), encoding="utf-8")
    write_benchmarks_doc(results)


def _thousands(value) -> str:
    return f"{value:,}" if isinstance(value, int) else str(value)


def write_benchmarks_doc(results: dict) -> None:
    """Write docs/benchmarks.md: the performance targets with the figures of the last api run beside them."""
    entry = results.get("benchmarks", {}).get("api")
    if not entry:
        return
    figures = entry["figures"]
    lines = [
        "# Benchmarks",
        "",
        "Written by `make bench` from its last run of the api benchmark (bench/bench_api.py; every figure and what it",
        "means: bench/RESULTS.md; query plans: bench/plans/). Ratios are to a bare Django view served by the same",
        "gunicorn (2 sync workers, no worker recycling) and measured right before each run; medians of "
        "the rounds, range in brackets.",
        "",
        f"Last run: {entry['measured_at']}, {_thousands(figures.get('issues', '?'))} issues"
        f" (scale {figures.get('scale', '?')}),"
        f" {entry['machine']['cpus']} CPUs, load average {figures.get('load_average_1m_before', '?')} before the HTTP"
        f" runs; bare view {figures.get('bare_http_per_s', '?')} requests/s ({figures.get('bare_http_range_per_s')}).",
        "",
        "| what | must reach | GridDesk, last run |",
        "|---|---|---|",
    ]
    for what, target, key, range_key in TARGETS:
        value = figures.get(key, "not measured yet")
        shown = f"{value:,.4g}" if isinstance(value, float) else f"{value:,}" if isinstance(value, int) else value
        if range_key and range_key in figures:
            shown += f" ({figures[range_key]})"
        lines.append(f"| {what} | {target} | {shown} |")
    if "failed" in figures:
        lines += ["", f"The run failed: {figures['failed']}"]
    lines += [
        "",
        "Measured by hand, not by this table: the escalation sweep over 1 M issues with 10,000 overdue",
        "(bench/bench_sweep.py; its section below the kept marker).",
        "",
    ]
    lines += _statspage_lines(results.get("benchmarks", {}).get("statspage"))
    lines += _export_lines(results.get("benchmarks", {}).get("export"))
    lines += _map_section(results.get("benchmarks", {}).get("map"))
    lines += triage_section(results)
    # Sections measured outside the harness (by hand, on a kept dataset) stay below the marker.
    kept = BENCHMARKS_DOC.read_text(encoding="utf-8").partition(KEPT_MARKER) if BENCHMARKS_DOC.exists() else ()
    if kept and kept[1]:
        lines += [KEPT_MARKER + kept[2].rstrip("\n"), ""]
    BENCHMARKS_DOC.write_text("\n".join(lines), encoding="utf-8")


# The statistics page's rows in docs/benchmarks.md: (what, area and period, key prefix of bench_statspage's figures).
STATSPAGE_ROWS = [
    ("community, 30 days", "community_month"),
    ("street, 30 days", "street_month"),
    ("district, 30 days", "district_month"),
    ("district, 365 days (target < 300 ms at 1,000,000 issues)", "district_year"),
]


def _statspage_lines(entry: dict | None) -> list[str]:
    """Return the section of docs/benchmarks.md on the statistics page (bench/bench_statspage.py), if it ran."""
    if not entry:
        return []
    figures = entry["figures"]
    if "failed" in figures or "skipped" in figures:
        return ["## The statistics page `/stats/`", "", f"Last run did not finish: {figures}", ""]
    lines = [
        "## The statistics page `/stats/`",
        "",
        f"Written from the last run of bench/bench_statspage.py: {entry['measured_at']}, {figures['issues']:,} issues"
        f" (scale {figures['scale']}), {entry['machine']['cpus']} CPUs, load average"
        f" {entry['machine']['load_average_1m_at_start']} at start. In-process (test Client, signed in with a"
        " session), medians; the page calls issue_stats twice (this period and the previous one of the same length)"
        " and adds the kinds, the weekly trend and the departments (issues/stats_report.py). Plans:"
        " bench/plans/statspage_*.txt.",
        "",
        "| page | queries | whole page, ms | issue_stats once, ms | kinds + trend + departments, ms |",
        "|---|---|---|---|---|",
    ]
    for what, key in STATSPAGE_ROWS:
        lines.append(
            f"| {what} | {figures.get(f'{key}_queries', '—')} | {figures.get(f'{key}_page_ms', '—')} |"
            f" {figures.get(f'{key}_issue_stats_ms', '—')} | {figures.get(f'{key}_report_extra_ms', '—')} |"
        )
    scans: dict[str, dict[str, int]] = {}
    for scan in (figures.get("seq_scans") or "none").split("; "):
        page, _, table = scan.partition(": Seq Scan on ")
        if table:
            counted = scans.setdefault(page.removeprefix("statspage_"), {})
            counted[table] = counted.get(table, 0) + 1
    shown = "; ".join(f"{page}: " + ", ".join(f"{t} ×{n}" for t, n in c.items()) for page, c in scans.items())
    lines += [
        "",
        f"Sequential scans in the page's plans (queries with such a scan, per table): {shown or 'none'}.",
        "",
        "Where the time goes (bench/plans/statspage_*.txt): issue_stats reads the rollup plus a live part for open",
        "issues past a deadline; the kinds and the weekly trend read the rollup's trend rows (a community and up);",
        "the departments read the department rollup (department × day × area) plus the entries of the leads' open",
        "issues past their resolution deadline. What grows with the data is the live parts: the open issues past a",
        "deadline, not the history.",
        "",
    ]
    return lines


def _export_lines(entry: dict | None) -> list[str]:
    """Return the section of docs/benchmarks.md on the export of 100,000 rows as a job (bench/bench_export.py)."""
    if not entry:
        return []
    runs = [  # bench_export.RUNS, as the table names them
        ("csv", "CSV, reporters masked"),
        ("xlsx", "XLSX, reporters masked"),
        ("csv_unmasked", "CSV, reporters unmasked (the reporter rules per row)"),
    ]
    f = entry["figures"]
    title = "## The export of 100,000 rows as a job"
    if "failed" in f or "skipped" in f:
        return [title, "", f"The last run did not finish: {f.get('failed') or f.get('skipped')}", ""]
    lines = [
        title,
        "",
        f"Written from the last run of bench/bench_export.py: {entry['measured_at']}, {f['issues']:,} issues (scale"
        f" {f['scale']}), {entry['machine']['cpus']} CPUs, load average {f['load_average_1m_before']} before the"
        f" first job and {f['load_average_1m_after']} after the last. The district admin asks"
        f" `GET /api/v1/issues/export/` for the {f['rows']:,} oldest issues (202, a job); the job runs in-process as"
        " a worker runs it (issues.tasks.issue_export_task) and its file is downloaded. Headers in Chinese. Target:"
        " < 30 s, aim < 10 s.",
        "",
        "| job | wall time, s | its process's CPU, s | rows/s | peak memory, MiB (before the job) | file, MiB |"
        " SQL queries |",
        "|---|---|---|---|---|---|---|",
    ]
    for key, what in runs:
        if f"{key}_job_s" in f:
            lines.append(
                f"| {what} | {f[f'{key}_job_s']} | {f.get(f'{key}_cpu_s', '—')} | {f[f'{key}_rows_per_s']:,} |"
                f" {f[f'{key}_peak_rss_mb']} ({f[f'{key}_rss_before_mb']}) | {f[f'{key}_file_mb']} |"
                f" {f[f'{key}_queries']} |"
            )
    lines += [
        "",
        "The rows are one query through a server-side cursor (the lead department and the latest rating as",
        "correlated subqueries), the CSV is written by csv.writer in bulk, and the XLSX rows are serialized as",
        "openpyxl's write-only mode writes them into the workbook openpyxl makes (issues/exports.py). Wall times move",
        "with the shared machine's load (PostgreSQL's own time is in the wall time, not in the CPU column).",
        "",
    ]
    return lines


# The map benchmark's requests (bench/bench_map.py REQUESTS), as docs/benchmarks.md names them.
MAP_ROWS = [
    ("street_grids", "`GET /api/v1/map/grids/?area=<street>`: 10,000 grids, 100 community outlines, the street"),
    ("street_grids_z12", "`…/map/grids/?area=<street>&zoom=12&bbox=<view>`: the page's view at zoom 12"),
    ("street_grids_z15", "`…/map/grids/?area=<street>&zoom=15&bbox=<view>`: the page's view at zoom 15"),
    ("street_issues", "`GET /api/v1/map/issues/?area=<street>`: the newest 5,000 open issues as points"),
    ("street_issues_z12", "`…/map/issues/?area=<street>&bbox=<view>`: the open issues in the view at zoom 12"),
    ("street_page", "`GET /map/` as the street officer (the table: the 200 busiest grids)"),
    ("community_grids", "`GET /api/v1/map/grids/?area=<community>`: 100 grids and the outline"),
    ("community_issues", "`GET /api/v1/map/issues/?area=<community>`"),
    ("community_page", "`GET /map/` as the community's staff"),
]


def _map_section(entry: dict | None) -> list[str]:
    """Return the lines of docs/benchmarks.md on the map: each request's queries, time and bytes (bench_map.py)."""
    if not entry:
        return []
    f = entry["figures"]
    if "failed" in f:
        return ["## The map (/map/)", "", f"The last run failed: {f['failed']}", ""]
    lines = [
        "## The map (/map/)",
        "",
        f"Written by `make bench` from its last run of the map benchmark (bench/bench_map.py), in-process (test Client,"
        f" signed in): {entry['measured_at']}, {f['grids']:,} grids (the routing benchmark's), {f['issues']:,} issues"
        f" of which {f['open_issues']:,} open ({f['overdue_issues']:,} overdue); {entry['machine']['cpus']} CPUs, load"
        f" average {entry['machine']['load_average_1m_at_start']} at start, bare view"
        f" {entry['bare_view_calls_per_s']:.0f} calls/s. Each grid's drawing at five zoom tiers and each community's"
        " and street's outline are stored when the grids are written (grids.MapDrawing, redrawn when those grids"
        ' change). "First call" is a process\'s first: it assembles the layer from the stored drawings and keeps it'
        " until the grids under the node change; the next calls read the counts and the hot spots, and answer the kept"
        ' body when they have not changed (each process keeps its last 8 answers by ETag); "counts changed" drops'
        " the kept answers before each call, so the answer is written and gzipped again. A view (bbox=) is"
        " what the page asks for when zoomed in: its 600 × 600 px view padded by half on each side.",
        "",
        "| request | queries | first call, ms | next calls, ms (median) | counts changed, ms (median) | answer, KiB |"
        " gzipped, KiB |",
        "|---|---|---|---|---|---|---|",
    ]
    for key, what in MAP_ROWS:
        lines.append(
            f"| {what} | {f[f'{key}_queries']} | {f[f'{key}_first_ms']:,} | {f[f'{key}_ms']:,} |"
            f" {f.get(f'{key}_written_ms', '—')} | {f[f'{key}_kb']:,} | {f[f'{key}_gzip_kb']:,} |"
        )
    lines += [
        "",
        f"The street's geometry is simplified for zoom {f['street_grids_zoom']} (one pixel: about"
        f" {360 / (256 * 2 ** f['street_grids_zoom']) * 111_320:,.0f} m at the equator) and rounded"
        f" to match; {f['street_grids_features']:,} features. The street's points stop at"
        f" {f['street_issues_points']:,} (newest first; the colours count every open issue). The view at zoom 12 has"
        f" {f.get('street_grids_z12_features', '—'):,} features and {f.get('street_issues_z12_points', '—'):,} points;"
        f" at zoom 15, {f.get('street_grids_z15_features', '—'):,} features. Drawing the street's 10,000 grids at"
        f" five tiers and its 101 outlines from nothing (what generate_grids adds) takes"
        f" {f.get('street_drawings_s', '—')} s.",
        "",
    ]
    if "browser_street_grids_drawn_ms" in f:
        lines += [
            f"In headless Chromium at 1280 px (the same machine, a live server thread): /map/ as the street officer"
            f" shows its 10,000 grids {f['browser_street_grids_drawn_ms']:,} ms after navigation and its points"
            f" clustered at {f['browser_street_points_drawn_ms']:,} ms (median of the loads after the first).",
            "",
        ]
    return lines


# The triage benchmark's targets (bench/bench_triage.py), each with its figure.
TRIAGE_TARGETS = [
    ("top-1 category, held-out fifth of the labelled set", "≥ 0.85", "top1"),
    ("top-3 category, held-out fifth", "—", "top3"),
    ("top-1 kind, held-out fifth", "—", "kind_top1"),
    ("suggestion latency p50, ms (triage_suggest with its queries)", "< 20", "suggest_p50_ms"),
    ("suggestion latency p99, ms", "< 20", "suggest_p99_ms"),
    (
        "with a place (its grid's history: one more query) p50 / p99, ms",
        "< 20",
        ("suggest_place_p50_ms", "suggest_place_p99_ms"),
    ),
    ("classifier alone p50 / p99, ms", "—", ("engine_p50_ms", "engine_p99_ms")),
    ("training time, 100,000 decisions (synthesised), s", "—", "train_100k_s"),
    ("top-1 of that model on the held-out fifth", "—", "train_100k_top1"),
]


def triage_section(results: dict) -> list[str]:
    """Return the triage suggestions' part of docs/benchmarks.md, from the last triage run (none: nothing)."""
    entry = results.get("benchmarks", {}).get("triage")
    if not entry or "top1" not in entry["figures"]:
        return []
    figures = entry["figures"]
    lines = [
        "## Triage suggestions",
        "",
        f"Written from the last run of bench/bench_triage.py ({entry['measured_at']},"
        f" {entry['machine']['cpus']} CPUs): {figures['labelled']} labelled descriptions shipped in",
        f"triage/data/labelled.tsv, {figures['held_out']} of them",
        "held out (a stratified fifth). The 100,000 decisions are synthesised from the training part (resampled, each",
        "copy perturbed: a hotline opening and closing, a place, a dropped character); none exist yet. `triage_train`",
        "fits twice (once without the held-out fifth to measure it, once on everything), so it takes about twice the",
        "training time shown. The 100,000-decision model is a timing figure: its copies add noise and no new wording,",
        "so its top-1 is no better than that of the 415 lines it was drawn from. Wall times vary with the shared load.",
        "",
        "| what | must reach | last run |",
        "|---|---|---|",
    ]
    for what, target, key in TRIAGE_TARGETS:
        keys = key if isinstance(key, tuple) else (key,)
        lines.append(f"| {what} | {target} | {' / '.join(str(figures.get(k, '—')) for k in keys)} |")
    curve = sorted((int(k.rsplit("_", 1)[1]), v) for k, v in figures.items() if k.startswith("curve_top1_at_"))
    lines += [
        "",
        "Learning curve: top-1 on the held-out fifth of a model fitted on N staff decisions alone (no shipped set),",
        "mean of three draws (the last column: the whole training part, once). One held-out line is"
        f" {1 / figures['held_out']:.1%} of top-1.",
        "",
        "| staff decisions | " + " | ".join(str(n) for n, _ in curve) + " |",
        "|---|" + "---|" * len(curve),
        "| top-1 | " + " | ".join(f"{v:.3f}" for _, v in curve) + " |",
        "",
    ]
    return lines


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("names", nargs="*", help="benchmarks to run (default: all)")
    parser.add_argument("--bare-seconds", type=float, default=3, help="how long to measure the bare view")
    parser.add_argument(
        "--scale",
        choices=["100k", "1m", "10m"],
        default=os.environ.get("GRIDDESK_BENCH_SCALE", "1m"),
        help="issues in the API benchmark's dataset (default 1m; 100k quick, 10m a stretch)",
    )
    parser.add_argument(
        "--keep",
        action="store_true",
        help="keep the last benchmark's database (to measure by hand on the same data); dropped by the next run",
    )
    parser.add_argument(
        "--reuse",
        action="store_true",
        help="measure the database kept by an earlier --keep run again (migrated first) instead of building it",
    )
    args = parser.parse_args()

    sys.path[0] = str(ROOT)  # import as bench.<module>, with the project importable
    os.environ["DJANGO_SETTINGS_MODULE"] = "config.settings.test"
    os.environ["DATABASE_URL"] = url = os.environ.get("DATABASE_URL") or DEFAULT_DATABASE_URL
    names = discover(args.names)
    os.environ["GRIDDESK_BENCH_SCALE"] = args.scale

    import django

    django.setup()
    from bench.common import bare_view_rate

    databases = Databases(url)
    results = json.loads(RESULTS_JSON.read_text()) if RESULTS_JSON.exists() else {}
    results.setdefault("benchmarks", {})
    failed = []
    print(f"Preparing {databases.name if args.reuse else databases.template} …", file=sys.stderr, flush=True)
    if args.reuse:
        from django.core.management import call_command

        call_command("migrate", verbosity=0, interactive=False)  # a kept dataset may predate the code's migrations
    else:
        databases.prepare_template()
    try:
        for name in names:
            module = importlib.import_module(f"bench.bench_{name}")
            if not args.reuse:
                databases.fresh()
            rate = bare_view_rate(args.bare_seconds)
            print(f"{name}: bare view {rate:.0f} calls/s", file=sys.stderr, flush=True)
            tmp_dir = Path(tempfile.mkdtemp(prefix=f"bench_{name}_"))
            machine_at_start = machine()
            started = time.perf_counter()
            try:
                context = BenchContext(database_url=url, bare_view_rate=rate, tmp_dir=tmp_dir, reuse=args.reuse)
                figures = module.run(context)
            except Exception as exc:  # noqa: BLE001 — one broken benchmark must not lose the others' figures
                failed.append(name)
                # A benchmark that ran but broke a rule (a sequential scan on a hot path) keeps its figures.
                figures = {**getattr(exc, "figures", {}), "failed": f"{type(exc).__name__}: {exc}"}
            finally:
                shutil.rmtree(tmp_dir, ignore_errors=True)
            print(f"{name}: {json.dumps(figures, ensure_ascii=False)}", file=sys.stderr, flush=True)
            results["benchmarks"][name] = {
                "title": getattr(module, "TITLE", ""),
                "measured_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
                "seconds": round(time.perf_counter() - started, 1),
                "machine": machine_at_start,
                "bare_view_calls_per_s": round(rate, 1),
                "figures": figures,
                "notes": getattr(module, "NOTES", {}),
            }
    finally:
        if args.keep or args.reuse:
            print(f"Kept database {databases.name} (the last benchmark's data)", file=sys.stderr, flush=True)
        else:
            databases.drop_all()
    RESULTS_JSON.write_text(json.dumps(results, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    write_markdown(results)
    print(f"Wrote {RESULTS_JSON.relative_to(ROOT)} and {RESULTS_MD.relative_to(ROOT)}", file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
