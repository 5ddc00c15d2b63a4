"""Generate grids (with boundaries) and buildings for communities, deterministically from a seed.

The bounding box is cut into one block per community (rows of blocks; the blocks of a row share its height and
split its width), and each community block into its grids the same way. Neighbouring cells share the very same
edge coordinates, so the grids tile the box with no gap and no overlap. Interior edges are jittered from the seed
so the map does not look like graph paper. Each building is a point strictly inside its grid.

Running it again with the same arguments changes nothing; with other arguments it updates the generated nodes in
place. Grids of the selected communities that a run does not generate keep their row (issues may point at them)
but lose their boundary, so routing only ever sees the current tiling.
"""

import math
import random
from dataclasses import dataclass

from django.db import transaction
from django.utils import timezone
from tqdm import tqdm

from grids.maps import map_drawings_refresh
from grids.models import Area
from grids.routing import routing_invalidate
from grids.services import area_path_for, area_validate

MAX_CHILDREN = 999  # grid and building codes are the parent's code plus 3 digits


@dataclass(frozen=True)
class BBox:
    """A box in degrees: latitude from lat_min to lat_max, longitude from lng_min to lng_max."""

    lat_min: float
    lat_max: float
    lng_min: float
    lng_max: float

    @classmethod
    def parse(cls, text: str) -> "BBox":
        """Parse "lat_min,lat_max,lng_min,lng_max"."""
        parts = [float(p) for p in text.split(",")]
        if len(parts) != 4:
            raise ValueError("a bounding box is lat_min,lat_max,lng_min,lng_max")
        box = cls(*parts)
        if not (box.lat_min < box.lat_max and box.lng_min < box.lng_max):
            raise ValueError("a bounding box needs lat_min < lat_max and lng_min < lng_max")
        if not (-90 <= box.lat_min and box.lat_max <= 90 and -180 <= box.lng_min and box.lng_max <= 180):
            raise ValueError("a bounding box must lie within latitude ±90 and longitude ±180")
        return box

    def polygon(self) -> dict:
        """Return the box as a GeoJSON Polygon ([lng, lat], counter-clockwise, closed)."""
        ring = [
            [self.lng_min, self.lat_min],
            [self.lng_max, self.lat_min],
            [self.lng_max, self.lat_max],
            [self.lng_min, self.lat_max],
            [self.lng_min, self.lat_min],
        ]
        return {"type": "Polygon", "coordinates": [ring]}


@dataclass
class GenerationResult:
    communities: int = 0
    grids_created: int = 0
    grids_updated: int = 0
    grids_retired: int = 0
    buildings_created: int = 0
    buildings_updated: int = 0


def _cuts(rng: random.Random, lo: float, hi: float, n: int, jitter: float) -> list[float]:
    """Return n + 1 edges from lo to hi; interior edges move by up to `jitter` of a cell from even spacing."""
    step = (hi - lo) / n
    edges = [lo + i * step for i in range(n + 1)]
    for i in range(1, n):
        edges[i] += rng.uniform(-jitter, jitter) * step
    edges[0], edges[-1] = lo, hi  # the outer edges are exactly the box's, shared with the neighbours
    return edges


