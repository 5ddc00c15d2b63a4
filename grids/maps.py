"""The territory drawn on a map: grid boundaries and the community and street outlines under a node, as GeoJSON.

Rules:
- Geometry is simplified to the map's zoom: the tolerance is one screen pixel at that zoom (Web Mercator, 256 px
  tiles, taken at the equator so it errs on the side of detail), and coordinates are rounded to the decimals that
  still resolve it. A zoom is served by the nearest zoom tier at or above it (ZOOM_TIERS), never by a coarser one.
- Drawings are precomputed and stored (grids.models.MapDrawing): each grid's boundary at every tier, and each
  community's and street's outline (the boundary of the union of its grids, a street's from its communities'
  unions). A drawing remembers the state of the grids it was drawn from (how many, their latest change) and is
  redrawn when that state differs, so a grid edited anywhere (service, generation, admin) is redrawn at its next
  read at the latest; grids.generation and grids.services draw at write time, so the first read finds them ready.
- Only nodes at or under the drawn node get an outline (a community's staff never see their street's extent).
- What is drawn depends only on the grids under the node: a layer (node, tier, state of those grids) is assembled
  from the stored drawings once and kept in this process; a view (`bbox`) is cut from the kept layer in memory.

This module knows the territory only; the issue counts and who may see which node are the caller's business
(issues/map_selectors.py, behind orgs.scoping).
"""

import functools
import json
import math
import threading
from collections import OrderedDict
from dataclasses import dataclass, field

import numpy as np
import shapely
from django.db.models import BooleanField, Count, ExpressionWrapper, Max, Min, Q, TextField
from django.db.models.functions import Cast

from grids.models import PATH_SEPARATOR, Area, MapDrawing

MIN_ZOOM, MAX_ZOOM = 3, 19
# The zooms drawings are stored at: a street fits at 9, a community at 12 to 15, a grid at 15 to 17; 19 is as fine
# as the map goes. Three zoom steps between tiers, as the page asks again three steps past the zoom it holds.
ZOOM_TIERS = (6, 9, 12, 15, 19)
# The map the page draws into (about 600 × 620 px on a 1280 px desk page): the zoom chosen when the caller names
# none fits the node in it.
FIT_PIXELS = (600, 600)
# Layers kept per process: a handful of nodes at a few zooms each.
LAYERS_KEPT = 24
_layers: "OrderedDict[tuple, MapLayer]" = OrderedDict()
_lock = threading.Lock()
_POLYGONAL_TYPE_IDS = [3, 6]  # Polygon, MultiPolygon (shapely.GeometryType)
_BATCH = 1000
# One encoder for the many small objects written (json.dumps with options builds a new one per call).
_json = json.JSONEncoder(ensure_ascii=False, separators=(",", ":")).encode


def tolerance_for_zoom(zoom: int) -> float:
    """Return one screen pixel at `zoom`, in degrees (256 px tiles, Web Mercator at the equator)."""
    return 360.0 / (256 * 2**zoom)


def decimals_for_tolerance(tolerance: float) -> int:
    """Return the decimals that round coordinates to within half of `tolerance` (1 to 7)."""
    return min(7, max(1, math.ceil(-math.log10(tolerance / 2))))


def tier_for_zoom(zoom: int) -> int:
    """Return the stored zoom tier that serves `zoom`: the nearest at or above it (never coarser than asked)."""
    return next((tier for tier in ZOOM_TIERS if tier >= zoom), ZOOM_TIERS[-1])


