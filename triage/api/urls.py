"""Routes of the triage API, mounted under /api/v1/ by config/api_router.py."""

from django.urls import path

from triage.api.views import SuggestView

urlpatterns = [path("triage/suggest/", SuggestView.as_view(), name="triage-suggest")]
