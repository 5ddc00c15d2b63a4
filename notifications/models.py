"""The outbox: one row per message to deliver, written in the transaction of the change that causes it."""

import uuid

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _

from issues.models import WebhookType
from notifications.webhooks import webhook_url_validate


class Channel(models.TextChoices):
    INBOX = "inbox", _("in-app inbox")
    EMAIL = "email", _("email")
    SMS = "sms", _("SMS")
    WEBHOOK = "webhook", _("webhook")


class Notification(models.Model):
    """One message for one recipient on one channel; its id is the idempotency key every channel honours."""

    class Status(models.TextChoices):
        PENDING = "pending", _("pending")  # written, not yet delivered (or waiting for a retry)
        SENDING = "sending", _("sending")  # claimed by a worker until `claimed_until` (a lease, see delivery.py)
        SENT = "sent", _("sent")
        FAILED = "failed", _("failed")  # gave up after the retry window
        SKIPPED = "skipped", _("skipped")  # nothing to send to (no address, preference off)

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    kind = models.CharField(_("kind"), max_length=40)  # an issues.models.Notice, or the WebhookType of a webhook row
    channel = models.CharField(_("channel"), max_length=8, choices=Channel.choices)
    recipient = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.CASCADE,
        null=True,
        blank=True,
        related_name="notifications",
        verbose_name=_("recipient"),
        # notification_inbox (recipient, channel, -created_at) serves every lookup by recipient; a second index
        # would only cost each outbox row one more index write (a sweep writes 20,000 of them).
        db_index=False,
    )
    webhook = models.ForeignKey(
        "notifications.WebhookEndpoint",
        on_delete=models.CASCADE,
        null=True,
        blank=True,
        related_name="notifications",
        verbose_name=_("webhook"),
        # notification_webhook (partial: the webhook rows alone) serves the lookups by endpoint; a full index would
        # cost each person's row (a sweep writes 20,000) an entry for its NULL.
        db_index=False,
    )
    issue = models.ForeignKey(
        "issues.Issue",
        on_delete=models.CASCADE,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("issue"),
        # Every row is about an issue with events (written with one of its events, or an alert about it), and the
        # events' own key keeps such an issue from ever being deleted (they are append-only): the database's check of
        # this key could never fail, and it was a lookup and a row lock of the issue per row at commit (a sweep writes
        # 20,000). Retention reads rows by issue: the index stays.
        db_constraint=False,
    )
    event = models.ForeignKey(
        "issues.Event",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("event"),
        # Events are never deleted (append-only, issues/0002) and an outbox row is written in its event's transaction
        # (issues.events), so the database's check of the key could never fail: it cost each row (a sweep writes
        # 20,000) a lookup of its event at commit. Nothing reads the outbox by event: no index either.
        db_index=False,
        db_constraint=False,
    )
    # What the message templates need, captured when the change happened.
    payload = models.JSONField(_("payload"), default=dict, blank=True)
    status = models.CharField(_("status"), max_length=8, choices=Status.choices, default=Status.PENDING)
    attempts = models.PositiveIntegerField(_("attempts"), default=0)
    next_attempt_at = models.DateTimeField(_("next attempt at"), null=True, blank=True)
    claimed_until = models.DateTimeField(_("claimed until"), null=True, blank=True)
    last_error = models.TextField(_("last error"), blank=True)
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)
    sent_at = models.DateTimeField(_("sent at"), null=True, blank=True)
    read_at = models.DateTimeField(_("read at"), null=True, blank=True)

    class Meta:
        verbose_name = _("notification")
        verbose_name_plural = _("notifications")
        ordering = ["-created_at"]
        indexes = [
            # The outbox sweep: what is still pending and due.
            models.Index(fields=["next_attempt_at"], name="notification_pending", condition=Q(status="pending")),
            # The outbox sweep: claims whose worker may have died.
            models.Index(fields=["claimed_until"], name="notification_sending", condition=Q(status="sending")),
            # A user's inbox and its unread count.
            models.Index(fields=["recipient", "channel", "-created_at"], name="notification_inbox"),
            # An endpoint's rows (its deletion cascades): only webhook rows have one.
            models.Index(fields=["webhook"], name="notification_webhook", condition=Q(webhook__isnull=False)),
        ]

    def __str__(self):
        return f"{self.kind} → {self.channel}:{self.recipient_id or self.webhook_id}"


class NotificationPreference(models.Model):
    """A user's choice to receive (or not) one channel; no row means the channel's default."""

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="notification_prefs", verbose_name=_("user")
    )
    channel = models.CharField(_("channel"), max_length=8, choices=Channel.choices)
    enabled = models.BooleanField(_("enabled"), default=True)

    class Meta:
        verbose_name = _("notification preference")
        verbose_name_plural = _("notification preferences")
        constraints = [models.UniqueConstraint(fields=["user", "channel"], name="notification_pref_unique")]

    def __str__(self):
        return f"{self.user_id}:{self.channel}={self.enabled}"


class Contact(models.Model):
    """Hold how to reach a user outside the app: the phone for SMS and the language of their messages."""

    user = models.OneToOneField(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="contact", verbose_name=_("user")
    )
    phone = models.CharField(_("phone"), max_length=20, blank=True)
    language = models.CharField(_("language"), max_length=10, choices=settings.LANGUAGES, blank=True)

    class Meta:
        verbose_name = _("contact")
        verbose_name_plural = _("contacts")

    def __str__(self):
        return f"{self.user_id}: {self.phone}"


