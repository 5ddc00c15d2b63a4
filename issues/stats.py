"""Statistics of a territory node over a period: counts and the three rates (三率), API.md "Statistics".

Population: the issues at or under `area` created from `date_from` 00:00 to the end of `date_to` (local dates,
Asia/Shanghai), whatever their status now. Every figure is about that population, as it stands at `now`:

- `total`, `by_status` (every status, zeros included), `overdue` (issues.sla.overdue_q at `now`), `escalated`
  (escalation level above community, whether by a sweep or on purpose).
- Response rate = responded on time / dispatched. *Dispatched*: dispatched at least once (`dispatched_at`).
  *Responded on time*: dispatched, and the lead department accepted (an `accept` event moving it from dispatched
  to in_progress) at or before the response deadline. A later acceptance, or none, is not on time.
- Resolution rate = resolved / accepted. *Accepted*: the lead accepted at least once (`accepted_at`).
  *Resolved*: accepted and now resolved or closed (a reopened issue counts again only once it is resolved again).
- On-time resolution rate = resolved on time / due. *Due*: not rejected, with a resolution deadline, and either
  resolved (resolved or closed: it has its outcome) or past its deadline at `now`. A deadline that has not come
  yet is not due, even inside the period: the issue can still be resolved on time.
  *Resolved on time*: resolved (or closed) at or before its resolution deadline (extensions included).
- Satisfaction rate = satisfied ratings (3–5) / all ratings of the population's issues. Every rating counts (an
  issue rated 1, reopened, then rated 4 gives one of two). An auto-closed issue has no rating and counts in
  neither.

`by_channel` counts the population by the channel it came through (every channel, zeros included), as
`by_status` does by status.

A rate is a float from 0 to 1 (4 decimals), or None when its denominator is 0. `counts` carries every numerator
and denominator so a dashboard can show "12 / 15". `by_category` (unclassified issues under code None) and
`by_child_area` (the next level down: district → streets, street → communities, community → grids, grid →
buildings; every child listed, zeros included; issues not under any child, e.g. a grid's issues without a
building, under code None) carry the same figures.

How it is counted (issues.rollups; docs/scaling.md "Statistics from rollups"): every figure that does not depend on
`now` is summed from the rollup table (StatsRollup), which the event seam keeps current in the same transaction as
each change (a submission on PostgreSQL waits for the fold, which every reader here runs first: issues.rollups); the
two figures that do (`overdue`, and the part of `due` whose deadline passed while open: clock_terms) are summed
from the deadline rows (DeadlineRollup: open issues by the local day their deadline passes) of the days before
today, plus a live count of the issues whose deadline fell today before `now`, through the escalation sweep's partial
indexes. A scope reads the rows of its children's level (a district its street rows, a street its community rows,
smaller scopes the leaf rows), whole months from the month rows and the edges from the day rows: five queries (the
fold's look for submissions not counted yet, rollup, the deadline rows with today's live part, category names, child
areas), a few thousand rows whatever the number of issues or of late open issues. The answer is identical to the
live count over issues (tests/issues/test_stats_rollup.py compares them over randomized data and moments of reading).

For the /stats/ page, besides `issue_stats`:

- `stats_weekly_trend(area=, date_from=, date_to=)`: one row per week (weeks start on Monday, local dates) with the
  week's `intake` (issues created that week under `area`) and `resolved` (of those, resolved or closed now after
  being accepted: the resolution rate's numerator), in date order, weeks without issues included. Read from the
  rollup day rows; one query.
- `stats_by_child_area(area=, date_from=, date_to=, now=)`: `issue_stats(...)["by_child_area"]` alone (the figures
  per child node, every child listed), at the same cost.
"""

from datetime import date, datetime, time, timedelta
from functools import reduce
from operator import or_

from django.db import connections
from django.db.models import Count, Q, Sum
from django.utils import timezone

from grids.models import PATH_SEPARATOR, Area, subtree_q
from issues.figures import CHANNELS, STATUSES, clock_terms, issue_flags
from issues.models import Category, DeadlineRollup, Issue, StatsRollup
from issues.rollups import rollup_before_read
from issues.sla import LOCAL_TZ, overdue_q

