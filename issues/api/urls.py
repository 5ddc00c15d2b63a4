"""Routes of the issue API, mounted under /api/v1/ by config/api_router.py."""

from django.urls import path
from rest_framework.routers import SimpleRouter

from issues.api import map as map_api
from issues.api.export import ExportJobFileView, ExportJobView, IssueExportView
from issues.api.stats_report import StatsReportView
from issues.api.views import CategoryListView, IssueViewSet, StatsView

router = SimpleRouter()
router.register("issues", IssueViewSet, basename="issue")

urlpatterns = [
    path("categories/", CategoryListView.as_view(), name="category-list"),
    path("stats/", StatsView.as_view(), name="stats"),
    path("stats/report/", StatsReportView.as_view(), name="stats-report"),
    path("map/grids/", map_api.MapGridsView.as_view(), name="map-grids"),
    path("map/issues/", map_api.MapIssuesView.as_view(), name="map-issues"),
    path("issues/export/", IssueExportView.as_view(), name="issue-export"),
    path("exports/<uuid:job_id>/", ExportJobView.as_view(), name="export-job"),
    path("exports/<uuid:job_id>/file/", ExportJobFileView.as_view(), name="export-job-file"),
    *router.urls,
]
