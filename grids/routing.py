"""Route a point to the grid whose boundary contains it, through an in-memory STRtree of every grid boundary.

Rules:
- A point on a boundary counts as inside (boundary-inclusive, "covers"), so a point on the outer edge of a
  tiling still routes.
- A point on an edge or vertex shared by several grids goes to the grid with the lowest code: the tree holds
  the grids in code order and the first hit wins, so the answer never depends on the order of rows in the database.
- GeoJSON coordinates are [lng, lat]; grids without a boundary, or with one that is not a valid (Multi)Polygon,
  are not routed to.

The index is built once per process, on first use, and rebuilt when grids change: at once in this process (a
save or delete of a grid bumps a version; bulk writers call `routing_invalidate()`), and within
`GRIDDESK_ROUTING_CHECK_SECONDS` for changes made by other processes (a cheap (count, max(updated_at)) query
over the grids).
"""

import logging
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import shapely
from django.conf import settings
from django.db.models.base import ModelState
from django.db.models.signals import post_delete, post_save
from django.dispatch import receiver

from config.snapshots import TableSnapshot
from grids.models import Area

logger = logging.getLogger(__name__)

_ROUTABLE_TYPES = {"Polygon", "MultiPolygon"}


@dataclass(frozen=True)
class _Index:
    """An immutable snapshot: the tree, and the grids in the same (code) order as its geometries."""

    tree: shapely.STRtree | None
    grids: tuple[Area, ...]


def _geometry(area: Area):
    """Return the shapely geometry of a grid's GeoJSON boundary, or None when it cannot be routed to."""
    boundary = area.boundary
    if not isinstance(boundary, dict) or boundary.get("type") not in _ROUTABLE_TYPES:
        return None
    try:
        geom = shapely.geometry.shape(boundary)
    except (ValueError, TypeError, IndexError, KeyError, AttributeError):
        logger.warning("grid %s: boundary is not valid GeoJSON; not routed to", area.code)
        return None
    if geom.is_empty or not geom.is_valid:
        logger.warning(
            "grid %s: boundary is empty or invalid (%s); not routed to", area.code, shapely.is_valid_reason(geom)
        )
        return None
    return geom


def _build() -> _Index:
    grids, geoms = [], []
    # Code order makes "first hit" mean "lowest code" (the shared-edge rule).
    for area in Area.objects.filter(level=Area.Level.GRID, boundary__isnull=False).order_by("code"):
        geom = _geometry(area)
        if geom is not None:
            grids.append(area)
            geoms.append(geom)
    shapely.prepare(geoms)
    tree = shapely.STRtree(geoms) if geoms else None
    logger.info("routing index built: %d grids with a boundary", len(grids))
    return _Index(tree=tree, grids=tuple(grids))


_snapshot = TableSnapshot(
    rows=lambda: Area.objects.filter(level=Area.Level.GRID),
    build=_build,
    check_seconds=lambda: settings.GRIDDESK_ROUTING_CHECK_SECONDS,
)


def _current_index() -> _Index:
    """Return a fresh enough index, rebuilding it when this or another process changed the grids."""
    return _snapshot.get()


def routing_invalidate() -> None:
    """Drop the routing index; the next lookup rebuilds it (call after bulk writes to grid boundaries)."""
    _snapshot.invalidate()


def _detached(area: Area) -> Area:
    # copy.copy(area), minus its generic pickling path: a lookup should cost the tree query, not the copy.
    new = Area.__new__(Area)
    new.__dict__.update(area.__dict__)
    new._state = ModelState()
    new._state.adding, new._state.db = False, area._state.db
    return new


def locate_grid(*, lat: float, lng: float) -> Area | None:
    """Return the grid whose boundary covers the point (lowest code on a shared edge), or None.

    The returned Area is a shallow copy: changing its fields does not change the index (don't mutate its
    `boundary` dict in place).
    """
    index = _current_index()
    if index.tree is None:
        return None
    hits = index.tree.query(shapely.Point(lng, lat), predicate="intersects")
    n = len(hits)
    if n == 0:
        return None
    # One hit is the rule; several only on a shared edge or vertex, where the lowest code (position) wins.
    return _detached(index.grids[hits[0] if n == 1 else hits.min()])


def locate_grids(*, points: Sequence[tuple[float, float]]) -> list[Area | None]:
    """Return, for each (lat, lng) in `points`, what locate_grid would: one vectorised tree query for them all."""
    index = _current_index()
    if index.tree is None or not len(points):
        return [None] * len(points)
    coords = np.asarray(points, dtype=float).reshape(-1, 2)[:, ::-1]  # GeoJSON order: lng, lat
    point_idx, grid_idx = index.tree.query(shapely.points(coords), predicate="intersects")
    first = np.full(len(coords), len(index.grids))
    np.minimum.at(first, point_idx, grid_idx)  # lowest code wins on shared edges
    return [_detached(index.grids[i]) if i < len(index.grids) else None for i in first.tolist()]


def grid_for_building(building: Area) -> Area:
    """Return the grid a building belongs to (its parent); a grid is its own grid."""
    if building.level == Area.Level.GRID:
        return building
    if building.level != Area.Level.BUILDING:
        raise ValueError(f"{building.code} is a {building.level}, not a building")
    return building.parent


@receiver(post_save, sender=Area, dispatch_uid="grids.routing.area_saved")
@receiver(post_delete, sender=Area, dispatch_uid="grids.routing.area_deleted")
def _grid_changed(sender, instance: Area, **kwargs) -> None:
    # Cache invalidation only (no business rule): the next lookup sees the change in this process.
    if instance.level == Area.Level.GRID:
        routing_invalidate()
