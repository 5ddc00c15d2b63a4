from django.conf import settings
from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView

from config.api import views as probes
from issues.api.photo_files import IssuePhotoFileView
from notifications import views as pages

urlpatterns = [
    path("admin/", admin.site.urls),
    path("api/v1/", include("config.api_router")),
    path("open311/v2/", include("open311.urls")),
    # Photo files, where the issue representation lists them, behind the issue's scoping.
    path(
        f"{settings.MEDIA_URL.strip('/')}/issues/<uuid:issue_id>/<str:name>",
        IssuePhotoFileView.as_view(),
        name="issue-photo-file",
    ),
    # Schema and docs are public: a partner developer reads them before holding a key.
    path("api/schema/", SpectacularAPIView.as_view(permission_classes=[], authentication_classes=[]), name="schema"),
    path(
        "api/docs/",
        SpectacularSwaggerView.as_view(url_name="schema", permission_classes=[], authentication_classes=[]),
        name="swagger-ui",
    ),
    path("healthz", probes.healthz, name="healthz"),
    path("readyz", probes.readyz, name="readyz"),
    # Pages (server-rendered, Chinese first): sign in and out, the in-app inbox, the language switch; each app's pages.
    path(
        "accounts/login/",
        auth_views.LoginView.as_view(redirect_authenticated_user=True, next_page="home"),
        name="login",
    ),
    path("accounts/logout/", auth_views.LogoutView.as_view(next_page="home"), name="logout"),
    path("i18n/", include("django.conf.urls.i18n")),
    path("inbox/", pages.inbox, name="inbox"),
    path("inbox/<uuid:notification_id>/read/", pages.inbox_read, name="inbox-read"),
    path("inbox/read-all/", pages.inbox_read_all, name="inbox-read-all"),
    path("meetings/", include("meetings.urls")),
    path("alerts/", pages.alerts, name="alerts"),
    path("alerts/follow/", pages.alerts_follow, name="alerts-follow"),
    path("alerts/<int:subscription_id>/unfollow/", pages.alerts_unfollow, name="alerts-unfollow"),
    path("alerts/unsubscribe/<str:token>/", pages.alerts_unsubscribe, name="alerts-unsubscribe"),
    path("", include("accounts.urls")),
    path("", include("issues.urls")),
]

# The bare view that bench/bench_api.py compares the API with, served by the same processes; never in a deployment.
if getattr(settings, "GRIDDESK_BENCH_VIEWS", False):
    urlpatterns.append(path("bench/", include("bench.common")))

# JSON error bodies under /api/ (and the probes), Django's pages elsewhere.
handler404 = "config.api.exceptions.handler404"
handler500 = "config.api.exceptions.handler500"
