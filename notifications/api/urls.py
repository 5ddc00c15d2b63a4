"""Routes of the notification API, mounted under /api/v1/ by config/api_router.py."""

from rest_framework.routers import SimpleRouter

from notifications.api.views import NotificationViewSet, WebhookEndpointViewSet

router = SimpleRouter()
router.register("notifications", NotificationViewSet, basename="notification")
router.register("webhooks", WebhookEndpointViewSet, basename="webhook")

urlpatterns = router.urls