class DeadlineReminder(models.Model):
    """Record that the reminder of one deadline value was sent, so it is sent once however many sweeps run."""

    class Deadline(models.TextChoices):
        RESPONSE = "response", _("response deadline")
        RESOLUTION = "resolution", _("resolution deadline")

    issue = models.ForeignKey("issues.Issue", on_delete=models.CASCADE, related_name="+", verbose_name=_("issue"))
    deadline = models.CharField(_("deadline"), max_length=10, choices=Deadline.choices)
    # The deadline's value when reminded: an extension moves it, and the new value gets its own reminder.
    due_at = models.DateTimeField(_("due at"))
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)

    class Meta:
        verbose_name = _("deadline reminder")
        verbose_name_plural = _("deadline reminders")
        constraints = [
            models.UniqueConstraint(fields=["issue", "deadline", "due_at"], name="deadline_reminder_once"),
        ]

    def __str__(self):
        return f"{self.issue_id} {self.deadline} {self.due_at:%Y-%m-%d %H:%M}"


def _webhook_url_validate(value: str) -> None:
    webhook_url_validate(value)


class WebhookEndpoint(models.Model):
    """A partner app's URL for events, with its own signing secret (Standard Webhooks)."""

    EVENTS = tuple(t.value for t in WebhookType)

    partner = models.ForeignKey(
        "orgs.PartnerApp", on_delete=models.CASCADE, related_name="webhooks", verbose_name=_("partner app")
    )
    # https only, loopback http for development (notifications.webhooks.webhook_url_validate, also in the admin).
    url = models.URLField(_("URL"), max_length=500, validators=[_webhook_url_validate])
    events = models.JSONField(_("events"), default=list)
    secret = models.CharField(_("secret"), max_length=100, editable=False)
    is_active = models.BooleanField(_("active"), default=True)
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)

    class Meta:
        verbose_name = _("webhook endpoint")
        verbose_name_plural = _("webhook endpoints")
        ordering = ["created_at"]

    def __str__(self):
        return self.url


class WebhookAttempt(models.Model):
    """Log one delivery attempt of a webhook notification."""

    notification = models.ForeignKey(
        Notification, on_delete=models.CASCADE, related_name="attempt_log", verbose_name=_("notification")
    )
    attempt = models.PositiveSmallIntegerField(_("attempt"), default=1)
    url = models.URLField(_("URL"), max_length=500, blank=True)
    at = models.DateTimeField(_("time"), auto_now_add=True)
    status_code = models.PositiveSmallIntegerField(_("status code"), null=True, blank=True)
    error = models.TextField(_("error"), blank=True)
    duration_ms = models.PositiveIntegerField(_("duration (ms)"), default=0)
    # Written before the request leaves and set when its outcome is known: a row without it is an attempt whose
    # worker died (or is still waiting), so the log counts every send, killed ones included.
    finished_at = models.DateTimeField(_("finished at"), null=True, blank=True)

    class Meta:
        verbose_name = _("webhook attempt")
        verbose_name_plural = _("webhook attempts")
        ordering = ["at", "id"]

    def __str__(self):
        outcome = (self.status_code or self.error[:30]) if self.finished_at else "started, no outcome"
        return f"{self.notification_id} {outcome}"


class AreaSubscription(models.Model):
    """A signed-in user's choice to hear of new public issues and resolutions in one area (notifications.alerts).

    A community or a grid for anyone, a street for staff; through the inbox or email, at once or in a daily digest.
    """

    class Frequency(models.TextChoices):
        IMMEDIATE = "immediate", _("at once")
        DAILY = "daily", _("daily digest")

    CHANNELS = [(Channel.INBOX, Channel.INBOX.label), (Channel.EMAIL, Channel.EMAIL.label)]

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="area_subscriptions", verbose_name=_("user")
    )
    area = models.ForeignKey(
        "grids.Area", on_delete=models.CASCADE, related_name="+", verbose_name=_("area"), db_index=False
    )
    channel = models.CharField(_("channel"), max_length=8, choices=CHANNELS, default=Channel.INBOX)
    frequency = models.CharField(_("frequency"), max_length=10, choices=Frequency.choices, default=Frequency.IMMEDIATE)
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)

    class Meta:
        verbose_name = _("area subscription")
        verbose_name_plural = _("area subscriptions")
        ordering = ["created_at", "id"]
        constraints = [models.UniqueConstraint(fields=["user", "area"], name="area_subscription_once")]
        indexes = [models.Index(fields=["area"], name="area_subscription_area")]

    def __str__(self):
        return f"{self.user_id} → {self.area_id} ({self.channel}, {self.frequency})"


class AreaAlert(models.Model):
    """One alert waiting for its subscription's daily digest (notifications.alerts.area_alerts_digest)."""

    subscription = models.ForeignKey(AreaSubscription, on_delete=models.CASCADE, related_name="waiting")
    # Withdrawn before the digest if the issue stops being public meanwhile (made private, rejected).
    issue = models.ForeignKey("issues.Issue", on_delete=models.CASCADE, related_name="+")
    kind = models.CharField(max_length=40)  # issues.models.Notice.AREA_NEW or AREA_RESOLVED
    payload = models.JSONField(default=dict)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["created_at", "id"]

    def __str__(self):
        return f"{self.subscription_id}: {self.kind}"