# The denormalised code column of each level's children on Issue (DESIGN.md: "everything under X" in one query).
CHILD_CODE_COLUMN = {
    Area.Level.DISTRICT: "street_code",
    Area.Level.STREET: "community_code",
    Area.Level.COMMUNITY: "grid_code",
    Area.Level.GRID: "building_code",
}
# The level of the children rows a district and a street read (smaller scopes read the leaf rows).
ROLLUP_LEVEL = {Area.Level.DISTRICT: StatsRollup.Level.STREET, Area.Level.STREET: StatsRollup.Level.COMMUNITY}
ISSUE_COUNTS = ["dispatched", "responded_on_time", "accepted", "resolved", "due", "resolved_on_time"]
RATING_COUNTS = ["ratings", "satisfied"]
# Every raw count a row may carry; a group's figures are computed from these alone.
COUNT_KEYS = ["total", *(f"status_{s}" for s in STATUSES), "overdue", "escalated", *ISSUE_COUNTS, *RATING_COUNTS]


def due_running_q(*, now: datetime) -> Q:
    """Return the filter for the open issues whose resolution deadline passed (due, not yet resolved, at `now`).

    Written as one term per partial index on the resolution deadline (issue_resolution_escalation while the deadline
    runs, issue_resolution_due_other in the other open statuses), so the live part of the statistics reads only the
    open issues past their deadline, however many issues the period holds.
    """
    return reduce(or_, [q & Q(**{f"{field}__lt": now}) for q, field in clock_terms()["due_running"]])


def _population(*, area: Area, date_from: date | None, date_to: date | None) -> Q:
    """Return the filter for issues under `area` created from `date_from` 00:00 to the end of `date_to`, local time."""
    q = subtree_q("area_path", area.path)
    if date_from is not None:
        q &= Q(created_at__gte=datetime.combine(date_from, time.min, LOCAL_TZ))
    if date_to is not None:
        q &= Q(created_at__lt=datetime.combine(date_to + timedelta(days=1), time.min, LOCAL_TZ))
    return q


def _month_start(day: date) -> date:
    return day.replace(day=1)


def _next_month(day: date) -> date:
    return (day.replace(day=28) + timedelta(days=4)).replace(day=1)


def rollup_period_arms(*, date_from: date | None, date_to: date | None, months: bool) -> list[Q]:
    """Return the filters of the rollup rows that together cover [date_from, date_to] exactly once.

    With `months`, the whole months inside the range come from the month rows and the days at either edge from the
    day rows; without, every day from the day rows. Each filter is one grain and one range of periods, so that a
    scope's filter AND-ed to each (rather than to their OR) is one range of the index `rollup_scope_period`.
    """
    return [Q(grain=grain) & periods for grain, periods in _period_arms(date_from, date_to, months=months)]


def _period_arms(date_from: date | None, date_to: date | None, *, months: bool) -> list[tuple[str, Q]]:
    """Return rollup_period_arms as (grain, the filter of its periods)."""
    low, high = date_from or date.min, date_to or date.max
    day = StatsRollup.Grain.DAY
    if not months:
        return [(day, Q(period__gte=low, period__lte=high))]
    first = low if low.day == 1 else _next_month(low)
    last_end = high if high == date.max or (high + timedelta(days=1)).day == 1 else _month_start(high) - timedelta(1)
    if first > last_end:
        return [(day, Q(period__gte=low, period__lte=high))]
    arms = [(StatsRollup.Grain.MONTH, Q(period__gte=first, period__lte=_month_start(last_end)))]
    if low < first:
        arms.append((day, Q(period__gte=low, period__lt=first)))
    if last_end < high:
        arms.append((day, Q(period__gt=last_end, period__lte=high)))
    return arms


def rollup_periods_q(*, date_from: date | None, date_to: date | None, months: bool) -> Q:
    """Return the filter for the rollup rows that cover [date_from, date_to] exactly once (rollup_period_arms)."""
    return reduce(or_, rollup_period_arms(date_from=date_from, date_to=date_to, months=months))


