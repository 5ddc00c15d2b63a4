"""Which channels reach a user, by preference and by what address they have."""

from notifications.models import Channel

# A user hears on these unless they turned them off; SMS needs a phone and is opt-in.
DEFAULT_ON = {Channel.INBOX: True, Channel.EMAIL: True, Channel.SMS: False}


def channels_for_user(user) -> list[str]:
    """Return the channels to write for `user` (prefetch `notification_prefs` to avoid a query each)."""
    prefs = {p.channel: p.enabled for p in user.notification_prefs.all()}
    chosen = []
    for channel, default in DEFAULT_ON.items():
        if not prefs.get(channel, default):
            continue
        if channel == Channel.EMAIL and not user.email:
            continue
        chosen.append(channel)
    return chosen