def zoom_to_fit(bounds: tuple[float, float, float, float], pixels: tuple[int, int] = FIT_PIXELS) -> int:
    """Return the largest zoom at which `bounds` (west, south, east, north) fits in `pixels` (width, height)."""
    west, south, east, north = bounds
    width = max(east - west, 1e-9)
    # Web Mercator stretches latitude: compare the extent in projected units (radians of y) with the pixels.
    y = lambda lat: math.log(math.tan(math.pi / 4 + math.radians(max(min(lat, 85), -85)) / 2))  # noqa: E731
    height = max(y(north) - y(south), 1e-12)
    zoom_x = math.log2(pixels[0] * 360 / (256 * width))
    zoom_y = math.log2(pixels[1] * 2 * math.pi / (256 * height))
    return int(max(MIN_ZOOM, min(MAX_ZOOM, math.floor(min(zoom_x, zoom_y)))))


def _feature(feature_id: str, geometry: str, properties: dict) -> str:
    """Return a GeoJSON Feature as text, its geometry already GeoJSON text."""
    return f'{{"type":"Feature","id":{_json(feature_id)},"geometry":{geometry},"properties":{_json(properties)}}}'


def _grid_feature(code: str, name: str, community: str, geometry: str) -> str:
    """Return a grid's Feature as text, open at the end of its properties (see GridShape).

    Codes are digits (grids.services checks them), so only the name needs encoding: one call per grid, not two.
    """
    if not (code.isdigit() and community.isdigit()):
        return _feature(code, geometry, {"kind": "grid", "code": code, "name": name, "community": community})[:-2]
    return (
        f'{{"type":"Feature","id":"{code}","geometry":{geometry},"properties":{{"kind":"grid","code":"{code}",'
        f'"name":{_json(name)},"community":"{community}"'
    )


@dataclass(frozen=True)
class GridShape:
    """One grid as drawn: its code, name and community code, and its Feature as GeoJSON text.

    `feature` ends inside its properties (no closing braces), so that a caller appends its own members, then "}}".
    """

    code: str
    name: str
    community: str
    feature: str


@dataclass(frozen=True, eq=False)
class MapLayer:
    """What is drawn of the territory under one node at one zoom tier: its grids and the outlines of the nodes above
    them.

    `bounds` is (west, south, east, north) of the grids, None when none has a boundary; `outlines` are GeoJSON
    Feature texts (kind "community" or "street"); `grids` follow the code order. `grid_bounds` and `outline_bounds`
    hold each one's (west, south, east, north), row for row, to cut a view from the layer.
    """

    zoom: int
    bounds: tuple[float, float, float, float] | None
    grids: tuple[GridShape, ...]
    outlines: tuple[str, ...]
    without_boundary: int
    names: dict[str, str]  # the names of the communities and streets outlined, by code
    grid_bounds: np.ndarray = field(default_factory=lambda: np.empty((0, 4)))
    outline_bounds: np.ndarray = field(default_factory=lambda: np.empty((0, 4)))
    key: tuple = ()  # what it was built for: (node path, level, tier asked, state of its grids)

    @functools.cached_property
    def index(self) -> dict[str, GridShape]:
        """Return the grids by code (built once per kept layer)."""
        return {grid.code: grid for grid in self.grids}

    def in_view(self, bbox: tuple[float, float, float, float] | None) -> tuple[list[GridShape], list[str]]:
        """Return the grids and outlines whose bounds meet `bbox` (west, south, east, north); all of them for None."""
        if bbox is None:
            return list(self.grids), list(self.outlines)
        return (
            [self.grids[i] for i in np.flatnonzero(_meets(self.grid_bounds, bbox))],
            [self.outlines[i] for i in np.flatnonzero(_meets(self.outline_bounds, bbox))],
        )


def _meets(bounds: np.ndarray, bbox: tuple[float, float, float, float]) -> np.ndarray:
    """Return which rows of `bounds` (n × 4: west, south, east, north) meet `bbox` (edges touching count)."""
    if not len(bounds):
        return np.zeros(0, dtype=bool)
    west, south, east, north = bbox
    return (bounds[:, 0] <= east) & (bounds[:, 2] >= west) & (bounds[:, 1] <= north) & (bounds[:, 3] >= south)


# --- drawing: simplify once per tier, store -------------------------------------------------------------------------


