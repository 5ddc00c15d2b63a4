from django.urls import path
from rest_framework.routers import SimpleRouter

from orgs.api.views import CallerView, DepartmentViewSet, TokenView

router = SimpleRouter()
router.register("departments", DepartmentViewSet, basename="department")

urlpatterns = [
    path("auth/token/", TokenView.as_view(), name="auth-token"),
    path("auth/me/", CallerView.as_view(), name="auth-me"),
    *router.urls,
]
