"""The statistics page's report of a node over a period: issue_stats plus what the page adds around it.

Built on issues.stats (whose functions it calls and never changes) and on the same population: the issues at or
under `area` created from `date_from` 00:00 to the end of `date_to`, local time (Asia/Shanghai), as they stand at
`now`. On top of `issue_stats` it adds:

- `previous`: issue_stats of the period of the same length just before, and `deltas` (current − previous: rates in
  percentage points, the total in issues), None where either side has no figure.
- `by_kind`: the population by kind (every kind, zeros included).
- `trend`: one row per week (Monday to Sunday, local time) that the period touches: `intake` (issues of the
  population created that week) and `resolved` (issues of the population now resolved or closed whose last
  resolution fell that week; a resolution after `date_to` is outside the period's weeks and not drawn).
- `departments`: one row per department that the population was dispatched to. *Dispatched*: dispatch rows of
  the population's issues to it, every round counted (a re-dispatch after a return counts again). *Accepted on
  time*: those it accepted (报到) at or before the issue's response deadline. *Returned*: those it sent back (退单).
  As the lead of the issue's current round (the department answerable for the outcome): *accepted*, *resolved*,
  *due*, *resolved on time* and its *ratings* / *satisfied*, with issue_stats' definitions. Its rates: response =
  accepted on time / dispatched, resolution = resolved / accepted, on-time resolution = resolved on time / due,
  satisfaction = satisfied / ratings.
- `rankings` (红黄榜): issue_stats' child areas and the departments ordered by each rate (`rank_rows`). A row whose
  rate stands on fewer than `min_volume` cases (the rate's denominator) is listed but not ranked; the top
  `marked` ranks are the red list (红榜), the bottom ones the yellow list (黄榜). Child areas without a single
  issue in the period are not rows: they are named together in `empty_children`.

Queries: issue_stats twice (four each), two for the kinds and the trend, two for the departments: twelve whatever
the data size. The kinds and the trend are read from the rollup's trend rows (issues.rollups) for a community, a
street or a district; the departments from the department rollup (DepartmentRollup, kept by issues.rollups in the
change's transaction), plus the live part of their `due` (a lead's open issues past their resolution deadline, from
the DepartmentEntry rows of open issues: no dispatch, rating or issue row is read).
tests/issues/test_stats_department_rollup.py compares them with the live count over dispatches and ratings
(tests/issues/stats_department_reference.py).
"""

from datetime import date, datetime, time, timedelta

from django.conf import settings
from django.db.models import Count, Q, Sum
from django.db.models.functions import TruncWeek
from django.utils import timezone

from grids.models import Area, subtree_q
from issues.models import DepartmentEntry, DepartmentRollup, Issue, Kind, StatsRollup
from issues.rollups import DEPARTMENT_COUNTS as ROLLUP_DEPARTMENT_COUNTS
from issues.rollups import TREND_LEVELS, rollup_before_read
from issues.sla import LOCAL_TZ
from issues.stats import issue_stats, rollup_periods_q, rollup_scope_q

S = Issue.Status
RESOLVED_STATUSES = (S.RESOLVED, S.CLOSED)
# (rate, its numerator, its denominator) in `counts`: the rates in the order DESIGN.md lists them.
RATES = [
    ("response_rate", "responded_on_time", "dispatched"),
    ("resolution_rate", "resolved", "accepted"),
    ("on_time_resolution_rate", "resolved_on_time", "due"),
    ("satisfaction_rate", "satisfied", "ratings"),
]
RATE_KEYS = [key for key, _n, _d in RATES]
# A department's rates from its own counts (module docstring).
DEPARTMENT_RATES = [
    ("response_rate", "accepted_on_time", "dispatched"),
    ("resolution_rate", "resolved", "accepted"),
    ("on_time_resolution_rate", "resolved_on_time", "due"),
    ("satisfaction_rate", "satisfied", "ratings"),
]
DEPARTMENT_COUNTS = ["dispatched", "accepted_on_time", "returned", "accepted", "resolved", "due", "resolved_on_time"]


def min_volume_default() -> int:
    """Return the fewest cases behind a rate for a row to be ranked (setting GRIDDESK_STATS_RANK_MIN_VOLUME)."""
    return settings.GRIDDESK_STATS_RANK_MIN_VOLUME


def marked_default() -> int:
    """Return how many ranks the red and the yellow list each mark at most (GRIDDESK_STATS_RANK_MARKED)."""
    return settings.GRIDDESK_STATS_RANK_MARKED


def previous_period(date_from: date, date_to: date) -> tuple[date, date]:
    """Return the period of the same length that ends the day before `date_from`."""
    days = (date_to - date_from).days + 1
    return date_from - timedelta(days=days), date_from - timedelta(days=1)


def population_q(*, area: Area, date_from: date, date_to: date, prefix: str = "") -> Q:
    """Return the filter of issue_stats' population (module docstring), applied through `prefix` ("issue__")."""
    return (
        subtree_q(f"{prefix}area_path", area.path)
        & Q(**{f"{prefix}created_at__gte": datetime.combine(date_from, time.min, LOCAL_TZ)})
        & Q(**{f"{prefix}created_at__lt": datetime.combine(date_to + timedelta(days=1), time.min, LOCAL_TZ)})
    )


