"""What the public may read of an issue: the one rule behind the public board, Open311's keyless list and area alerts.

An issue is public when staff have seen it (classified or later, not rejected), it is not a report (举报: the person
reported on and the reporter both need protecting) and staff did not mark it private (issues.workflow.
issue_set_privacy). Of a public issue the public reads: its number, kind, category, status and dates; its place only
as its grid (the grid's name, the grid's centroid for coordinates), never the address nor the building; its text and
the public resolution note with every phone number masked (issues.personal_data.mask_phones); never the reporter.
"""

from django.db.models import Q

from grids.models import Area
from issues.models import Issue, Kind
from issues.personal_data import mask_phones

S = Issue.Status
# Seen by staff: classified or later on the lifecycle. A rejected issue was seen, and judged not to be one.
PUBLIC_STATUSES = (S.CLASSIFIED, S.DISPATCHED, S.IN_PROGRESS, S.RESOLVED, S.CLOSED)
RESOLVED_STATUSES = (S.RESOLVED, S.CLOSED)


def public_issue_q() -> Q:
    """Return the filter for public issues (the module docstring's rule); is_public says the same of one issue."""
    return Q(status__in=PUBLIC_STATUSES, private=False) & ~Q(kind=Kind.REPORT)


def is_public(issue: Issue) -> bool:
    """Return whether `issue` is public, as public_issue_q filters (for one issue in hand, e.g. at an event)."""
    return issue.status in PUBLIC_STATUSES and not issue.private and issue.kind != Kind.REPORT


def public_issue_list(*, area: Area | None = None):
    """Return the public issues (at or under `area`), with what public_issue_data reads."""
    issues = Issue.objects.filter(public_issue_q()).select_related("category", "grid")
    return issues.under(area) if area is not None else issues


def public_text(text: str) -> str:
    """Return free text as the public may read it: every phone number masked, in any spelling."""
    return mask_phones(text or "")


def grid_centroid(grid: Area | None) -> tuple[float | None, float | None]:
    """Return (lat, lng) of the centroid of the grid's boundary (its outer ring), or (None, None) without one.

    The public reads an issue's place only this coarsely: every issue of a grid shares one point.
    """
    ring = _outer_ring(grid.boundary if grid is not None else None)
    if len(ring) < 3:
        return None, None
    area = cx = cy = 0.0
    for (x0, y0), (x1, y1) in zip(ring, ring[1:] + ring[:1], strict=True):
        cross = x0 * y1 - x1 * y0
        area += cross
        cx += (x0 + x1) * cross
        cy += (y0 + y1) * cross
    if abs(area) < 1e-15:  # degenerate: the vertices' mean
        xs, ys = zip(*ring, strict=True)
        return round(sum(ys) / len(ys), 6), round(sum(xs) / len(xs), 6)
    return round(cy / (3 * area), 6), round(cx / (3 * area), 6)


def _outer_ring(boundary) -> list[tuple[float, float]]:
    """Return the outer ring of a GeoJSON Polygon (or a MultiPolygon's first), without the closing vertex."""
    if not isinstance(boundary, dict):
        return []
    coordinates = boundary.get("coordinates") or []
    if boundary.get("type") == "MultiPolygon":
        coordinates = coordinates[0] if coordinates else []
    try:
        ring = [(float(p[0]), float(p[1])) for p in (coordinates[0] if coordinates else [])]
    except (TypeError, ValueError, IndexError):
        return []
    if len(ring) > 1 and ring[0] == ring[-1]:
        ring = ring[:-1]
    return ring


def public_summary(issue: Issue) -> str:
    """Return the issue's title, or the start of its description, as the public may read it."""
    return public_text(issue.title or issue.description[:80])


def public_issue_data(issue: Issue, *, resolution_note: str = "") -> dict:
    """Return what the public reads of a public issue (the module docstring); `issue` needs category and grid."""
    lat, lng = grid_centroid(issue.grid)
    return {
        "number": issue.number,
        "kind": issue.kind,
        "category": issue.category.name if issue.category_id else "",
        "status": issue.status,
        "summary": public_summary(issue),
        "description": public_text(issue.description),
        "grid": issue.grid.name,
        "lat": lat,
        "lng": lng,
        "created_at": issue.created_at,
        "resolved_at": issue.resolved_at,
        "resolution_note": public_text(resolution_note),
    }
