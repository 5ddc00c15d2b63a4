"""The issue pages (server-rendered), included at the site's root by config/urls.py; the API is issues/api/urls.py."""

from django.urls import path

from issues import desk_views, hotline, map_views, public_views, report_views, stats_views, views

# Issue numbers as issues.numbering hands them out (GD-YYYYMMDD-NNNNN); anything else is not an issue page.
NUMBER = "<str:number>"

urlpatterns = [
    path("", views.home, name="home"),
    path("my/", views.my_issues, name="my-issues"),
    path("report/", report_views.ReportView.as_view(), name="report"),
    path("report/sent/", report_views.report_sent, name="report-sent"),
    path("report/duplicates/", report_views.report_duplicates, name="report-duplicates"),
    path(f"issues/{NUMBER}/", views.IssueDetailView.as_view(), name="issue-detail"),
    path(f"issues/{NUMBER}/rate/", views.IssueRateView.as_view(), name="issue-rate"),
    path(f"issues/{NUMBER}/comment/", views.IssueCommentView.as_view(), name="issue-comment"),
    path(f"issues/{NUMBER}/return-visit/", views.IssueReturnVisitView.as_view(), name="issue-return-visit"),
    path("follow/", views.follow, name="follow"),
    path(f"follow/{NUMBER}/", views.FollowIssueView.as_view(), name="follow-issue"),
    path(f"follow/{NUMBER}/rate/", views.FollowRateView.as_view(), name="follow-rate"),
    path(f"follow/{NUMBER}/photos/<int:photo_id>/", views.follow_photo, name="follow-photo"),
    path("stats/", stats_views.stats_page, name="stats-page"),
    path("dashboard/", stats_views.dashboard_redirect, name="dashboard"),
    path("public/<str:code>/", public_views.public_board_view, name="public-board"),
    path("public/<str:code>/feed/", public_views.PublicBoardFeed(), name="public-board-feed"),
    path("map/", map_views.map_page, name="map"),
    path("hotline/", hotline.hotline, name="hotline"),
    path("desk/", desk_views.desk, name="desk"),
    path("desk/triage/", desk_views.desk_triage_view, name="desk-triage"),
    path("desk/triage/dispatch/", desk_views.desk_bulk_dispatch, name="desk-bulk-dispatch"),
    path("desk/department/", desk_views.desk_department_view, name="desk-department"),
    path("desk/escalations/", desk_views.desk_escalations_view, name="desk-escalations"),
    path(
        "desk/hotspots/<int:pk>/<str:how>/",
        desk_views.desk_hotspot_handle,
        {},
        name="desk-hotspot-handle",
    ),
    *[
        path(
            f"issues/{NUMBER}/{action.replace('_', '-')}/",
            view.as_view(),
            name=f"issue-{action.replace('_', '-')}",
        )
        for action, view in desk_views.ACTION_VIEWS.items()
    ],
]