def _geometries(texts: list[str | None]) -> np.ndarray:
    """Return the shapely geometries of GeoJSON texts; None where a text is absent, unreadable, not polygonal or
    invalid (as grids.routing, which does not route to those either)."""
    if not texts:
        return np.empty(0, dtype=object)
    geoms = shapely.from_geojson(np.array(texts, dtype=object), on_invalid="ignore")  # None where unreadable
    polygonal = np.isin(shapely.get_type_id(geoms), _POLYGONAL_TYPE_IDS) & ~shapely.is_empty(geoms)
    polygonal &= shapely.is_valid(geoms)
    geoms[~polygonal] = None
    return geoms


def _drawn(geoms: np.ndarray, *, tolerance: float, decimals: int) -> np.ndarray:
    """Return `geoms` simplified to `tolerance` and rounded to `decimals`, as GeoJSON texts (vectorised)."""
    simplified = shapely.simplify(geoms, tolerance, preserve_topology=True)
    rounded = shapely.set_precision(simplified, 10.0**-decimals, mode="pointwise")
    # RFC 7946: exterior rings counter-clockwise, holes clockwise (lines are left as they are).
    return shapely.to_geojson(shapely.orient_polygons(rounded, exterior_cw=False))


def _drawings(pks: list[int], geoms: np.ndarray, states: list[tuple[int, object]], shapes=None) -> list[MapDrawing]:
    """Return the drawings of `geoms` (None: nothing to draw) at every tier, each with the state it was drawn from."""
    present = np.array([g is not None for g in geoms], dtype=bool)
    tiers = {tier: np.full(len(pks), None, dtype=object) for tier in ZOOM_TIERS}
    bounds = np.full((len(pks), 4), np.nan)
    if present.any():
        for tier in ZOOM_TIERS:
            tolerance = tolerance_for_zoom(tier)
            tiers[tier][present] = _drawn(
                geoms[present], tolerance=tolerance, decimals=decimals_for_tolerance(tolerance)
            )
        bounds[present] = shapely.bounds(geoms[present])
    drawings = []
    for i, (pk, (grids, latest)) in enumerate(zip(pks, states, strict=True)):
        west, south, east, north = (float(x) if present[i] else None for x in bounds[i])
        drawings.append(
            MapDrawing(
                area_id=pk,
                grids=grids,
                latest=latest,
                west=west,
                south=south,
                east=east,
                north=north,
                shape=shapes[i] if shapes is not None and shapes[i] else "",
                **{f"zoom_{tier}": tiers[tier][i] for tier in ZOOM_TIERS},
            )
        )
    return drawings


def _store(drawings: list[MapDrawing]) -> None:
    """Write `drawings`, replacing what was stored for their areas."""
    fields = ["grids", "latest", "west", "south", "east", "north", "shape", *(f"zoom_{t}" for t in ZOOM_TIERS)]
    MapDrawing.objects.bulk_create(
        drawings, batch_size=_BATCH, update_conflicts=True, unique_fields=["area"], update_fields=fields
    )


def _draw_grids(pks: list[int]) -> dict[int, MapDrawing]:
    """Draw the grids `pks` from their boundaries and store the drawings; return them by grid pk. One read, one write
    per thousand.

    A grid's drawing at a tier is its whole Feature up to its properties' last member (see GridShape), so that a read
    only appends the counts: its name and community change with the grid's updated_at, which redraws it."""
    rows = list(
        Area.objects.filter(pk__in=pks).values_list(
            "pk", "code", "name", "path", "updated_at", Cast("boundary", TextField())
        )
    )
    geoms = _geometries([row[5] for row in rows])
    drawings = _drawings([row[0] for row in rows], geoms, [(1, row[4]) for row in rows])
    community_depth = Area.DEPTH[Area.Level.COMMUNITY]
    for (_, code, name, path, _, _), drawing in zip(rows, drawings, strict=True):
        community = path.split(PATH_SEPARATOR)[community_depth]
        for tier in ZOOM_TIERS:
            geometry = getattr(drawing, f"zoom_{tier}")
            if geometry is not None:
                setattr(drawing, f"zoom_{tier}", _grid_feature(code, name, community, geometry))
    _store(drawings)
    return {d.area_id: d for d in drawings}


