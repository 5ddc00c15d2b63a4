"""Hot spots in statistics: how many alerts a node had over a period and how fast they were handled.

The statistics page (issues.stats_views) and `/api/v1/stats/report/` (issues.api.stats_report) add it to the
report as `hotspots`; issues.stats_report, in the issue core, never imports triage (tests/test_layers.py). The
population: the alerts raised from `date_from` 00:00 to the end of `date_to` (local time) whose grid or building is
at or under the node. Of those: `raised`, `closed` (all their issues ended), `open` (still open), and
`median_hours_to_close`, the median time from raised to closed of the closed ones (null when none has closed). One
query; alerts are few (one per burst), so the median is taken here.
"""

from datetime import date, datetime, time, timedelta
from statistics import median

from grids.models import Area, subtree_q
from issues.sla import LOCAL_TZ
from triage.models import HotSpot


def hotspot_stats(*, area: Area, date_from: date, date_to: date) -> dict:
    """Return the hot spots raised at or under `area` over [date_from, date_to]: raised, closed, open and the median
    hours from raised to closed."""
    rows = list(
        HotSpot.objects.filter(
            subtree_q("area__path", area.path) | subtree_q("building__path", area.path),
            created_at__gte=datetime.combine(date_from, time.min, LOCAL_TZ),
            created_at__lt=datetime.combine(date_to + timedelta(days=1), time.min, LOCAL_TZ),
        ).values_list("status", "created_at", "closed_at")
    )
    hours = [(closed - raised).total_seconds() / 3600 for status, raised, closed in rows if status == "closed"]
    return {
        "raised": len(rows),
        "closed": len(hours),
        "open": len(rows) - len(hours),
        "median_hours_to_close": round(median(hours), 1) if hours else None,
    }
