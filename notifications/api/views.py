"""The inbox (GET /api/v1/notifications/ …), preferences, and partner webhook endpoints (/api/v1/webhooks/).

Views parse, check and call notifications' functions; a user only ever sees their own inbox rows, a partner only
its own endpoints (anything else answers 404).
"""

from drf_spectacular.utils import extend_schema
from rest_framework import mixins, permissions, viewsets
from rest_framework.decorators import action
from rest_framework.pagination import CursorPagination
from rest_framework.response import Response

from config.api.permissions import IsPartnerApp
from notifications.api.serializers import (
    InboxNotificationSerializer,
    PreferencesSerializer,
    UnreadCountSerializer,
    WebhookEndpointCreatedSerializer,
    WebhookEndpointSerializer,
)
from notifications.channels import preferences_get, preferences_set
from notifications.inbox import inbox_for_user, inbox_mark_all_read, notification_mark_read, unread_count_for_user
from notifications.models import Notification, WebhookEndpoint
from notifications.webhooks import webhook_secret_new


class InboxPagination(CursorPagination):
    """Cursor pages of the inbox, with the unread count on every page."""

    page_size = 20
    page_size_query_param = "page_size"
    max_page_size = 100
    ordering = ("-created_at", "-id")

    def paginate_queryset(self, queryset, request, view=None):
        self.unread_count = queryset.filter(read_at__isnull=True).count()
        return super().paginate_queryset(queryset, request, view)

    def get_paginated_response(self, data):
        response = super().get_paginated_response(data)
        response.data["unread_count"] = self.unread_count
        return response

    def get_paginated_response_schema(self, schema):
        schema = super().get_paginated_response_schema(schema)
        schema["properties"]["unread_count"] = {"type": "integer"}
        return schema


class NotificationViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    """The signed-in user's in-app notifications: list (with `unread_count`), mark read, unread count."""

    serializer_class = InboxNotificationSerializer
    pagination_class = InboxPagination
    filter_backends: list = []
    lookup_value_regex = "[0-9a-fA-F-]{32,36}"

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):  # schema generation: no user
            return Notification.objects.none()
        return inbox_for_user(user=self.request.user)

    @extend_schema(request=None, responses=InboxNotificationSerializer)
    @action(detail=True, methods=["post"])
    def read(self, request, pk=None):
        """Mark one notification read (again: no change)."""
        notification = notification_mark_read(notification=self.get_object())
        return Response(self.get_serializer(notification).data)

    @extend_schema(request=None, responses=UnreadCountSerializer)
    @action(detail=False, methods=["post"])
    def read_all(self, request):
        """Mark every notification read."""
        inbox_mark_all_read(user=request.user)
        return Response({"unread_count": 0})

    @extend_schema(responses=UnreadCountSerializer)
    @action(detail=False, methods=["get"])
    def unread_count(self, request):
        """Return how many notifications are unread."""
        return Response({"unread_count": unread_count_for_user(user=request.user)})

    @extend_schema(request=PreferencesSerializer, responses=PreferencesSerializer)
    @action(detail=False, methods=["get", "patch"])
    def preferences(self, request):
        """Read or change which channels reach the user, and the phone SMS goes to."""
        if request.method == "GET":
            return Response(preferences_get(user=request.user))
        serializer = PreferencesSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        return Response(preferences_set(user=request.user, channels=data.get("channels"), phone=data.get("phone")))


class WebhookEndpointViewSet(
    mixins.ListModelMixin, mixins.CreateModelMixin, mixins.DestroyModelMixin, viewsets.GenericViewSet
):
    """A partner app's webhook endpoints: list, create (the secret is shown once), delete."""

    serializer_class = WebhookEndpointSerializer
    permission_classes = [permissions.IsAuthenticated, IsPartnerApp]
    pagination_class = None
    filter_backends: list = []
    lookup_value_regex = "[0-9]+"

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):  # schema generation: no partner
            return WebhookEndpoint.objects.none()
        return WebhookEndpoint.objects.filter(partner=self.request.user.partner_app, is_active=True)

    @extend_schema(responses={201: WebhookEndpointCreatedSerializer})
    def create(self, request, *args, **kwargs):
        serializer = self.get_serializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        endpoint = serializer.save(partner=request.user.partner_app, secret=webhook_secret_new())
        return Response(WebhookEndpointCreatedSerializer(endpoint).data, status=201)

    def perform_destroy(self, instance):
        # Deactivate rather than delete: the delivery log of its past notifications stays.
        instance.is_active = False
        instance.save(update_fields=["is_active"])