def _draw_outlines(communities: dict[int, tuple], streets: dict[int, tuple]) -> dict[int, MapDrawing]:
    """Draw the outlines of `communities` and then `streets` ({pk: (grids, latest)}, the state drawn from) and store
    them: a community's from its grids' boundaries, a street's from its communities' stored areas."""
    drawn: dict[int, MapDrawing] = {}
    if communities:
        by_community: dict[int, list] = {pk: [] for pk in communities}
        rows = list(
            Area.objects.filter(parent_id__in=list(communities), level=Area.Level.GRID, boundary__isnull=False)
            .order_by()
            .values_list("parent_id", Cast("boundary", TextField()))
        )
        geoms = _geometries([row[1] for row in rows])
        for (parent, _), geom in zip(rows, geoms, strict=True):
            if geom is not None:
                by_community[parent].append(geom)
        drawn.update(_outline_drawings(by_community, communities))
    if streets:
        by_street: dict[int, list] = {pk: [] for pk in streets}
        shapes = (
            MapDrawing.objects.filter(area__parent_id__in=list(streets), area__level=Area.Level.COMMUNITY)
            .exclude(shape="")
            .values_list("area__parent_id", "shape")
        )
        for parent, shape in shapes:
            by_street[parent].append(shapely.from_geojson(shape))
        drawn.update(_outline_drawings(by_street, streets))
    return drawn


def _outline_drawings(members: dict[int, list], states: dict[int, tuple]) -> dict[int, MapDrawing]:
    """Union each node's `members` (disjoint_subset_union_all: grids that tile union about twice as fast as with a
    plain union, same result), store its outline at every tier and the union itself; return them by pk."""
    pks = list(members)
    unions = np.array(
        [shapely.disjoint_subset_union_all(members[pk]) if members[pk] else None for pk in pks], dtype=object
    )
    shapes = [shapely.to_geojson(u) if u is not None and not u.is_empty else "" for u in unions]
    lines = np.array(
        [shapely.boundary(u) if shape else None for u, shape in zip(unions, shapes, strict=True)], dtype=object
    )
    drawings = _drawings(pks, lines, [states[pk] for pk in pks], shapes=shapes)
    _store(drawings)
    return {d.area_id: d for d in drawings}


def _state(rows, depth: int) -> dict[str, tuple[int, object]]:
    """Return {code at `depth` of the path: (grids, latest change)} of grid rows (…, path, updated_at, …)."""
    states: dict[str, list] = {}
    for row in rows:
        code = row.path.split(PATH_SEPARATOR)[depth]
        state = states.setdefault(code, [0, None])
        state[0] += 1
        if state[1] is None or row.updated_at > state[1]:
            state[1] = row.updated_at
    return {code: (n, latest) for code, (n, latest) in states.items()}


@dataclass(slots=True)
class _GridRow:
    pk: int
    code: str
    name: str
    path: str
    updated_at: object
    no_boundary: bool
    drawn_grids: int | None
    drawn_latest: object
    bounds: tuple
    text: str | None


def _grid_rows(area: Area, tier: int | None) -> list[_GridRow]:
    """Return the grids under `area` in code order with their drawing's bounds and its text at `tier` (None: no
    text): one query."""
    rows = (
        Area.objects.under(area)
        .filter(level=Area.Level.GRID)
        .order_by("code")
        .values_list(
            "pk",
            "code",
            "name",
            "path",
            "updated_at",
            ExpressionWrapper(Q(boundary__isnull=True), output_field=BooleanField()),
            "drawing__grids",
            "drawing__latest",
            "drawing__west",
            "drawing__south",
            "drawing__east",
            "drawing__north",
            *([f"drawing__zoom_{tier}"] if tier is not None else []),
        )
    )
    return [_GridRow(*row[:8], bounds=row[8:12], text=row[12] if tier is not None else None) for row in rows]


