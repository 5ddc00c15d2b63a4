"""Mount every app's API under /api/v1/."""

urlpatterns: list = [
    # Each app appends its router here: path("", include("grids.api.urls")), …
]
