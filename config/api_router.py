"""Mount every app's API under /api/v1/."""

from django.urls import include, path

urlpatterns: list = [
    # Each app appends its router here: path("", include("grids.api.urls")), …
    path("", include("grids.api.urls")),
    path("", include("orgs.api.urls")),
    path("", include("issues.api.urls")),
    path("", include("notifications.api.urls")),
    path("", include("triage.api.urls")),
]
