"""The territory drawn on a map: grid boundaries and the community and street outlines under a node, as GeoJSON.

Rules:
- Geometry is simplified to the map's zoom: the tolerance is one screen pixel at that zoom (Web Mercator, 256 px
  tiles, taken at the equator so it errs on the side of detail), and coordinates are rounded to the decimals that
  still resolve it. A whole street of 10,000 grids then costs what its pixels can show, not what the import held.
- Outlines are derived, not stored: a community's is the union of its grids' boundaries, a street's the union of its
  communities'. Only nodes at or under the drawn node get one (a community's staff never see their street's extent).
- What is drawn depends only on the grids under the node: a layer is built once per (node, zoom, state of those
  grids) and kept in this process, so the counts a caller adds per request are the only per-request work.

This module knows the territory only; the issue counts and who may see which node are the caller's business
(issues/map_selectors.py, behind orgs.scoping).
"""

import json
import math
import threading
from collections import OrderedDict
from dataclasses import dataclass

import numpy as np
import shapely
from django.db.models import Count, Max, TextField
from django.db.models.functions import Cast

from grids.models import PATH_SEPARATOR, Area

MIN_ZOOM, MAX_ZOOM = 3, 19
# The map the page draws into (about 600 × 620 px on a 1280 px desk page): the zoom chosen when the caller names
# none fits the node in it.
FIT_PIXELS = (600, 600)
# Layers kept per process: a handful of nodes at a few zooms each.
LAYERS_KEPT = 24
_layers: "OrderedDict[tuple, MapLayer]" = OrderedDict()
_kept_unions: "OrderedDict[tuple, tuple]" = OrderedDict()
_lock = threading.Lock()
_POLYGONAL_TYPE_IDS = [3, 6]  # Polygon, MultiPolygon (shapely.GeometryType)
# One encoder for the many small objects written (json.dumps with options builds a new one per call).
_json = json.JSONEncoder(ensure_ascii=False, separators=(",", ":")).encode


def tolerance_for_zoom(zoom: int) -> float:
    """Return one screen pixel at `zoom`, in degrees (256 px tiles, Web Mercator at the equator)."""
    return 360.0 / (256 * 2**zoom)


def decimals_for_tolerance(tolerance: float) -> int:
    """Return the decimals that round coordinates to within half of `tolerance` (1 to 7)."""
    return min(7, max(1, math.ceil(-math.log10(tolerance / 2))))


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


@dataclass(frozen=True)
class GridShape:
    """One grid as drawn: its code, name and community code, and its Feature as GeoJSON text.

    `feature` ends inside its properties (no closing braces), so that a caller appends its own members, then "}}".
    """

    code: str
    name: str
    community: str
    feature: str


@dataclass(frozen=True)
class MapLayer:
    """What is drawn of the territory under one node at one zoom: its grids and the outlines of the nodes above them.

    `bounds` is (west, south, east, north) of the grids, None when none has a boundary; `outlines` are GeoJSON
    Feature texts (kind "community" or "street"); `grids` follow the code order.
    """

    zoom: int
    bounds: tuple[float, float, float, float] | None
    grids: tuple[GridShape, ...]
    outlines: tuple[str, ...]
    without_boundary: int
    names: dict[str, str]  # the names of the communities and streets outlined, by code


def _grid_rows(area: Area):
    """Return the grids under `area` (code, name, path, boundary as JSON text) in code order: one query."""
    return (
        Area.objects.under(area)
        .filter(level=Area.Level.GRID)
        .order_by("code")
        .values_list("code", "name", "path", Cast("boundary", TextField()))
    )


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


def _union(geoms: list):
    """Return the union of `geoms` (a community's grids, a street's communities).

    disjoint_subset_union_all first unions the subsets that touch one another, which grids that tile are; it is about
    twice as fast as a plain union here and gives the same result (shapely ≥ 2.1).
    """
    return shapely.disjoint_subset_union_all(geoms)


def _outline_features(
    unions: dict[str, object], *, kind: str, names: dict[str, str], tolerance: float, decimals: int
) -> list[str]:
    """Return the outline Features of `unions` ({node code: its area}) drawn at `tolerance`."""
    codes = list(unions)
    if not codes:
        return []
    lines = shapely.boundary(np.array([unions[c] for c in codes], dtype=object))
    texts = _drawn(lines, tolerance=tolerance, decimals=decimals)
    return [
        _feature(f"{kind}-{code}", text, {"kind": kind, "code": code, "name": names.get(code, code)})
        for code, text in zip(codes, texts, strict=True)
    ]


