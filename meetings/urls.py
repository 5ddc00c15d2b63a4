"""The weekly meeting pages, included at /meetings/ by config/urls.py."""

from django.urls import path

from meetings import views

app_name = "meetings"
MEETING = "<str:code>/<str:week>/"

urlpatterns = [
    path("", views.MeetingIndexView.as_view(), name="index"),
    path(MEETING, views.MeetingView.as_view(), name="meeting"),
    path(f"{MEETING}print/", views.MeetingPrintView.as_view(), name="print"),
    path(f"{MEETING}open/", views.MeetingOpenView.as_view(), name="open"),
    path(f"{MEETING}refresh/", views.MeetingRefreshView.as_view(), name="refresh"),
    path(f"{MEETING}finalise/", views.MeetingFinaliseView.as_view(), name="finalise"),
    path(f"{MEETING}items/", views.ItemAddView.as_view(), name="item-add"),
    path(f"{MEETING}items/<int:item_id>/decide/", views.ItemDecideView.as_view(), name="item-decide"),
    path(f"{MEETING}items/<int:item_id>/review/", views.ItemReviewView.as_view(), name="item-review"),
]
