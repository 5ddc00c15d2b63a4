"""Reads of issues: scoped lists and details, likely duplicates, statistics.

Every read starts from `Issue.objects.visible_to(user)` (orgs.scoping), so nothing here decides who sees what.
"""

import math
import uuid
from datetime import datetime, timedelta

from django.conf import settings
from django.db.models import F, FloatField, Prefetch, Q, QuerySet, Value
from django.db.models.functions import ASin, Coalesce, Cos, Power, Radians, Sin, Sqrt
from django.utils import timezone

from config.errors import NotFound
from issues.models import Dispatch, Event, Issue
from issues.stats import issue_stats  # noqa: F401  (statistics are a read too: exposed here)

# Mean Earth radius (IUGG), metres: haversine distances are within 0.5 % of the geodesic at this scale.
EARTH_RADIUS_M = 6_371_008.8


def issue_list_for_user(*, user) -> QuerySet[Issue]:
    """Return the issues `user` may see, with what the serializers read loaded in a constant number of queries.

    Dispatches (all rounds, with their department), photos and ratings are prefetched: filter them in Python
    (`[d for d in issue.dispatches.all() if d.active]`), not with `.filter()`, which would query per issue.
    Only the category is joined, because the representation reads nothing else of the issue's relations: each
    further join (grid, building, reporter, duplicate) made PostgreSQL plan a 7-table query on every page, which
    cost ten times its execution (bench/RESULTS.md "api"). A caller that shows more joins it itself.
    """
    return (
        Issue.objects.visible_to(user)
        .select_related("category")
        .prefetch_related(
            Prefetch("dispatches", queryset=Dispatch.objects.select_related("department")),
            "photos",
            "ratings",
        )
    )


def issue_get_for_user(*, user, issue_id) -> Issue:
    """Return the issue `issue_id` if `user` may see it, with its events; else raise NotFound (the same answer)."""
    try:
        pk = issue_id if isinstance(issue_id, uuid.UUID) else uuid.UUID(str(issue_id))
    except ValueError:
        raise NotFound() from None
    issue = (
        issue_list_for_user(user=user)
        .prefetch_related(Prefetch("events", queryset=Event.objects.select_related("actor")))
        .filter(pk=pk)
        .first()
    )
    if issue is None:
        raise NotFound()
    return issue


def _point_of(issue: Issue) -> tuple[float, float] | None:
    """Return the issue's coordinates, or its building's, or None."""
    if issue.lat is not None and issue.lng is not None:
        return issue.lat, issue.lng
    building = issue.building
    if building is not None and building.lat is not None and building.lng is not None:
        return building.lat, building.lng
    return None


def _haversine_m(lat_field: str, lng_field: str, lat: float, lng: float):
    """Return the SQL expression of the great-circle distance in metres from (`lat`, `lng`)."""
    half_dlat = (Radians(F(lat_field)) - Value(math.radians(lat))) / 2
    half_dlng = (Radians(F(lng_field)) - Value(math.radians(lng))) / 2
    a = Power(Sin(half_dlat), 2) + Value(math.cos(math.radians(lat))) * Cos(Radians(F(lat_field))) * Power(
        Sin(half_dlng), 2
    )
    return Value(2 * EARTH_RADIUS_M) * ASin(Sqrt(a))


def _likely_duplicates(base: QuerySet[Issue], *, issue: Issue, now: datetime | None) -> QuerySet[Issue]:
    point = _point_of(issue)
    if point is None:
        return base.none()
    lat, lng = point
    radius = settings.GRIDDESK_DUPLICATE_RADIUS_M
    now = now or timezone.now()
    # Degrees spanned by the radius; longitude degrees shrink with latitude (guarded near the poles).
    dlat = math.degrees(radius / EARTH_RADIUS_M)
    dlng = dlat / max(math.cos(math.radians(lat)), 0.01)
    in_box = {"lat__range": (lat - dlat, lat + dlat), "lng__range": (lng - dlng, lng + dlng)}
    building_in_box = {f"building__{k}": v for k, v in in_box.items()}
    candidates = base.filter(
        status__in=Issue.OPEN_STATUSES,
        created_at__gte=now - timedelta(days=settings.GRIDDESK_DUPLICATE_WINDOW_DAYS),
    ).exclude(pk=issue.pk)
    if issue.category_id is not None:
        candidates = candidates.filter(category_id=issue.category_id)
    return (
        candidates.filter(Q(**in_box) | Q(lat__isnull=True, **building_in_box))
        .annotate(
            point_lat=Coalesce("lat", "building__lat", output_field=FloatField()),
            point_lng=Coalesce("lng", "building__lng", output_field=FloatField()),
        )
        .annotate(distance_m=_haversine_m("point_lat", "point_lng", lat, lng))
        .filter(distance_m__lte=radius)
        .select_related("category", "grid", "building")
        .order_by("distance_m", "-created_at")
    )


def issue_likely_duplicates(*, issue: Issue, now: datetime | None = None) -> QuerySet[Issue]:
    """Return open issues near `issue` that may report the same thing, nearest first (DESIGN.md "Duplicates").

    Candidates: open (submitted … in progress), of the same category (any category while `issue` is not yet
    classified: triage looks for duplicates before classifying), submitted in the last
    GRIDDESK_DUPLICATE_WINDOW_DAYS days before `now`, within GRIDDESK_DUPLICATE_RADIUS_M metres of `issue` (an
    issue without coordinates stands at its building's point; one with neither has no candidates), `issue`
    itself excluded. Each row carries `distance_m`. A latitude/longitude box narrows the rows in SQL before the
    exact (haversine) distance, also computed in SQL so that the ordering and the radius apply there.
    """
    return _likely_duplicates(Issue.objects.all(), issue=issue, now=now)


def issue_likely_duplicates_for_user(*, user, issue: Issue, now: datetime | None = None) -> QuerySet[Issue]:
    """Return the likely duplicates of `issue` that `user` may see (triage rejects only against what it sees)."""
    return _likely_duplicates(issue_list_for_user(user=user), issue=issue, now=now)
