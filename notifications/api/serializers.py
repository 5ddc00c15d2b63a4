"""What the notification API reads and writes: the inbox, preferences, partner webhook endpoints."""

from django.core.exceptions import ValidationError as DjangoValidationError
from django.utils.translation import get_language
from rest_framework import serializers

from notifications.messages import message_render
from notifications.models import Notification, WebhookEndpoint
from notifications.webhooks import webhook_url_validate


class InboxIssueSerializer(serializers.Serializer):
    id = serializers.UUIDField()
    number = serializers.CharField()


class InboxNotificationSerializer(serializers.ModelSerializer):
    """One inbox message, worded in the request's language."""

    issue = InboxIssueSerializer(allow_null=True)
    subject = serializers.SerializerMethodField()
    body = serializers.SerializerMethodField()
    read = serializers.SerializerMethodField()

    class Meta:
        model = Notification
        fields = ["id", "kind", "issue", "subject", "body", "read", "read_at", "created_at"]

    def _message(self, obj):
        cache = self.context.setdefault("_messages", {})
        if obj.pk not in cache:
            cache[obj.pk] = message_render(kind=obj.kind, payload=obj.payload, language=get_language())
        return cache[obj.pk]

    def get_subject(self, obj) -> str:
        return self._message(obj).subject

    def get_body(self, obj) -> str:
        return self._message(obj).body

    def get_read(self, obj) -> bool:
        return obj.read_at is not None


class UnreadCountSerializer(serializers.Serializer):
    unread_count = serializers.IntegerField()


class PreferencesChannelsSerializer(serializers.Serializer):
    inbox = serializers.BooleanField(required=False)
    email = serializers.BooleanField(required=False)
    sms = serializers.BooleanField(required=False)


class PreferencesSerializer(serializers.Serializer):
    """A user's channel choices ({"inbox", "email", "sms"}) and the phone SMS goes to."""

    channels = PreferencesChannelsSerializer(required=False)
    phone = serializers.RegexField(r"^\+?[0-9]{5,20}$", required=False, allow_blank=True, max_length=20)


class WebhookEndpointSerializer(serializers.ModelSerializer):
    """A partner's webhook endpoint; `secret` is written once into the creation answer and never shown again."""

    events = serializers.ListField(
        child=serializers.ChoiceField(choices=WebhookEndpoint.EVENTS),
        allow_empty=False,
        max_length=len(WebhookEndpoint.EVENTS),
    )

    class Meta:
        model = WebhookEndpoint
        fields = ["id", "url", "events", "created_at"]
        read_only_fields = ["id", "created_at"]

    def validate_url(self, value: str) -> str:
        try:
            webhook_url_validate(value)
        except DjangoValidationError as exc:
            raise serializers.ValidationError(exc.messages) from exc
        return value

    def validate_events(self, value: list[str]) -> list[str]:
        return sorted(set(value), key=WebhookEndpoint.EVENTS.index)


class WebhookEndpointCreatedSerializer(WebhookEndpointSerializer):
    secret = serializers.CharField(read_only=True)

    class Meta(WebhookEndpointSerializer.Meta):
        fields = ["id", "url", "events", "secret", "created_at"]
