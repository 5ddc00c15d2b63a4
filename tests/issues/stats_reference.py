"""The live implementation of issue_stats before rollups (issues.stats at 62fda0e), kept as the reference that the
rollup-backed issue_stats must match exactly (tests/issues/test_stats_rollup.py). Counts over issues, events and
ratings at every call; do not use outside tests.
"""

from datetime import date, datetime, time, timedelta

from django.db.models import Count, Exists, F, OuterRef, Q
from django.utils import timezone

from grids.models import Area, subtree_q
from issues.models import Event, Issue, Rating
from issues.sla import LOCAL_TZ, overdue_q

S = Issue.Status
STATUSES = list(S.values)
CHANNELS = list(Issue.Channel.values)
RESOLVED_STATUSES = (S.RESOLVED, S.CLOSED)
# The denormalised code column of each level's children on Issue (DESIGN.md: "everything under X" in one query).
CHILD_CODE_COLUMN = {
    Area.Level.DISTRICT: "street_code",
    Area.Level.STREET: "community_code",
    Area.Level.COMMUNITY: "grid_code",
    Area.Level.GRID: "building_code",
}
ISSUE_COUNTS = ["dispatched", "responded_on_time", "accepted", "resolved", "due", "resolved_on_time"]
RATING_COUNTS = ["ratings", "satisfied"]
# Every raw count a row may carry; a group's figures are computed from these alone.
COUNT_KEYS = ["total", *(f"status_{s}" for s in STATUSES), "overdue", "escalated", *ISSUE_COUNTS, *RATING_COUNTS]


def _population(*, area: Area, date_from: date | None, date_to: date | None, prefix: str = "") -> Q:
    """Return the filter for issues under `area` created from `date_from` 00:00 to the end of `date_to`, local time.

    `prefix` ("issue__") applies it to the rows of another model through their issue: ratings are counted through
    one join, not through a subquery that reads the issues a second time.
    """
    q = subtree_q(f"{prefix}area_path", area.path)
    if date_from is not None:
        q &= Q(**{f"{prefix}created_at__gte": datetime.combine(date_from, time.min, LOCAL_TZ)})
    if date_to is not None:
        q &= Q(**{f"{prefix}created_at__lt": datetime.combine(date_to + timedelta(days=1), time.min, LOCAL_TZ)})
    return q


def _issue_aggregates(now: datetime) -> dict:
    """Return the conditional counts over issues (see the module docstring for each definition)."""
    resolved = Q(status__in=RESOLVED_STATUSES)
    lead_accepted_in_time = Exists(
        Event.objects.filter(
            issue_id=OuterRef("pk"),
            action=Event.Action.ACCEPT,
            from_status=S.DISPATCHED,
            to_status=S.IN_PROGRESS,
            at__lte=OuterRef("response_due_at"),
        )
    )
    dispatched = Q(dispatched_at__isnull=False)
    accepted = Q(accepted_at__isnull=False)
    has_deadline = Q(resolution_due_at__isnull=False)
    return {
        "total": Count("pk"),
        **{f"status_{status}": Count("pk", filter=Q(status=status)) for status in STATUSES},
        "dispatched": Count("pk", filter=dispatched),
        "responded_on_time": Count("pk", filter=dispatched & Q(lead_accepted_in_time)),
        "accepted": Count("pk", filter=accepted),
        "resolved": Count("pk", filter=accepted & resolved),
        "due": Count("pk", filter=has_deadline & ~Q(status=S.REJECTED) & (resolved | Q(resolution_due_at__lt=now))),
        "resolved_on_time": Count("pk", filter=has_deadline & resolved & Q(resolved_at__lte=F("resolution_due_at"))),
        "overdue": Count("pk", filter=overdue_q(now=now)),
        "escalated": Count("pk", filter=Q(escalation_level__gt=Issue.EscalationLevel.COMMUNITY)),
    }


RATING_AGGREGATES = {
    "ratings": Count("pk"),
    "satisfied": Count("pk", filter=Q(score__gte=Rating.SATISFIED_MIN)),
}


def _rate(numerator: int, denominator: int) -> float | None:
    return round(numerator / denominator, 4) if denominator else None