def _stale(row, state) -> bool:
    return row.drawn_grids != state[0] or row.drawn_latest != state[1]


def _fresh_grid_rows(area: Area, tier: int | None) -> list[_GridRow]:
    """Return `_grid_rows`, first redrawing (and storing) the grids whose drawing is missing or stale."""
    rows = _grid_rows(area, tier)
    stale = [row for row in rows if not row.no_boundary and _stale(row, (1, row.updated_at))]
    if stale:
        redrawn = {}
        for start in range(0, len(stale), _BATCH):
            redrawn.update(_draw_grids([row.pk for row in stale[start : start + _BATCH]]))
        for row in stale:
            d = redrawn[row.pk]
            row.bounds, row.text = (d.west, d.south, d.east, d.north), getattr(d, f"zoom_{tier}", None)
    return rows


def _outline_rows(area: Area, rows: list[_GridRow], tier: int) -> tuple[list[tuple], dict[str, str]]:
    """Return the outlines under `area` as (kind, code, bounds, text) — communities, then streets, in code order —
    and the names of those nodes; redraw those whose grids changed. One query (two more per kind redrawn)."""
    depth = Area.DEPTH[area.level]
    community_depth, street_depth = Area.DEPTH[Area.Level.COMMUNITY], Area.DEPTH[Area.Level.STREET]
    if depth > community_depth or not rows:
        return [], {}
    states = {Area.Level.COMMUNITY: _state(rows, community_depth)}
    if depth <= street_depth:
        states[Area.Level.STREET] = _state(rows, street_depth)
    nodes = list(
        Area.objects.under(area)
        .filter(level__in=list(states))
        .order_by("code")
        .values_list(
            "pk",
            "code",
            "name",
            "level",
            "drawing__grids",
            "drawing__latest",
            "drawing__west",
            "drawing__south",
            "drawing__east",
            "drawing__north",
            f"drawing__zoom_{tier}",
        )
    )
    names = {code: name for _, code, name, level, *_ in nodes if code in states[level]}
    stale = {level: {} for level in states}
    for pk, code, _, level, grids, latest, *_ in nodes:
        state = states[level].get(code)
        if state is not None and (grids, latest) != state:
            stale[level][pk] = state
    redrawn = {}
    if any(stale.values()):
        redrawn = _draw_outlines(stale[Area.Level.COMMUNITY], stale.get(Area.Level.STREET, {}))
    outlines = []
    for level in states:  # communities first, then streets (they are drawn over them)
        for pk, code, _, node_level, *_, west, south, east, north, text in nodes:
            if node_level != level or code not in states[level]:
                continue
            if pk in redrawn:
                d = redrawn[pk]
                (west, south, east, north), text = (d.west, d.south, d.east, d.north), getattr(d, f"zoom_{tier}")
            if text is not None:
                outlines.append((level, code, (west, south, east, north), text))
    return outlines, names


def map_drawings_refresh(*, area: Area) -> None:
    """Draw and store what changed under `area`: its grids and the outlines of the communities and streets at or
    under it (grids.generation and grids.services call it after writing grids; reads redraw what is left stale)."""
    _outline_rows(area, _fresh_grid_rows(area, None), ZOOM_TIERS[0])


# --- the layer: assembled from stored drawings, kept per process ----------------------------------------------------


