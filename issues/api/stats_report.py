"""`GET /api/v1/stats/report/`: the statistics page's report as JSON (issues.stats_report), beside `/api/v1/stats/`.

The same caller check (IsTerritoryStaff), the same scoping (ScopedIssueMixin.get_area: out of scope is 404) and the
same query words as `/api/v1/stats/` (`area`, `from`, `to`); the period defaults to this month, as on the page,
because the report compares it with the period of the same length before it.
"""

from http import HTTPStatus

from django.utils import timezone
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework.permissions import IsAuthenticated
from rest_framework.response import Response
from rest_framework.views import APIView

from config.api.permissions import IsTerritoryStaff
from config.db_router import replica_reads
from issues.access import ScopedIssueMixin
from issues.api import serializers as s
from issues.api.views import _errors
from issues.sla import LOCAL_TZ
from issues.stats_report import stats_report
from triage.hotspot_stats import hotspot_stats


def report_json(report: dict) -> dict:
    """Return `report` with its dates as ISO strings (the only values JSON cannot carry as they are)."""
    return {**report, "trend": [{**week, "week": week["week"].isoformat()} for week in report["trend"]]}


class StatsReportView(ScopedIssueMixin, APIView):
    """Answer the statistics page's report of a node in the caller's scope over a period."""

    permission_classes = [IsAuthenticated, IsTerritoryStaff]

    @extend_schema(
        summary="The statistics page's report: rates, previous period, trend, rankings",
        description="issue_stats of the period plus `previous` (the period of the same length just before), `deltas`"
        " (rates in percentage points), `by_kind`, `trend` (weeks from Monday: `intake`, `resolved`), `departments`"
        " and `rankings` (per rate: `areas` and `departments`, each row with `rank` (null: under `min_volume`) and"
        " `mark` (`top` red list, `bottom` yellow list)), `empty_children`, and `hotspots` (the hot-spot alerts raised"
        " in the period: `raised`, `closed`, `open`, `median_hours_to_close`, null when none closed).",
        parameters=[
            OpenApiParameter("area", str, required=True, description="A territory node code inside your scope."),
            OpenApiParameter(
                "from",
                OpenApiTypes.DATE,
                description="First day of creation counted (default: the first of this month).",
            ),
            OpenApiParameter("to", OpenApiTypes.DATE, description="Last day of creation counted (default: today)."),
        ],
        responses={HTTPStatus.OK: OpenApiResponse(OpenApiTypes.OBJECT), **_errors(400, 401, 403, 404, 429)},
    )
    def get(self, request):
        query = s.StatsQuerySerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        area = self.get_area(query.validated_data["area"])
        today = timezone.now().astimezone(LOCAL_TZ).date()
        date_to = query.validated_data.get("date_to") or today
        date_from = query.validated_data.get("date_from") or date_to.replace(day=1)
        date_to = max(date_to, date_from)  # `from` alone, after today: that one day
        with replica_reads(user=request.user):  # statistics may lag a moment (config/db_router.py)
            report = stats_report(area=area, date_from=date_from, date_to=date_to)
            # Hot spots sit above the issue core (tests/test_layers.py): added here and on the page, not in the report.
            report["hotspots"] = hotspot_stats(area=area, date_from=date_from, date_to=date_to)
        return Response(report_json(report))
