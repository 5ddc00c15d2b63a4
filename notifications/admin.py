"""Admin: the outbox with its delivery state, webhook endpoints and their attempt log, contacts, reminders."""

from django.contrib import admin, messages
from django.db import models

from notifications.models import (
    Contact,
    DeadlineReminder,
    Notification,
    NotificationPreference,
    WebhookAttempt,
    WebhookEndpoint,
)
from notifications.tasks import notifications_queue
from notifications.webhooks import webhook_secret_new


class WebhookAttemptInline(admin.TabularInline):
    model = WebhookAttempt
    extra = 0
    can_delete = False
    fields = ["attempt", "at", "url", "status_code", "duration_ms", "error"]
    readonly_fields = fields

    def has_add_permission(self, request, obj=None):
        return False


@admin.register(Notification)
class NotificationAdmin(admin.ModelAdmin):
    list_display = ["created_at", "kind", "channel", "recipient", "webhook", "status", "attempts", "next_attempt_at"]
    list_filter = ["status", "channel", "kind"]
    search_fields = ["id", "issue__number", "recipient__username"]
    date_hierarchy = "created_at"
    list_select_related = ["recipient", "webhook"]
    raw_id_fields = ["recipient", "webhook", "issue", "event"]
    readonly_fields = ["id", "created_at", "sent_at", "claimed_until", "attempts", "last_error"]
    inlines = [WebhookAttemptInline]
    actions = ["retry_now"]

    @admin.action(description="Retry now (back to pending, due at once)")
    def retry_now(self, request, queryset):
        ids = list(queryset.filter(status__in=["failed", "pending"]).values_list("pk", flat=True))
        Notification.objects.filter(pk__in=ids).update(status="pending", next_attempt_at=None)
        notifications_queue(ids=[str(pk) for pk in ids])


@admin.register(WebhookAttempt)
class WebhookAttemptAdmin(admin.ModelAdmin):
    list_display = ["at", "notification", "attempt", "url", "status_code", "duration_ms", "error"]
    list_filter = ["status_code"]
    search_fields = ["notification__id", "url"]
    date_hierarchy = "at"
    raw_id_fields = ["notification"]

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False


@admin.register(WebhookEndpoint)
class WebhookEndpointAdmin(admin.ModelAdmin):
    list_display = ["url", "partner", "events", "is_active", "created_at"]
    list_filter = ["is_active", "partner"]
    # The secret is shown once, when the endpoint is created, and never again (API.md).
    exclude = ["secret"]
    # Webhook URLs are https (API.md): a bare host typed in the form means https, as Django 6 will assume.
    formfield_overrides = {models.URLField: {"assume_scheme": "https"}}

    def has_delete_permission(self, request, obj=None):
        # Deleting would take its outbox rows and attempt log with it (cascade): deactivate it, as the API does.
        return False

    def save_model(self, request, obj, form, change):
        created = not obj.secret
        if created:
            obj.secret = webhook_secret_new()
        super().save_model(request, obj, form, change)
        if created:
            messages.warning(request, f"Signing secret (shown this once, give it to the partner): {obj.secret}")


@admin.register(NotificationPreference)
class NotificationPreferenceAdmin(admin.ModelAdmin):
    list_display = ["user", "channel", "enabled"]
    list_filter = ["channel", "enabled"]
    raw_id_fields = ["user"]


@admin.register(Contact)
class ContactAdmin(admin.ModelAdmin):
    list_display = ["user", "phone", "language"]
    search_fields = ["user__username", "phone"]
    raw_id_fields = ["user"]


@admin.register(DeadlineReminder)
class DeadlineReminderAdmin(admin.ModelAdmin):
    list_display = ["issue", "deadline", "due_at", "created_at"]
    list_filter = ["deadline"]
    raw_id_fields = ["issue"]
