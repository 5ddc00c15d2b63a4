"""The issue pages (server-rendered), included at the site's root by config/urls.py; the API is issues/api/urls.py."""

from django.urls import path

from issues import views

# Issue numbers as issues.numbering hands them out (GD-YYYYMMDD-NNNNN); anything else is not an issue page.
NUMBER = "<str:number>"

urlpatterns = [
    path("", views.home, name="home"),
    path("my/", views.my_issues, name="my-issues"),
    path(f"issues/{NUMBER}/", views.IssueDetailView.as_view(), name="issue-detail"),
    path(f"issues/{NUMBER}/rate/", views.IssueRateView.as_view(), name="issue-rate"),
    path(f"issues/{NUMBER}/comment/", views.IssueCommentView.as_view(), name="issue-comment"),
    path("dashboard/", views.dashboard, name="dashboard"),
]
