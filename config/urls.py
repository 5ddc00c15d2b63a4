from django.contrib import admin
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView

from config.api import views as probes

urlpatterns = [
    path("admin/", admin.site.urls),
    path("api/v1/", include("config.api_router")),
    path("open311/v2/", include("open311.urls")),
    # Schema and docs are public: a partner developer reads them before holding a key.
    path("api/schema/", SpectacularAPIView.as_view(permission_classes=[], authentication_classes=[]), name="schema"),
    path(
        "api/docs/",
        SpectacularSwaggerView.as_view(url_name="schema", permission_classes=[], authentication_classes=[]),
        name="swagger-ui",
    ),
    path("healthz", probes.healthz, name="healthz"),
    path("readyz", probes.readyz, name="readyz"),
]

# JSON error bodies under /api/ (and the probes), Django's pages elsewhere.
handler404 = "config.api.exceptions.handler404"
handler500 = "config.api.exceptions.handler500"
