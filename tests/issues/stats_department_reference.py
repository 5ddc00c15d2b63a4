"""The live departments of the statistics page before the department rollup (issues.stats_report at 4aefc4d), kept
as the reference the rollup-backed `department_stats` must match exactly (tests/issues/test_stats_department_rollup.py
and bench/bench_statspage.py). Counts over the population's dispatches and ratings at every call; not for pages.
"""

from datetime import date, datetime

from django.db.models import Count, F, Q

from grids.models import Area
from issues.models import Dispatch, Issue, Rating
from issues.stats_report import DEPARTMENT_COUNTS, DEPARTMENT_RATES, _rate, population_q

S = Issue.Status
RESOLVED_STATUSES = (S.RESOLVED, S.CLOSED)


def live_department_stats(*, area: Area, date_from: date, date_to: date, now: datetime) -> list[dict]:
    """Return one row per department the population was dispatched to (module docstring), most dispatched first."""
    population = population_q(area=area, date_from=date_from, date_to=date_to, prefix="issue__")
    lead = Q(lead=True, active=True)
    resolved = Q(issue__status__in=RESOLVED_STATUSES)
    has_deadline = Q(issue__resolution_due_at__isnull=False)
    rows = (
        Dispatch.objects.filter(population)
        .values("department_id", "department__code", "department__name")
        .order_by()
        .annotate(
            dispatched=Count("pk"),
            accepted_on_time=Count(
                "pk", filter=Q(accepted_at__isnull=False, accepted_at__lte=F("issue__response_due_at"))
            ),
            returned=Count("pk", filter=Q(status=Dispatch.Status.RETURNED)),
            accepted=Count("pk", filter=lead & Q(issue__accepted_at__isnull=False)),
            resolved=Count("pk", filter=lead & Q(issue__accepted_at__isnull=False) & resolved),
            due=Count(
                "pk",
                filter=lead
                & has_deadline
                & ~Q(issue__status=S.REJECTED)
                & (resolved | Q(issue__resolution_due_at__lt=now)),
            ),
            resolved_on_time=Count(
                "pk", filter=lead & has_deadline & resolved & Q(issue__resolved_at__lte=F("issue__resolution_due_at"))
            ),
        )
    )
    ratings = {
        row["issue__dispatches__department_id"]: row
        for row in Rating.objects.filter(population, issue__dispatches__lead=True, issue__dispatches__active=True)
        .values("issue__dispatches__department_id")
        .order_by()
        .annotate(ratings=Count("pk"), satisfied=Count("pk", filter=Q(score__gte=Rating.SATISFIED_MIN)))
    }
    result = []
    for row in rows:
        rated = ratings.get(row["department_id"], {})
        counts = {key: row[key] for key in DEPARTMENT_COUNTS}
        counts.update(ratings=rated.get("ratings", 0), satisfied=rated.get("satisfied", 0))
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