def rollup_scope_q(scopes: list[Q], *, date_from: date | None, date_to: date | None, months: bool) -> Q:
    """Return the OR of each scope filter AND-ed with each period filter: each term one index range (not a filter
    over every row of the scopes: a district's year read 53,000 rows to keep 1,100 at 1,000,000 issues)."""
    arms = rollup_period_arms(date_from=date_from, date_to=date_to, months=months)
    return reduce(or_, [scope & arm for scope in scopes for arm in arms])


ROLLUP_COUNTS = ["total", *issue_flags(), *RATING_COUNTS]
ALL_CATEGORIES, ALL_CHANNELS = StatsRollup.ALL_CATEGORIES, StatsRollup.ALL_CHANNELS


def _rollup_sums(rows) -> "list[dict]":
    """Return the rollup rows summed over their periods (`due_resolved` named `due`, rows without issues left out)."""
    summed = []
    for row in rows.order_by().annotate(**{k: Sum(k) for k in ROLLUP_COUNTS}):
        if row["total"]:
            row["due"] = row.pop("due_resolved")
            summed.append(row)
    return summed


def _clock_part(*, area: Area, date_from, date_to, now: datetime, column: str, level) -> list[tuple]:
    """Return the part counted at `now`, `overdue` and `due_running`: [(source, category, channel, key, overdue,
    due_running)], one query.

    Source "late": DeadlineRollup rows of deadlines passed before today (local): a smaller scope's leaf rows grouped by
    category, channel and `column` (issues under `area`); a street's or a district's own rows by category (channel
    and `column` blank: source "own") and its children's rows of every category by `column` (source "child"), each of
    the period's whole months and edge days (as rollup_scope_q), whole deadline months before this one and deadline days
    of this month before today. Source "today": the issues whose deadline fell today before `now`, counted live (the
    only issues read: the sweep's partial indexes find them by deadline), by category, channel and `column`.
    """
    today = now.astimezone(LOCAL_TZ).date()
    midnight = datetime.combine(today, time.min, LOCAL_TZ)
    this_month = _month_start(today)
    day, month = StatsRollup.Grain.DAY, StatsRollup.Grain.MONTH
    # Creation days read deadline days; whole creation months read whole deadline months, then this month's days:
    # each (grain, periods, deadlines) term one range of the index deadline_rollup_scope.
    due = {
        day: [Q(due_grain=day, due_on__lt=today)],
        month: [Q(due_grain=month, due_on__lt=this_month), Q(due_grain=day, due_on__gte=this_month, due_on__lt=today)],
    }

    def late(scope: Q, *, months: bool):
        arms = _period_arms(date_from, date_to, months=months)
        terms = [scope & Q(grain=grain) & periods & d for grain, periods in arms for d in due[grain]]
        return DeadlineRollup.objects.filter(reduce(or_, terms)).values("category_pk", "channel", column)

    if level is None:
        parts = [("late", late(subtree_q("area_path", area.path) & Q(level=StatsRollup.Level.LEAF), months=False))]
    else:
        own = Q(level=area.level, area_path=area.path) & ~Q(category_pk=ALL_CATEGORIES)
        children = Q(level=level, area_path__startswith=area.path + PATH_SEPARATOR, category_pk=ALL_CATEGORIES)
        parts = [("own", late(own, months=True)), ("child", late(children, months=True))]
    counts = {"overdue": Sum("overdue"), "due_running": Sum("due_running")}
    # Today's deadlines: an issue starts counting in a figure today when it counts at `now` and not at midnight.
    overdue, due_running = overdue_q(now=now), due_running_q(now=now)
    today_terms = []
    for q, field in (term for terms in clock_terms().values() for term in terms):
        term = q & Q(**{f"{field}__gte": midnight, f"{field}__lt": now})
        if term not in today_terms:
            today_terms.append(term)
    live = (
        Issue.objects.filter(_population(area=area, date_from=date_from, date_to=date_to), reduce(or_, today_terms))
        .values("category_id", "channel", column)
        .order_by()
        .annotate(
            overdue=Count("pk", filter=overdue & ~overdue_q(now=midnight)),
            due_running=Count("pk", filter=due_running & ~due_running_q(now=midnight)),
        )
    )
    selects, params = [], []
    for source, rows in [*((s, r.order_by().annotate(**counts)) for s, r in parts), ("today", live)]:
        sql, sql_params = rows.query.sql_with_params()
        selects.append(f"SELECT %s, q{len(selects)}.* FROM ({sql}) q{len(selects)}")
        params += [source, *sql_params]
    # On the database the router reads the issues from (a replica, when there is one), as the querysets would be.
    with connections[live.db].cursor() as cursor:
        cursor.execute(" UNION ALL ".join(selects), params)
        found = cursor.fetchall()
    return [
        # The rollup's 0 is unclassified (a unique key wants no NULL); a group whose counts cancelled out is no group.
        (source, (category or None) if source != "today" else category, *rest)
        for source, category, *rest in found
        if rest[-1] or rest[-2]
    ]


