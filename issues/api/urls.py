"""Routes of the issue API, mounted under /api/v1/ by config/api_router.py."""

from django.urls import path
from rest_framework.routers import SimpleRouter

from issues.api.export import IssueExportView
from issues.api.views import CategoryListView, IssueViewSet, StatsView

router = SimpleRouter()
router.register("issues", IssueViewSet, basename="issue")

urlpatterns = [
    path("categories/", CategoryListView.as_view(), name="category-list"),
    path("stats/", StatsView.as_view(), name="stats"),
    path("issues/export/", IssueExportView.as_view(), name="issue-export"),
    *router.urls,
]
