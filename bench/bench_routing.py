"""Routing benchmark: locate_grid lookups per second against 10,000 grids made by generate_grids.

Follows bench/run.py's contract: `run(ctx)` gets a freshly migrated, empty database, builds a territory under a
district code no real division uses (999901: 100 communities), generates 10,000 grids with
`manage.py generate_grids` (100 per community, tiling a 1° × 1° box), then times locate_grid on random points of
the box, one call per point, as an API request or issue_submit makes it. Target: 10,000 lookups/s.
"""

import random
import time

TITLE = "locate_grid against 10,000 grids (shapely STRtree), grids made by generate_grids"
NOTES = {
    "grids": "grids with a boundary generated for the run",
    "generate_grids_s": "wall time of generate_grids creating the 10,000 grids (bulk_create)",
    "index_build_s": "first lookup after a change: load the grids, parse the GeoJSON, build the STRtree",
    "lookups": "random points in the box, each located with one locate_grid call",
    "misses": "points no grid covered (must be 0: the grids tile the box)",
    "lookups_per_s": "locate_grid calls per second (target: at least 10,000)",
    "lookups_per_s_vs_bare_view": "lookups_per_s ÷ bare view calls/s",
    "lookups_per_cpu_s": "locate_grid calls per second of this process's CPU time: what the code costs when the"
    " 2 shared cores are busy with other work (wall-clock figures then fall with the load)",
    "batch_lookups_per_s": "points per second through locate_grids (one vectorised query for all points)",
    "meets_target": "1 when lookups_per_s ≥ 10,000",
}

DISTRICT = "999901"
STREET = f"{DISTRICT}001"
COMMUNITIES = 100
GRIDS_PER_COMMUNITY = 100
BBOX = (25.0, 26.0, 114.0, 115.0)  # lat_min, lat_max, lng_min, lng_max
LOOKUPS = 50_000
SEED = 20261122
TARGET_LOOKUPS_PER_S = 10_000


def _territory() -> list[str]:
    from grids.models import Area
    from grids.services import area_create

    district = area_create(code=DISTRICT, name="基准区", level=Area.Level.DISTRICT)
    street = area_create(code=STREET, name="基准街道", level=Area.Level.STREET, parent=district)
    return [
        area_create(code=f"{STREET}{n:03d}", name=f"基准社区{n}", level=Area.Level.COMMUNITY, parent=street).code
        for n in range(1, COMMUNITIES + 1)
    ]


def generate_bench_grids(communities: list[str]) -> None:
    """Tile the communities with GRIDS_PER_COMMUNITY grids in BBOX: the same grids for each benchmark using them."""
    from django.core.management import call_command

    call_command(
        "generate_grids",
        "--community",
        *communities,
        "--bbox",
        ",".join(str(x) for x in BBOX),
        "--grids-per-community",
        str(GRIDS_PER_COMMUNITY),
        "--buildings-per-grid",
        "0",
        "--seed",
        str(SEED),
        "--no-progress",
        verbosity=0,
    )


def run(ctx) -> dict:
    from grids.models import Area
    from grids.routing import locate_grid, locate_grids, routing_invalidate

    communities = _territory()
    started = time.perf_counter()
    generate_bench_grids(communities)
    generate_s = time.perf_counter() - started
    grids = Area.objects.filter(level=Area.Level.GRID, boundary__isnull=False).count()
    ctx.log(f"{grids} grids generated in {generate_s:.1f} s")

    routing_invalidate()
    started = time.perf_counter()
    locate_grid(lat=BBOX[0], lng=BBOX[2])  # builds the index
    index_build_s = time.perf_counter() - started

    rng = random.Random(SEED)
    lat_min, lat_max, lng_min, lng_max = BBOX
    points = [(rng.uniform(lat_min, lat_max), rng.uniform(lng_min, lng_max)) for _ in range(LOOKUPS)]
    misses = 0
    started, cpu_started = time.perf_counter(), time.process_time()
    for lat, lng in points:
        if locate_grid(lat=lat, lng=lng) is None:
            misses += 1
    rate = LOOKUPS / (time.perf_counter() - started)
    cpu_rate = LOOKUPS / (time.process_time() - cpu_started)

    started = time.perf_counter()
    batch = locate_grids(points=points)
    batch_rate = LOOKUPS / (time.perf_counter() - started)
    misses += batch.count(None)
    routing_invalidate()
    return {
        "grids": grids,
        "generate_grids_s": round(generate_s, 2),
        "index_build_s": round(index_build_s, 3),
        "lookups": LOOKUPS,
        "misses": misses,
        "lookups_per_s": round(rate),
        "lookups_per_s_vs_bare_view": ctx.ratio(rate),
        "lookups_per_cpu_s": round(cpu_rate),
        "batch_lookups_per_s": round(batch_rate),
        "meets_target": int(rate >= TARGET_LOOKUPS_PER_S),
    }


if __name__ == "__main__":
    raise SystemExit("Run it through the harness: python bench/run.py routing")