def _add_live(counts: dict, overdue: int, due_running: int) -> None:
    counts["overdue"] = counts.get("overdue", 0) + overdue
    counts["due"] = counts.get("due", 0) + due_running


def _cuts(*, area: Area, date_from, date_to, now: datetime, column: str | None) -> dict:
    """Return the raw counts of the population cut four ways: total, by category, by channel and by child code.

    A street or a district reads its own per-category and per-channel rows and its children's rows (all summed
    up the tree already); a smaller scope reads the leaf rows of its issues, grouped by all three (module docstring).
    """
    rollup_before_read()
    key_column = column or "area_path"
    level = ROLLUP_LEVEL.get(area.level)
    cuts: dict = {"total": {}, "category": {}, "channel": {}, "child": {}}
    clock = {"area": area, "date_from": date_from, "date_to": date_to, "now": now, "column": key_column}
    if level is None:
        periods = rollup_periods_q(date_from=date_from, date_to=date_to, months=False)
        leaf = StatsRollup.objects.filter(subtree_q("area_path", area.path), periods, level=StatsRollup.Level.LEAF)
        rows = {
            (r["category_pk"] or None, r["channel"], r[key_column]): r
            for r in _rollup_sums(leaf.values("category_pk", "channel", key_column))
        }
        for _, category, channel, key, overdue, due_running in _clock_part(**clock, level=None):
            # A row is always there when the rollup is current; setdefault keeps a stray issue visible all the same.
            _add_live(rows.setdefault((category, channel, key), {"total": 0}), overdue, due_running)
        cuts["total"] = _sum(rows.values())
        for position, cut in enumerate(["category", "channel", "child"]):
            cuts[cut] = {value: _sum(group) for value, group in _groups_by(rows, position=position).items()}
        return cuts
    # Its own rows of one category (all channels) or one channel (all categories); not its own all-and-all rows.
    own = Q(level=area.level, area_path=area.path) & ~Q(category_pk=ALL_CATEGORIES, channel=ALL_CHANNELS)
    # Its children's rows: their paths are under its own (never equal to it).
    children = Q(
        level=level, area_path__startswith=area.path + PATH_SEPARATOR, category_pk=ALL_CATEGORIES, channel=ALL_CHANNELS
    )
    scoped = rollup_scope_q([own, children], date_from=date_from, date_to=date_to, months=True)
    rows = StatsRollup.objects.filter(scoped).values("level", "category_pk", "channel", column)
    for row in _rollup_sums(rows):
        if row["level"] == level:
            cuts["child"][row[column]] = row
        elif row["channel"] == ALL_CHANNELS:
            cuts["category"][row["category_pk"] or None] = row
        else:
            cuts["channel"][row["channel"]] = row
    for source, category, _, key, overdue, due_running in _clock_part(**clock, level=level):
        if source != "child":
            _add_live(cuts["category"].setdefault(category, {"total": 0}), overdue, due_running)
        if source != "own":
            _add_live(cuts["child"].setdefault(key, {"total": 0}), overdue, due_running)
    cuts["total"] = _sum(cuts["child"].values())
    return cuts


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


def _groups_by(rows: dict, *, position: int) -> dict[object, list[dict]]:
    """Return {key value: the rows of `rows` whose key has that value at `position`}."""
    groups: dict = {}
    for key, row in rows.items():
        groups.setdefault(key[position], []).append(row)
    return groups


