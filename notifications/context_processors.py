"""What every page's header shows of the notifications: the signed-in user's unread inbox count."""

from django.utils.functional import SimpleLazyObject

from notifications.inbox import unread_count_for_user


def unread_count(request) -> dict:
    """Give templates `unread_count` for a signed-in user: one COUNT query, run only if a template reads it."""
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        return {}
    return {"unread_count": SimpleLazyObject(lambda: unread_count_for_user(user=user))}
