"""The public board of a community (公示): what it did this month with what residents reported, read for anyone.

What is shown of an issue is issues.publicity's rule; the figures are issues.stats.issue_stats of the community's
street, once, which gives the community's rates and its rank among the street's communities together. A constant
number of queries whatever the month holds: the community (with its street), the street's statistics, the month's
resolved public issues with their resolution notes, and the month's public intake.
"""

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta

from django.db.models import OuterRef, Subquery

from config.errors import NotFound
from grids.models import Area
from issues.models import Event
from issues.publicity import RESOLVED_STATUSES, public_issue_data, public_issue_list
from issues.sla import LOCAL_TZ
from issues.stats import issue_stats

# The three rates (三率) the board shows, as issue_stats names them.
BOARD_RATES = ("response_rate", "resolution_rate", "satisfaction_rate")
BOARD_LIMIT = 200  # resolved issues listed for one month (the count says how many there were)
FEED_LIMIT = 50


@dataclass(frozen=True)
class Month:
    first: date  # its first day

    @classmethod
    def parse(cls, value: str | None, *, today: date) -> "Month":
        """Return the month `YYYY-MM`, or the current one when `value` is missing or not a month."""
        try:
            year, month = (int(part) for part in (value or "").split("-"))
            return cls(date(year, month, 1))
        except (TypeError, ValueError):
            return cls(today.replace(day=1))

    @property
    def last(self) -> date:
        return self.next.first - timedelta(days=1)

    @property
    def next(self) -> "Month":
        return Month((self.first + timedelta(days=32)).replace(day=1))

    @property
    def previous(self) -> "Month":
        return Month((self.first - timedelta(days=1)).replace(day=1))

    @property
    def key(self) -> str:
        return f"{self.first:%Y-%m}"

    def bounds(self) -> tuple[datetime, datetime]:
        return datetime.combine(self.first, time.min, LOCAL_TZ), datetime.combine(self.next.first, time.min, LOCAL_TZ)


def community_get(*, code: str) -> Area:
    """Return the community `code`, with its street; NotFound for anything else."""
    area = Area.objects.select_related("parent").filter(code=code, level=Area.Level.COMMUNITY).first()
    if area is None:
        raise NotFound("No such community.")
    return area


def _resolution_note():
    """Return the subquery of an issue's last resolution note (the result the department or community reported)."""
    return (
        Event.objects.filter(issue=OuterRef("pk"), action=Event.Action.RESOLVE, internal=False)
        .order_by("-at", "-id")
        .values("note")[:1]
    )


def ranking(rows: list[dict], *, key: str = "resolution_rate") -> list[dict]:
    """Return the street's communities ranked by `key`, best first (ties share a rank; no figure: not ranked)."""
    ranked = sorted((r for r in rows if r.get(key) is not None), key=lambda r: (-r[key], r["code"]))
    out, rank, previous = [], 0, None
    for position, row in enumerate(ranked, start=1):
        if row[key] != previous:
            rank, previous = position, row[key]
        out.append({**row, "rank": rank})
    return out + [{**r, "rank": None} for r in rows if r.get(key) is None and r["code"] is not None]


def public_board(*, community: Area, month: Month, now: datetime | None = None) -> dict:
    """Return the board of `community` for `month`: its resolved public issues, its rates and its street rank."""
    start, end = month.bounds()
    stats = issue_stats(area=community.parent, date_from=month.first, date_to=month.last, now=now)
    rows = [r for r in stats["by_child_area"] if r["code"] is not None]
    mine = next((r for r in rows if r["code"] == community.code), None) or {}
    ranked = ranking(rows)
    resolved = list(
        public_issue_list(area=community)
        .filter(status__in=RESOLVED_STATUSES, resolved_at__gte=start, resolved_at__lt=end)
        .annotate(public_note=Subquery(_resolution_note()))
        .order_by("-resolved_at", "-number")[:BOARD_LIMIT]
    )
    return {
        "community": community,
        "street": community.parent,
        "month": month,
        "rates": {key: mine.get(key) for key in BOARD_RATES},
        "counts": mine.get("counts", {}),
        "total": mine.get("total", 0),
        "rank": next((r["rank"] for r in ranked if r["code"] == community.code), None),
        "ranked": ranked,
        "resolved": [public_issue_data(i, resolution_note=i.public_note or "") for i in resolved],
    }


def public_feed_events(*, community: Area):
    """Return the latest events that made issues of `community` public or resolved them, public issues only."""
    return (
        Event.objects.filter(action__in=[Event.Action.CLASSIFY, Event.Action.RESOLVE], internal=False)
        .filter(issue__in=public_issue_list(area=community).values("pk"))
        .select_related("issue__category", "issue__grid")
        .order_by("-at", "-id")[:FEED_LIMIT]
    )
