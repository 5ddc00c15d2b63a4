"""The live kinds and weekly trend of the statistics page before the trend rollup (issues.stats_report at 6f472dc),
kept as the reference the rollup-backed `kinds_and_trend` must match exactly (tests/issues/test_stats_report_rollup.py).
Counts over issues at every call; do not use outside tests.
"""

from datetime import date, datetime, time, timedelta

from django.db.models import Count
from django.db.models.functions import TruncWeek
from django.utils import timezone

from grids.models import Area, subtree_q
from issues.models import Issue, Kind
from issues.sla import LOCAL_TZ

RESOLVED_STATUSES = (Issue.Status.RESOLVED, Issue.Status.CLOSED)


def _week_of(value) -> date:
    if isinstance(value, datetime):
        return value.astimezone(LOCAL_TZ).date() if timezone.is_aware(value) else value.date()
    return value


def live_kinds_and_trend(*, area: Area, date_from: date, date_to: date) -> tuple[dict, list[dict]]:
    """Return the population by kind and its weekly intake and resolutions, counted over the issues."""
    issues = Issue.objects.filter(
        subtree_q("area_path", area.path),
        created_at__gte=datetime.combine(date_from, time.min, LOCAL_TZ),
        created_at__lt=datetime.combine(date_to + timedelta(days=1), time.min, LOCAL_TZ),
    )
    weeks: dict[date, dict] = {}
    monday = date_from - timedelta(days=date_from.weekday())
    while monday <= date_to:
        weeks[monday] = {"week": monday, "intake": 0, "resolved": 0}
        monday += timedelta(days=7)
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
