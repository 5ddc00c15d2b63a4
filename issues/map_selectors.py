"""Reads of the map (/map/ and /api/v1/map/): open and overdue counts per grid and the open issues as points.

Every read starts from `Issue.objects.visible_to(user)` (orgs.scoping) narrowed to a node the caller reached through
the scoped `get_area` (issues.access), so nothing here decides who sees what. The territory drawn (boundaries,
outlines) is grids.maps'; this module adds what issues say about it and writes the GeoJSON.

Privacy: staff in scope may see where an issue is exactly, so points keep the issue's own coordinates (or its
building's); nothing of the reporter (name, phone, account, address) and no free text (title, description, notes)
is ever written: a point says its number, status, whether it is overdue, its category and its grid.

Views: a `bbox` (west, south, east, north) narrows the grids, outlines and points written to those that meet it, so a
map zoomed in loads what it shows; the totals and the hot spots always cover the whole node.

Hot spots (triage.models.HotSpot): an open alert is on the map when the caller sees one of its issues, the same rule
as the escalation desk's (triage.hotspots.hotspots_open_for), read here in one query for the node.
"""

import json
from typing import NamedTuple

from django.db.models import BooleanField, Count, Exists, ExpressionWrapper, OuterRef
from django.db.models.functions import Coalesce
from django.urls import reverse
from django.utils import timezone

from grids.maps import MapLayer
from grids.models import Area, subtree_q
from issues.models import Issue
from issues.sla import overdue_q
from triage.models import HotSpot

# Points written for one node at most (newest first); past it the collection says `truncated` and the counts per
# grid, which are never cut, still cover every open issue.
POINTS_MAX = 5000
# Exact for staff in scope: about 0.1 m.
POINT_DECIMALS = 6
_json = json.JSONEncoder(ensure_ascii=False, separators=(",", ":")).encode


class GridCounts(NamedTuple):
    open: int = 0
    overdue: int = 0


def map_grid_counts_for_user(*, user, area: Area, now=None) -> dict[str, GridCounts]:
    """Return {grid code: counts} of the open issues `user` sees under `area`: one aggregate query, not one per grid."""
    rows = (
        Issue.objects.visible_to(user)
        .under(area)
        .filter(status__in=Issue.OPEN_STATUSES)
        .values("grid_code")
        .annotate(open=Count("pk"), overdue=Count("pk", filter=overdue_q(now=now or timezone.now())))
        .order_by()
        .values_list("grid_code", "open", "overdue")  # tuples: a street's 10,000 rows read in a third of the time
    )
    return {code: GridCounts(n_open, n_overdue) for code, n_open, n_overdue in rows}


def map_hotspots_for_user(*, user, area: Area) -> list[dict]:
    """Return the open hot spots under `area` with an issue `user` sees, newest burst first: {id, grid, grid_name,
    category, observed, expected}. One query, driven by the few open alerts of the node (not by its many issues)."""
    seen = HotSpot.issues.through.objects.filter(
        hotspot_id=OuterRef("pk"), issue__in=Issue.objects.visible_to(user).under(area)
    )
    rows = (
        HotSpot.objects.filter(subtree_q("area__path", area.path), status=HotSpot.Status.OPEN)
        .filter(Exists(seen))
        .order_by("-last_at", "-pk")
        .values_list("pk", "grid_code", "area__name", "category__name", "observed", "expected")
    )
    return [
        {
            "id": pk,
            "grid": grid,
            "grid_name": grid_name,
            "category": category,
            "observed": observed,
            "expected": round(expected, 1),
        }
        for pk, grid, grid_name, category, observed, expected in rows
    ]


