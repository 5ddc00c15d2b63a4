"""Pages: the in-app inbox with mark read (the landing and the user's issues are issues.views).

Views parse, check and call: inbox rows through notifications.inbox (the same the API uses): a user only ever
reaches their own (anything else answers 404).
"""

import uuid

from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.translation import get_language
from django.views.decorators.http import require_POST

from notifications.inbox import inbox_for_user, inbox_get_for_user, inbox_mark_all_read, notification_mark_read
from notifications.messages import message_render

INBOX_UNREAD_SHOWN = 100
INBOX_READ_SHOWN = 30


def _entries(notifications) -> list[dict]:
    language = get_language()
    return [
        {"notification": n, "message": message_render(kind=n.kind, payload=n.payload, language=language)}
        for n in notifications
    ]


@login_required
def inbox(request: HttpRequest) -> HttpResponse:
    """List the user's in-app notifications, unread first."""
    mine = inbox_for_user(user=request.user)
    unread = _entries(mine.filter(read_at__isnull=True)[:INBOX_UNREAD_SHOWN])
    read = _entries(mine.filter(read_at__isnull=False)[:INBOX_READ_SHOWN])
    return render(request, "notifications/inbox.html", {"unread": unread, "read": read})


@require_POST
@login_required
def inbox_read(request: HttpRequest, notification_id: uuid.UUID) -> HttpResponse:
    """Mark one of the user's notifications read; another user's (or none) answers 404."""
    notification = inbox_get_for_user(user=request.user, notification_id=notification_id)
    notification_mark_read(notification=notification)
    return redirect("inbox")


@require_POST
@login_required
def inbox_read_all(request: HttpRequest) -> HttpResponse:
    """Mark every notification of the user's inbox read."""
    inbox_mark_all_read(user=request.user)
    return redirect("inbox")
