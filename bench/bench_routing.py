"""Routing benchmark: locate_grid lookups per second against 10,000 grids made by generate_grids.

Harness contract (bench/run.py): `run(ctx) -> dict` of figures, called with Django set up on the bench database.
It builds its own territory under a district code that no real division uses (999901), generates 10,000 grids
(100 communities × 100 grids) with `manage.py generate_grids`, times random points in the box, and deletes what it
made. Run alone: `DATABASE_URL=postgres://… python bench/bench_routing.py` (creates and drops its own database).
"""

import os
import random
import sys
import time
from pathlib import Path

DISTRICT = "999901"
STREET = f"{DISTRICT}001"
COMMUNITIES = 100
GRIDS_PER_COMMUNITY = 100
BBOX = (25.0, 26.0, 114.0, 115.0)  # lat_min, lat_max, lng_min, lng_max
LOOKUPS = 50_000
SEED = 20261122


def _cleanup() -> None:
    from grids.models import Area

    # Children first: parents are protected.
    for level in ("building", "grid", "community", "street", "district"):
        Area.objects.filter(path__startswith=DISTRICT, level=level).delete()


def _territory() -> list[str]:
    from grids.models import Area
    from grids.services import area_create

    district = area_create(code=DISTRICT, name="基准区", level=Area.Level.DISTRICT)
    street = area_create(code=STREET, name="基准街道", level=Area.Level.STREET, parent=district)
    return [
        area_create(code=f"{STREET}{n:03d}", name=f"基准社区{n}", level=Area.Level.COMMUNITY, parent=street).code
        for n in range(1, COMMUNITIES + 1)
    ]


def run(ctx) -> dict:
    from django.core.management import call_command

    from grids.models import Area
    from grids.routing import locate_grid, locate_grids, routing_invalidate

    _cleanup()
    communities = _territory()
    started = time.perf_counter()
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
    generate_seconds = time.perf_counter() - started
    grids = Area.objects.filter(path__startswith=DISTRICT, level=Area.Level.GRID).count()

    routing_invalidate()
    started = time.perf_counter()
    locate_grid(lat=BBOX[0], lng=BBOX[2])  # builds the index
    build_seconds = time.perf_counter() - started

    rng = random.Random(SEED)
    lat_min, lat_max, lng_min, lng_max = BBOX
    points = [(rng.uniform(lat_min, lat_max), rng.uniform(lng_min, lng_max)) for _ in range(LOOKUPS)]
    misses = 0
    started = time.perf_counter()
    for lat, lng in points:
        if locate_grid(lat=lat, lng=lng) is None:
            misses += 1
    lookup_seconds = time.perf_counter() - started
    rate = LOOKUPS / lookup_seconds

    started = time.perf_counter()
    batch = locate_grids(points=points)
    batch_rate = LOOKUPS / (time.perf_counter() - started)
    batch_misses = batch.count(None)

    try:
        from bench.common import bare_view_rate
    except ImportError:  # the harness's helper is not there: report the lookups alone
        bare = None
    else:
        bare = bare_view_rate()
    _cleanup()
    routing_invalidate()
    return {
        "grids": grids,
        "generate_grids_seconds": round(generate_seconds, 2),
        "index_build_seconds": round(build_seconds, 3),
        "lookups": LOOKUPS,
        "misses": misses,
        "lookups_per_second": round(rate),
        "batch_lookups_per_second": round(batch_rate),
        "batch_misses": batch_misses,
        # The box is shared with other work; the load says how much of the 2 cores this run had.
        "load_average_1m": round(os.getloadavg()[0], 2),
        "bare_view_calls_per_second": round(bare) if bare else None,
        "lookups_per_bare_view_call": round(rate / bare, 2) if bare else None,
        "target_lookups_per_second": 10_000,
        "meets_target": rate >= 10_000,
    }


def _main() -> None:
    """Run alone on a database of its own, created and dropped here."""
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.test")
    os.environ.setdefault("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/griddesk_bench")
    os.environ.setdefault("GRIDDESK_TEST_DB", "griddesk_bench_routing")
    import django

    django.setup()
    from django.db import connection

    original_name = connection.settings_dict["NAME"]
    connection.creation.create_test_db(verbosity=0, autoclobber=True)
    try:
        import json

        print(json.dumps(run({}), indent=2))
    finally:
        connection.creation.destroy_test_db(original_name, verbosity=0)


if __name__ == "__main__":
    _main()