def _unions(key: tuple, by_community: dict[str, list], street_of: dict[str, str], *, streets: bool) -> tuple:
    """Return ({community: union of its grids}, {street: union of its communities}), kept per `key` (a node and the
    state of its grids): the unions are most of a layer's cost and do not depend on the zoom."""
    with _lock:
        kept = _kept_unions.get(key)
    if kept is not None:
        return kept
    communities = {code: _union(members) for code, members in by_community.items() if members}
    by_street: dict[str, list] = {}
    if streets:
        for community, union in communities.items():
            by_street.setdefault(street_of[community], []).append(union)
    kept = (communities, {code: _union(members) for code, members in by_street.items()})
    with _lock:
        _kept_unions[key] = kept
        while len(_kept_unions) > LAYERS_KEPT:
            _kept_unions.popitem(last=False)
    return kept


def _build(area: Area, zoom: int | None, signature: tuple) -> MapLayer:
    rows = list(_grid_rows(area))
    geoms = _geometries([row[3] for row in rows])
    present = np.array([g is not None for g in geoms], dtype=bool)
    bounds = None
    if present.any():
        b = shapely.total_bounds(geoms[present])
        bounds = (float(b[0]), float(b[1]), float(b[2]), float(b[3]))
    if zoom is None:
        zoom = zoom_to_fit(bounds) if bounds else MIN_ZOOM
    tolerance = tolerance_for_zoom(zoom)
    decimals = decimals_for_tolerance(tolerance)
    texts = np.full(len(rows), None, dtype=object)
    if present.any():
        texts[present] = _drawn(geoms[present], tolerance=tolerance, decimals=decimals)

    depth = Area.DEPTH[area.level]
    community_depth, street_depth = Area.DEPTH[Area.Level.COMMUNITY], Area.DEPTH[Area.Level.STREET]
    grids, by_community, street_of = [], {}, {}
    for (code, name, path, _), geom, text in zip(rows, geoms, texts, strict=True):
        codes = path.split(PATH_SEPARATOR)
        community = codes[community_depth]
        if text is not None:
            properties = {"kind": "grid", "code": code, "name": name, "community": community}
            feature = _feature(code, text, properties)[:-2]
            grids.append(GridShape(code=code, name=name, community=community, feature=feature))
            by_community.setdefault(community, []).append(geom)
        street_of[community] = codes[street_depth]

    outlines: list[str] = []
    names: dict[str, str] = {}
    if depth <= community_depth and by_community:
        names = dict(
            Area.objects.filter(code__in=[*by_community, *set(street_of.values())]).values_list("code", "name")
        )
        communities, streets = _unions((area.path, signature), by_community, street_of, streets=depth <= street_depth)
        drawn = {"names": names, "tolerance": tolerance, "decimals": decimals}
        outlines += _outline_features(communities, kind="community", **drawn)
        outlines += _outline_features(streets, kind="street", **drawn)
    return MapLayer(
        zoom=zoom,
        bounds=bounds,
        grids=tuple(grids),
        outlines=tuple(outlines),
        without_boundary=int(len(rows) - present.sum()),
        names=names,
    )


def map_layer_signature(area: Area) -> tuple:
    """Return what a layer of `area` depends on: the number of grids under it and their latest change (one query)."""
    row = Area.objects.under(area).filter(level=Area.Level.GRID).aggregate(n=Count("pk"), latest=Max("updated_at"))
    return row["n"], row["latest"]


def map_layer(*, area: Area, zoom: int | None = None) -> MapLayer:
    """Return the drawn territory under `area` at `zoom` (None: the zoom that fits it), rebuilt when its grids change.

    Queries: one for the signature when the layer is kept; on a rebuild, one for the grids and one for the names of
    the communities and streets outlined.
    """
    signature = map_layer_signature(area)
    key = (area.path, area.level, zoom, signature)
    with _lock:
        layer = _layers.get(key)
        if layer is not None:
            _layers.move_to_end(key)
            return layer
    layer = _build(area, zoom, signature)
    with _lock:
        _layers[key] = layer
        while len(_layers) > LAYERS_KEPT:
            _layers.popitem(last=False)
    return layer


def map_layers_forget() -> None:
    """Drop every kept layer (tests; a layer also goes stale by itself when its grids change)."""
    with _lock:
        _layers.clear()
        _kept_unions.clear()