def _rate(numerator: int, denominator: int) -> float | None:
    return round(numerator / denominator, 4) if denominator else None


def _monday(day: date) -> date:
    return day - timedelta(days=day.weekday())


def _week_of(value) -> date:
    """Return the Monday of a TruncWeek value (a local datetime, or a date on some backends)."""
    if isinstance(value, datetime):
        return value.astimezone(LOCAL_TZ).date() if timezone.is_aware(value) else value.date()
    return value


def _weeks(date_from: date, date_to: date) -> dict[date, dict]:
    weeks: dict[date, dict] = {}
    monday = _monday(date_from)
    while monday <= date_to:
        weeks[monday] = {"week": monday, "intake": 0, "resolved": 0}
        monday += timedelta(days=7)
    return weeks


def kinds_and_trend(*, area: Area, date_from: date, date_to: date) -> tuple[dict, list[dict]]:
    """Return the population by kind and its weekly intake and resolutions (two queries).

    A community, a street or a district reads its own trend rows of the rollup (issues.rollups: by creation day and
    kind, and by creation day and resolution day), a few hundred rows a year whatever the number of issues; a grid
    or a building counts its own issues live.
    """
    if area.level not in TREND_LEVELS:
        return _kinds_and_trend_live(area=area, date_from=date_from, date_to=date_to)
    rollup_before_read()
    weeks = _weeks(date_from, date_to)
    by_kind = dict.fromkeys(Kind.values, 0)
    own = StatsRollup.objects.filter(
        grain=StatsRollup.Grain.TREND, level=area.level, area_path=area.path, period__gte=date_from, period__lte=date_to
    )
    intake = own.exclude(kind=StatsRollup.ALL_KINDS).values("kind", "period").order_by().annotate(n=Sum("total"))
    for row in intake:
        if row["n"]:
            by_kind[row["kind"]] = by_kind.get(row["kind"], 0) + row["n"]
            weeks[_monday(row["period"])]["intake"] += row["n"]
    resolutions = own.filter(kind=StatsRollup.ALL_KINDS, resolved_on__lte=date_to).exclude(
        resolved_on=StatsRollup.NO_DAY
    )
    for row in resolutions.values("resolved_on").order_by().annotate(n=Sum("total")):
        week = weeks.get(_monday(row["resolved_on"]))
        if week is not None and row["n"]:
            week["resolved"] += row["n"]
    return by_kind, list(weeks.values())


def _kinds_and_trend_live(*, area: Area, date_from: date, date_to: date) -> tuple[dict, list[dict]]:
    """kinds_and_trend counted over the issues (a grid's or a building's: small)."""
    issues = Issue.objects.filter(population_q(area=area, date_from=date_from, date_to=date_to))
    weeks = _weeks(date_from, date_to)
    by_kind = dict.fromkeys(Kind.values, 0)
    created_week = TruncWeek("created_at", tzinfo=LOCAL_TZ)
    for row in issues.values("kind", week=created_week).order_by().annotate(n=Count("pk")):
        by_kind[row["kind"]] = by_kind.get(row["kind"], 0) + row["n"]
        weeks[_week_of(row["week"])]["intake"] += row["n"]
    end = datetime.combine(date_to + timedelta(days=1), time.min, LOCAL_TZ)
    resolved = issues.filter(status__in=RESOLVED_STATUSES, resolved_at__lt=end)
    for row in resolved.values(week=TruncWeek("resolved_at", tzinfo=LOCAL_TZ)).order_by().annotate(n=Count("pk")):
        week = weeks.get(_week_of(row["week"]))
        if week is not None:
            week["resolved"] += row["n"]
    return by_kind, list(weeks.values())


