"""Which channels reach a user, by preference and by what address they have."""

from notifications.models import Channel, Contact, NotificationPreference

# A user hears on these unless they turned them off; SMS needs a phone and is opt-in.
DEFAULT_ON = {Channel.INBOX: True, Channel.EMAIL: True, Channel.SMS: False}
USER_CHANNELS = tuple(DEFAULT_ON)


def _contact(user) -> Contact | None:
    try:
        return user.contact
    except Contact.DoesNotExist:
        return None


def preferences_for_user(user) -> dict[str, bool]:
    """Return {channel: enabled} for every person-facing channel, defaults filled in."""
    prefs = {p.channel: p.enabled for p in user.notification_prefs.all()}
    return {channel: prefs.get(channel, default) for channel, default in DEFAULT_ON.items()}


def channels_for_user(user) -> list[str]:
    """Return the channels to write for `user` (prefetch `notification_prefs` and select `contact`)."""
    chosen = []
    for channel, enabled in preferences_for_user(user).items():
        if not enabled:
            continue
        if channel == Channel.EMAIL and not user.email:
            continue
        if channel == Channel.SMS and not getattr(_contact(user), "phone", ""):
            continue
        chosen.append(channel)
    return chosen


def preferences_set(*, user, channels: dict[str, bool] | None = None, phone: str | None = None) -> dict:
    """Set the user's channel choices and phone; return preferences and phone as the API shows them."""
    for channel, enabled in (channels or {}).items():
        if channel not in USER_CHANNELS:
            continue
        NotificationPreference.objects.update_or_create(user=user, channel=channel, defaults={"enabled": enabled})
    if phone is not None:
        Contact.objects.update_or_create(user=user, defaults={"phone": phone})
    return preferences_get(user=user)


def preferences_get(*, user) -> dict:
    """Return the user's channel choices and phone as the API shows them: {"channels": {…}, "phone"}."""
    user = type(user).objects.select_related("contact").prefetch_related("notification_prefs").get(pk=user.pk)
    return {"channels": preferences_for_user(user), "phone": getattr(_contact(user), "phone", "")}


def language_for_user(user) -> str | None:
    """Return the language the user chose for their messages, or None for the site's."""
    return getattr(_contact(user), "language", "") or None if user is not None else None
