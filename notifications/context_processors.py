"""What every page's header shows of the notifications: the signed-in user's unread inbox count."""

from django.utils.functional import SimpleLazyObject

from notifications.inbox import unread_count_remembered


def unread_count(request) -> dict:
    """Give templates `unread_count` for a signed-in user, read only if a template reads it: remembered between
    requests (notifications.inbox.unread_count_remembered), else one COUNT query."""
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        return {}
    return {"unread_count": SimpleLazyObject(lambda: unread_count_remembered(user=user))}