def department_stats(*, area: Area, date_from: date, date_to: date, now: datetime) -> list[dict]:
    """Return one row per department the population was dispatched to (module docstring), most dispatched first.

    Two queries whatever the number of issues: the department rollup rows of the scope and period (issues.rollups:
    a community, a street or a district reads its own rows, whole months from the month rows; a grid or a building
    its leaf day rows), and the live part of `due` (a lead's open issues past their resolution deadline at `now`,
    from the DepartmentEntry rows of the leads' open issues, through their partial index).
    """
    if area.level in TREND_LEVELS:
        scope = rollup_scope_q(
            [Q(level=area.level, area_path=area.path)], date_from=date_from, date_to=date_to, months=True
        )
    else:
        periods = rollup_periods_q(date_from=date_from, date_to=date_to, months=False)
        scope = Q(subtree_q("area_path", area.path), periods, level=StatsRollup.Level.LEAF)
    named = ["department_id", "department__code", "department__name"]
    summed = (
        DepartmentRollup.objects.filter(scope)
        .values(*named)
        .order_by()
        .annotate(**{key: Sum(key) for key in ROLLUP_DEPARTMENT_COUNTS})
    )
    rows = {row["department_id"]: row for row in summed if row["dispatched"]}
    # The entries of the leads' open issues past their resolution deadline (issues.stats.due_running_q's issues).
    live = (
        DepartmentEntry.objects.filter(
            subtree_q("area_path", area.path), period__gte=date_from, period__lte=date_to, lead_due_at__lt=now
        )
        .values(*named)
        .order_by()
        .annotate(due_running=Count("pk"))
    )
    for row in live:
        # A row is always there when the rollup is current; setdefault keeps a stray dispatch visible all the same.
        rows.setdefault(row["department_id"], {**row, **dict.fromkeys(ROLLUP_DEPARTMENT_COUNTS, 0)})
        rows[row["department_id"]]["due_running"] = row["due_running"]
    result = []
    for row in rows.values():
        counts = {key: row[key] or 0 for key in ROLLUP_DEPARTMENT_COUNTS}
        counts["due"] = counts.pop("due_resolved") + row.get("due_running", 0)
        counts = {key: counts[key] for key in [*DEPARTMENT_COUNTS, "ratings", "satisfied"]}
        result.append(
            {
                "code": row["department__code"],
                "name": row["department__name"],
                "total": counts["dispatched"],
                "counts": counts,
                **{key: _rate(counts[n], counts[d]) for key, n, d in DEPARTMENT_RATES},
            }
        )
    result.sort(key=lambda r: (-r["total"], r["code"]))
    return result


def rank_rows(rows: list[dict], *, rate: str, denominator: str, min_volume: int, marked: int) -> list[dict]:
    """Return `rows` ordered by `rate`, each with `rank` (None: listed, not ranked), `volume` and `mark`.

    Ranked first: rows whose rate stands on at least `min_volume` cases (`counts[denominator]`), best first; equal
    rates share a rank (1, 2, 2, 4), the larger volume listed first. Then the others, by volume. `mark` is "top"
    for the red list (rank ≤ n) and "bottom" for the yellow list (rank ≤ n counted from the worst), where n is
    `marked`, or fewer when there are fewer than twice as many ranked rows, so no row is both.
    """
    ranked, unranked = [], []
    for row in rows:
        volume = row["counts"][denominator]
        entry = {**row, "volume": volume, "rank": None, "mark": None}
        (ranked if row[rate] is not None and volume >= min_volume else unranked).append(entry)
    ranked.sort(key=lambda r: (-r[rate], -r["volume"], r["name"] or ""))
    unranked.sort(key=lambda r: (-r["volume"], -r["total"], r["name"] or ""))
    n = min(marked, len(ranked) // 2)
    values = [r[rate] for r in ranked]
    for entry in ranked:
        entry["rank"] = values.index(entry[rate]) + 1
        from_bottom = sum(1 for v in values if v < entry[rate]) + 1
        if entry["rank"] <= n:
            entry["mark"] = "top"
        elif from_bottom <= n:
            entry["mark"] = "bottom"
    return ranked + unranked


def _deltas(current: dict, previous: dict) -> dict:
    deltas = {"total": current["total"] - previous["total"]}
    for key in RATE_KEYS:
        now_, before = current[key], previous[key]
        deltas[key] = None if now_ is None or before is None else round((now_ - before) * 100, 1)
    return deltas


def stats_report(
    *,
    area: Area,
    date_from: date,
    date_to: date,
    now: datetime | None = None,
    min_volume: int | None = None,
    marked: int | None = None,
) -> dict:
    """Return the statistics page's report of `area` over [date_from, date_to] (module docstring)."""
    now = now or timezone.now()
    min_volume = min_volume_default() if min_volume is None else min_volume
    marked = marked_default() if marked is None else marked
    current = issue_stats(area=area, date_from=date_from, date_to=date_to, now=now)
    prev_from, prev_to = previous_period(date_from, date_to)
    previous = issue_stats(area=area, date_from=prev_from, date_to=prev_to, now=now)
    by_kind, trend = kinds_and_trend(area=area, date_from=date_from, date_to=date_to)
    departments = department_stats(area=area, date_from=date_from, date_to=date_to, now=now)

    children = [c for c in current["by_child_area"] if c["total"] and c["code"]]
    empty_children = [c for c in current["by_child_area"] if not c["total"]]
    # Issues under none of the children (a grid's issues without a building): listed, never ranked.
    leftover = [
        {**c, "volume": c["total"], "rank": None, "mark": None}
        for c in current["by_child_area"]
        if c["total"] and not c["code"]
    ]
    rankings = {
        key: {
            "areas": rank_rows(children, rate=key, denominator=d, min_volume=min_volume, marked=marked) + leftover,
            "departments": rank_rows(departments, rate=key, denominator=dd, min_volume=min_volume, marked=marked),
        }
        for (key, _n, d), (_k, _dn, dd) in zip(RATES, DEPARTMENT_RATES, strict=True)
    }
    return {
        **current,
        "previous": previous,
        "deltas": _deltas(current, previous),
        "by_kind": by_kind,
        "trend": trend,
        "departments": departments,
        "rankings": rankings,
        "empty_children": [{"code": c["code"], "name": c["name"]} for c in empty_children],
        "min_volume": min_volume,
        "marked": marked,
    }