def tile(box: BBox, n: int, rng: random.Random, jitter: float = 0.25) -> list[BBox]:
    """Cut `box` into `n` cells that tile it: rows of cells, the rows' cell counts differing by at most one."""
    if n < 1:
        return []
    width, height = box.lng_max - box.lng_min, box.lat_max - box.lat_min
    rows = max(1, min(n, round(math.sqrt(n * height / width)))) if width > 0 else n
    per_row = [n // rows + (1 if r < n % rows else 0) for r in range(rows)]
    lat_edges = _cuts(rng, box.lat_max, box.lat_min, rows, jitter)  # north to south
    cells = []
    for r, count in enumerate(per_row):
        south, north = lat_edges[r + 1], lat_edges[r]
        lng_edges = _cuts(rng, box.lng_min, box.lng_max, count, jitter)
        cells += [BBox(south, north, lng_edges[c], lng_edges[c + 1]) for c in range(count)]
    return cells


def _split(total: int, parts: int, rng: random.Random) -> list[int]:
    """Split `total` into `parts` positive integers with random weights (largest remainder)."""
    weights = [rng.uniform(0.5, 1.5) for _ in range(parts)]
    scale = total / sum(weights)
    raw = [w * scale for w in weights]
    counts = [max(1, int(x)) for x in raw]
    order = sorted(range(parts), key=lambda i: raw[i] - int(raw[i]), reverse=True)
    for i in order[: max(0, total - sum(counts))]:
        counts[i] += 1
    return counts


def _short_name(name: str) -> str:
    for suffix in ("居委会", "委员会", "村委会"):
        if name.endswith(suffix) and len(name) > len(suffix):
            return name[: -len(suffix)]
    return name


def _desired_grids(community: Area, cell: BBox, *, grids: int, buildings: int, seed: int) -> list[tuple[Area, list]]:
    """Return the grids of `community` (unsaved) with their buildings' fields, from a seed of their own."""
    rng = random.Random(f"{seed}:{community.code}")
    out = []
    for g, grid_box in enumerate(tile(cell, grids, rng), start=1):
        code = f"{community.code}{g:03d}"
        households = rng.randint(300, 500)
        grid = Area(
            code=code,
            name=f"第{g}网格",
            level=Area.Level.GRID,
            parent=community,
            path=area_path_for(code=code, parent=community),
            households=households,
            boundary=grid_box.polygon(),
        )
        area_validate(code=code, level=grid.level, parent=community)
        place = _short_name(community.name)
        rows = []
        for b, share in enumerate(_split(households, buildings, rng) if buildings else [], start=1):
            # Strictly inside the grid: never on an edge, so a building's point routes to its own grid.
            lat = grid_box.lat_min + rng.uniform(0.1, 0.9) * (grid_box.lat_max - grid_box.lat_min)
            lng = grid_box.lng_min + rng.uniform(0.1, 0.9) * (grid_box.lng_max - grid_box.lng_min)
            rows.append(
                {
                    "code": f"{code}{b:03d}",
                    "name": f"{b}栋",
                    "households": share,
                    "lat": round(lat, 6),
                    "lng": round(lng, 6),
                    "address": f"{place}第{g}网格{b}栋",
                }
            )
        out.append((grid, rows))
    return out


_GRID_FIELDS = ("name", "households", "boundary")
_BUILDING_FIELDS = ("name", "households", "lat", "lng", "address")


def _changed(existing: Area, desired, fields) -> bool:
    get = desired.get if isinstance(desired, dict) else lambda f: getattr(desired, f)
    changed = False
    for f in fields:
        if getattr(existing, f) != get(f):
            setattr(existing, f, get(f))
            changed = True
    return changed


def grids_generate(
    *,
    communities: list[Area],
    bbox: BBox,
    grids_per_community: int,
    buildings_per_grid: int,
    seed: int = 0,
    progress: bool = False,
) -> GenerationResult:
    """Create or update the grids and buildings of `communities`, tiling `bbox` among them, the same for a seed."""
    if not 1 <= grids_per_community <= MAX_CHILDREN:
        raise ValueError(f"grids per community must be 1–{MAX_CHILDREN}")
    if not 0 <= buildings_per_grid <= MAX_CHILDREN:
        raise ValueError(f"buildings per grid must be 0–{MAX_CHILDREN}")
    communities = sorted(communities, key=lambda c: c.code)
    for c in communities:
        if c.level != Area.Level.COMMUNITY:
            raise ValueError(f"{c.code} is a {c.level}, not a community")
    result = GenerationResult(communities=len(communities))
    cells = tile(bbox, len(communities), random.Random(f"{seed}:communities"))
    with transaction.atomic():
        for community, cell in tqdm(
            list(zip(communities, cells, strict=True)), desc="communities", unit="community", disable=not progress
        ):
            _generate_community(
                community, cell, grids=grids_per_community, buildings=buildings_per_grid, seed=seed, result=result
            )
        transaction.on_commit(routing_invalidate)
    routing_invalidate()
    # The map's drawings of the grids and outlines just written (grids.maps), so that no read has to draw them.
    for street in Area.objects.filter(code__in={c.ancestor_code(Area.Level.STREET) for c in communities}):
        map_drawings_refresh(area=street)
    return result


def _generate_community(community: Area, cell: BBox, *, grids: int, buildings: int, seed: int, result) -> None:
    desired = _desired_grids(community, cell, grids=grids, buildings=buildings, seed=seed)
    existing = {a.code: a for a in Area.objects.filter(parent=community, level=Area.Level.GRID).order_by()}
    new_grids, changed_grids = [], []
    for grid, _rows in desired:
        old = existing.get(grid.code)
        if old is None:
            new_grids.append(grid)
        elif _changed(old, grid, _GRID_FIELDS):
            changed_grids.append(old)
    wanted = {grid.code for grid, _ in desired}
    retired = [a for code, a in existing.items() if code not in wanted and a.boundary is not None]
    for a in retired:
        a.boundary = None
    now = timezone.now()
    for a in changed_grids + retired:
        a.updated_at = now  # bulk_update skips auto_now; routing notices changes by updated_at
    Area.objects.bulk_create(new_grids, batch_size=1000)
    Area.objects.bulk_update(changed_grids + retired, fields=[*_GRID_FIELDS, "updated_at"], batch_size=500)
    result.grids_created += len(new_grids)
    result.grids_updated += len(changed_grids)
    result.grids_retired += len(retired)

    grid_by_code = {**existing, **{g.code: g for g in new_grids}}
    old_buildings = {
        b.code: b
        for b in Area.objects.filter(
            parent__in=[grid_by_code[g.code].pk for g, _ in desired], level=Area.Level.BUILDING
        )
    }
    new_buildings, changed_buildings = [], []
    for grid, rows in desired:
        parent = grid_by_code[grid.code]
        for row in rows:
            old = old_buildings.get(row["code"])
            if old is None:
                area_validate(code=row["code"], level=Area.Level.BUILDING, parent=parent)
                new_buildings.append(
                    Area(
                        level=Area.Level.BUILDING,
                        parent=parent,
                        path=area_path_for(code=row["code"], parent=parent),
                        **row,
                    )
                )
            elif _changed(old, row, _BUILDING_FIELDS):
                changed_buildings.append(old)
    Area.objects.bulk_create(new_buildings, batch_size=2000)
    for b in changed_buildings:
        b.updated_at = now
    Area.objects.bulk_update(changed_buildings, fields=[*_BUILDING_FIELDS, "updated_at"], batch_size=500)
    result.buildings_created += len(new_buildings)
    result.buildings_updated += len(changed_buildings)