def _sum(rows) -> dict:
    """Return the raw counts of several rows added up ({} for no rows)."""
    rows = list(rows)
    return {k: sum(row.get(k) or 0 for row in rows) for k in COUNT_KEYS} if rows else {}


def _by_child_area(*, area: Area, child_rows: dict) -> list[dict]:
    """Return the figures of every child of `area`, then of the issues under none of them (code None)."""
    child_rows = dict(child_rows)
    by_child_area = []
    for child in Area.objects.filter(parent=area).order_by("code").only("code", "name"):
        by_child_area.append({"code": child.code, "name": child.name, **_figures(child_rows.pop(child.code, {}))})
    # Issues not under any child node (a grid's issues without a building).
    leftover = _sum(child_rows.values())
    if leftover:
        by_child_area.append({"code": None, "name": None, **_figures(leftover)})
    return by_child_area


def issue_stats(*, area: Area, date_from: date | None, date_to: date | None, now: datetime | None = None) -> dict:
    """Return the statistics of the issues created in [date_from, date_to] under `area` (module docstring)."""
    now = now or timezone.now()
    column = CHILD_CODE_COLUMN.get(area.level)
    cuts = _cuts(area=area, date_from=date_from, date_to=date_to, now=now, column=column)
    category_ids = {pk for pk in cuts["category"] if pk is not None}
    categories = {c["pk"]: c for c in Category.objects.filter(pk__in=category_ids).values("pk", "code", "name")}
    by_category = []
    for category_id, counts in cuts["category"].items():
        category = categories.get(category_id, {})
        by_category.append({"code": category.get("code"), "name": category.get("name"), **_figures(counts)})
    by_category.sort(key=lambda r: (-r["total"], r["code"] is None, r["code"] or ""))
    return {
        "area": {"code": area.code, "name": area.name, "level": area.level},
        "date_from": date_from.isoformat() if date_from else None,
        "date_to": date_to.isoformat() if date_to else None,
        **_figures(cuts["total"]),
        "by_channel": {channel: (cuts["channel"].get(channel) or {}).get("total", 0) for channel in CHANNELS},
        "by_category": by_category,
        "by_child_area": _by_child_area(area=area, child_rows=cuts["child"]) if column else [],
    }


def stats_by_child_area(
    *, area: Area, date_from: date | None, date_to: date | None, now: datetime | None = None
) -> list[dict]:
    """Return the figures of each child node of `area` over the period (issue_stats's `by_child_area`)."""
    column = CHILD_CODE_COLUMN.get(area.level)
    if column is None:
        return []
    cuts = _cuts(area=area, date_from=date_from, date_to=date_to, now=now or timezone.now(), column=column)
    return _by_child_area(area=area, child_rows=cuts["child"])


def stats_weekly_trend(*, area: Area, date_from: date, date_to: date) -> list[dict]:
    """Return [{"week": Monday's date, "intake": n, "resolved": n}] for each week touching the period (docstring)."""
    rollup_before_read()
    # A street or a district: its own per-channel rows (every issue once); a smaller scope: its leaf rows.
    if area.level in ROLLUP_LEVEL:
        own = StatsRollup.objects.filter(level=area.level, area_path=area.path, category_pk=ALL_CATEGORIES)
        rows = own.exclude(channel=ALL_CHANNELS)
    else:
        rows = StatsRollup.objects.filter(subtree_q("area_path", area.path), level=StatsRollup.Level.LEAF)
    day_rows = (
        rows.filter(grain=StatsRollup.Grain.DAY, period__gte=date_from, period__lte=date_to)
        .values("period")
        .order_by()
        .annotate(intake=Sum("total"), resolved=Sum("resolved"))
    )
    weeks: dict[date, dict] = {}
    monday = date_from - timedelta(days=date_from.weekday())
    while monday <= date_to:
        weeks[monday] = {"week": monday.isoformat(), "intake": 0, "resolved": 0}
        monday += timedelta(days=7)
    for row in day_rows:
        period = row["period"]
        week = weeks[period - timedelta(days=period.weekday())]
        week["intake"] += row["intake"] or 0
        week["resolved"] += row["resolved"] or 0
    return list(weeks.values())