def _fitting_tier(area: Area) -> int | None:
    """Return the tier of the zoom that fits `area`, from its own stored outline (a district: its streets'), or None
    when it has none yet. One small query."""
    if area.level == Area.Level.DISTRICT:
        drawings = MapDrawing.objects.filter(area__parent=area, area__level=Area.Level.STREET)
    else:
        drawings = MapDrawing.objects.filter(area=area)
    b = drawings.aggregate(west=Min("west"), south=Min("south"), east=Max("east"), north=Max("north"))
    if b["west"] is None:
        return None
    return tier_for_zoom(zoom_to_fit((b["west"], b["south"], b["east"], b["north"])))


def _build(area: Area, tier: int | None, key: tuple) -> MapLayer:
    if tier is None:
        tier = _fitting_tier(area)
    rows = _fresh_grid_rows(area, tier)
    if tier is None:  # nothing drawn of the node yet: the tier that fits the bounds just read (drawn), then its texts
        drawn = np.array([row.bounds for row in rows if not row.no_boundary and row.bounds[0] is not None], dtype=float)
        fit = zoom_to_fit((*drawn[:, :2].min(axis=0), *drawn[:, 2:].max(axis=0))) if len(drawn) else MIN_ZOOM
        tier = tier_for_zoom(fit)
        texts = dict(
            Area.objects.under(area).filter(level=Area.Level.GRID).values_list("code", f"drawing__zoom_{tier}")
        )
        for row in rows:
            row.text = texts.get(row.code)
    grids, grid_bounds = [], []
    community_depth = Area.DEPTH[Area.Level.COMMUNITY]
    for row in rows:
        if row.no_boundary or row.text is None:
            continue
        community = row.path.split(PATH_SEPARATOR)[community_depth]
        grids.append(GridShape(code=row.code, name=row.name, community=community, feature=row.text))
        grid_bounds.append(row.bounds)
    outline_rows, names = _outline_rows(area, rows, tier)
    outlines = [
        _feature(f"{kind}-{code}", text, {"kind": str(kind), "code": code, "name": names.get(code, code)})
        for kind, code, _, text in outline_rows
    ]
    grid_array = np.array(grid_bounds, dtype=float).reshape(-1, 4)
    bounds = None
    if len(grid_array):
        west, south = grid_array[:, :2].min(axis=0)
        east, north = grid_array[:, 2:].max(axis=0)
        bounds = (float(west), float(south), float(east), float(north))
    return MapLayer(
        zoom=tier,
        bounds=bounds,
        grids=tuple(grids),
        outlines=tuple(outlines),
        without_boundary=len(rows) - len(grids),
        names=names,
        grid_bounds=grid_array,
        outline_bounds=np.array([b for _, _, b, _ in outline_rows], dtype=float).reshape(-1, 4),
        key=key,
    )


def map_layer_signature(area: Area) -> tuple:
    """Return what a layer of `area` depends on: the number of grids under it and their latest change (one query)."""
    row = Area.objects.under(area).filter(level=Area.Level.GRID).aggregate(n=Count("pk"), latest=Max("updated_at"))
    return row["n"], row["latest"]


def map_layer(*, area: Area, zoom: int | None = None) -> MapLayer:
    """Return the drawn territory under `area` at `zoom`'s tier (None: the zoom that fits it), rebuilt when its grids
    change.

    Queries: one for the signature when the layer is kept; on a rebuild, one for the grids' drawings and one for the
    outlines and names, plus one for the node's own bounds when no zoom is named (the zoom that fits it), and a few
    to redraw what is stale.
    """
    tier = tier_for_zoom(zoom) if zoom is not None else None
    key = (area.path, area.level, tier, map_layer_signature(area))
    with _lock:
        layer = _layers.get(key)
        if layer is not None:
            _layers.move_to_end(key)
            return layer
    layer = _build(area, tier, key)
    with _lock:
        _layers[key] = layer
        while len(_layers) > LAYERS_KEPT:
            _layers.popitem(last=False)
    return layer


def map_layers_forget() -> None:
    """Drop every kept layer (tests; a layer also goes stale by itself when its grids change)."""
    with _lock:
        _layers.clear()
