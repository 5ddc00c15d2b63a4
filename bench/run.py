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
DEFAULT_DATABASE_URL = "postgres://postgres@127.0.0.1:5432/griddesk_bench"


@dataclass
class BenchContext:
    """What a benchmark's run(ctx) gets."""

    database_url: str
    bare_view_rate: float
    tmp_dir: Path

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


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("names", nargs="*", help="benchmarks to run (default: all)")
    parser.add_argument("--bare-seconds", type=float, default=3, help="how long to measure the bare view")
    args = parser.parse_args()

    sys.path[0] = str(ROOT)  # import as bench.<module>, with the project importable
    os.environ["DJANGO_SETTINGS_MODULE"] = "config.settings.test"
    os.environ["DATABASE_URL"] = url = os.environ.get("DATABASE_URL") or DEFAULT_DATABASE_URL
    names = discover(args.names)

    import django

    django.setup()
    from bench.common import bare_view_rate

    databases = Databases(url)
    results = json.loads(RESULTS_JSON.read_text()) if RESULTS_JSON.exists() else {}
    results.setdefault("benchmarks", {})
    failed = []
    print(f"Preparing {databases.template} …", file=sys.stderr, flush=True)
    databases.prepare_template()
    try:
        for name in names:
            module = importlib.import_module(f"bench.bench_{name}")
            databases.fresh()
            rate = bare_view_rate(args.bare_seconds)
            print(f"{name}: bare view {rate:.0f} calls/s", file=sys.stderr, flush=True)
            tmp_dir = Path(tempfile.mkdtemp(prefix=f"bench_{name}_"))
            machine_at_start = machine()
            started = time.perf_counter()
            try:
                figures = module.run(BenchContext(database_url=url, bare_view_rate=rate, tmp_dir=tmp_dir))
            except Exception as exc:  # noqa: BLE001 — one broken benchmark must not lose the others' figures
                failed.append(name)
                figures = {"failed": f"{type(exc).__name__}: {exc}"}
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
        databases.drop_all()
    RESULTS_JSON.write_text(json.dumps(results, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    write_markdown(results)
    print(f"Wrote {RESULTS_JSON.relative_to(ROOT)} and {RESULTS_MD.relative_to(ROOT)}", file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