def map_grids_geojson(
    *,
    layer: MapLayer,
    counts: dict[str, GridCounts],
    bbox: tuple[float, float, float, float] | None = None,
    hotspots: list[dict] = (),
    hotspot_url: str | None = None,
) -> str:
    """Return the GeoJSON FeatureCollection of `layer`'s grids in `bbox` (None: all) with their counts, then its
    outlines.

    Foreign members: `zoom` (the geometry's zoom), `bbox` (RFC 7946, the node's grids, whatever the view),
    `totals` (open and overdue under the node), `without_boundary` (grids under the node that have no boundary to
    draw; their issues are still counted) and `hotspots` (the open alerts under the node, each with the page that
    handles it, `url`, or null when the caller has no such page).
    """
    empty = GridCounts()
    grids, outlines = layer.in_view(bbox)
    features = []
    for grid in grids:
        c = counts.get(grid.code, empty)
        features.append(f'{grid.feature},"open":{c.open},"overdue":{c.overdue}}}}}')
    features += outlines
    totals = {"open": sum(c.open for c in counts.values()), "overdue": sum(c.overdue for c in counts.values())}
    head = {
        "type": "FeatureCollection",
        "zoom": layer.zoom,
        "totals": totals,
        "without_boundary": layer.without_boundary,
        "hotspots": [
            {**spot, "url": f"{hotspot_url}#hotspot-{spot['id']}" if hotspot_url else None} for spot in hotspots
        ],
    }
    if layer.bounds is not None:
        head["bbox"] = list(layer.bounds)
    return _json(head)[:-1] + ',"features":[' + ",".join(features) + "]}"


def map_issue_points_for_user(
    *, user, area: Area, bbox: tuple[float, float, float, float] | None = None, now=None
) -> tuple[list[dict], bool]:
    """Return the open issues `user` sees under `area` (and in `bbox`, if given), newest first, at most POINTS_MAX,
    and whether more exist.

    Each is {number, status, overdue, category, grid, lat, lng}: its own coordinates, else its building's, else
    None (it is listed with its grid but not drawn; a view leaves it out). One query.
    """
    now = now or timezone.now()
    points = (
        Issue.objects.visible_to(user)
        .under(area)
        .filter(status__in=Issue.OPEN_STATUSES)
        .annotate(
            point_lat=Coalesce("lat", "building__lat"),
            point_lng=Coalesce("lng", "building__lng"),
            is_overdue=ExpressionWrapper(overdue_q(now=now), output_field=BooleanField()),
        )
    )
    if bbox is not None:
        west, south, east, north = bbox
        points = points.filter(point_lng__gte=west, point_lng__lte=east, point_lat__gte=south, point_lat__lte=north)
    rows = list(
        points.order_by("-created_at", "-id").values(
            "number", "status", "is_overdue", "category__name", "grid_code", "point_lat", "point_lng"
        )[: POINTS_MAX + 1]
    )
    return rows[:POINTS_MAX], len(rows) > POINTS_MAX


def map_issues_geojson(*, rows: list[dict], truncated: bool) -> str:
    """Return the GeoJSON FeatureCollection of issue points (geometry null for an issue with no place to draw)."""
    # Once per answer, not per point: a street's 5,000 reverse() and label lookups cost more than the query.
    page = reverse("issue-detail", args=["0"]).removesuffix("0/")
    labels = {status: str(label) for status, label in Issue.Status.choices}
    features = []
    for row in rows:
        lat, lng = row["point_lat"], row["point_lng"]
        geometry = (
            {"type": "Point", "coordinates": [round(lng, POINT_DECIMALS), round(lat, POINT_DECIMALS)]}
            if lat is not None and lng is not None
            else None
        )
        number = row["number"]
        features.append(
            {
                "type": "Feature",
                "id": number,
                "geometry": geometry,
                "properties": {
                    "kind": "issue",
                    "number": number,
                    "status": row["status"],
                    "status_label": labels[row["status"]],
                    "overdue": bool(row["is_overdue"]),
                    "category": row["category__name"],
                    "grid": row["grid_code"],
                    "url": f"{page}{number}/",
                },
            }
        )
    return _json({"type": "FeatureCollection", "truncated": truncated, "features": features})