def _figures(row: dict) -> dict:
    """Return API.md's figures from a row of raw counts (missing counts are 0)."""
    c = {k: row.get(k) or 0 for k in COUNT_KEYS}
    return {
        "total": c["total"],
        "by_status": {status: c[f"status_{status}"] for status in STATUSES},
        "response_rate": _rate(c["responded_on_time"], c["dispatched"]),
        "resolution_rate": _rate(c["resolved"], c["accepted"]),
        "on_time_resolution_rate": _rate(c["resolved_on_time"], c["due"]),
        "satisfaction_rate": _rate(c["satisfied"], c["ratings"]),
        "overdue": c["overdue"],
        "escalated": c["escalated"],
        "counts": {k: c[k] for k in [*ISSUE_COUNTS, *RATING_COUNTS]},
    }


def _grouped(issues, ratings, *, keys: tuple[str, ...], extra: tuple[str, ...] = (), now: datetime) -> dict:
    """Return {values of `keys`: raw counts} for issues grouped by `keys`, ratings merged in (two queries)."""
    rows: dict = {}
    for row in issues.values(*keys, *extra).order_by().annotate(**_issue_aggregates(now)):
        rows[tuple(row[k] for k in keys)] = row
    rating_keys = [f"issue__{k}" for k in keys]
    for row in ratings.values(*rating_keys).order_by().annotate(**RATING_AGGREGATES):
        rows.setdefault(tuple(row[k] for k in rating_keys), {}).update(row)
    return rows


def _groups_by(rows: dict, *, position: int) -> dict[object, list[dict]]:
    """Return {key value: the rows of `rows` whose key has that value at `position`}."""
    groups: dict = {}
    for key, row in rows.items():
        groups.setdefault(key[position], []).append(row)
    return groups


def _category_of(group: list[dict]) -> dict:
    """Return the code and name of a category group, read from its issue rows (rating rows carry none)."""
    row = next((r for r in group if "category__code" in r), {})
    return {"code": row.get("category__code"), "name": row.get("category__name")}


def _sum(rows) -> dict:
    """Return the raw counts of several rows added up ({} for no rows)."""
    rows = list(rows)
    return {k: sum(row.get(k) or 0 for row in rows) for k in COUNT_KEYS} if rows else {}


def live_issue_stats(*, area: Area, date_from: date | None, date_to: date | None, now: datetime | None = None) -> dict:
    """Return the statistics of the issues created in [date_from, date_to] under `area` (module docstring)."""
    now = now or timezone.now()
    issues = Issue.objects.filter(_population(area=area, date_from=date_from, date_to=date_to))
    ratings = Rating.objects.filter(_population(area=area, date_from=date_from, date_to=date_to, prefix="issue__"))

    column = CHILD_CODE_COLUMN.get(area.level)
    keys = ("category_id", "channel", column) if column else ("category_id", "channel")
    rows = _grouped(issues, ratings, keys=keys, extra=("category__code", "category__name"), now=now)
    by_category = [{**_category_of(group), **_figures(_sum(group))} for group in _groups_by(rows, position=0).values()]
    by_category.sort(key=lambda r: (-r["total"], r["code"] is None, r["code"] or ""))
    channel_totals = {channel: _sum(group).get("total", 0) for channel, group in _groups_by(rows, position=1).items()}
    by_channel = {channel: channel_totals.get(channel, 0) for channel in CHANNELS}

    by_child_area = []
    if column:
        child_rows = {code: _sum(group) for code, group in _groups_by(rows, position=2).items()}
        for child in Area.objects.filter(parent=area).order_by("code").only("code", "name"):
            by_child_area.append({"code": child.code, "name": child.name, **_figures(child_rows.pop(child.code, {}))})
        # Issues not under any child node (a grid's issues without a building).
        leftover = _sum(child_rows.values())
        if leftover:
            by_child_area.append({"code": None, "name": None, **_figures(leftover)})

    return {
        "area": {"code": area.code, "name": area.name, "level": area.level},
        "date_from": date_from.isoformat() if date_from else None,
        "date_to": date_to.isoformat() if date_to else None,
        **_figures(_sum(rows.values())),
        "by_channel": by_channel,
        "by_category": by_category,
        "by_child_area": by_child_area,
    }
