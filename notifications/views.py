"""Pages: the in-app inbox with mark read, and area alerts (follow, list, stop, one-click unsubscribe).

Views parse, check and call: inbox rows through notifications.inbox (the same the API uses): a user only ever
reaches their own (anything else answers 404).
"""

import uuid
from http import HTTPStatus

from django import forms
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.translation import get_language, gettext
from django.utils.translation import gettext_lazy as _
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

from config.errors import ValidationFailed
from grids.models import Area
from notifications.alerts import area_subscription_list_for_user, area_subscription_set, area_unsubscribe
from notifications.inbox import inbox_for_user, inbox_get_for_user, inbox_mark_all_read, notification_mark_read
from notifications.messages import message_render
from notifications.models import AreaSubscription

INBOX_UNREAD_SHOWN = 100
INBOX_READ_SHOWN = 30


def inbox_entries(notifications) -> list[dict]:
    """Return each notification with its message in the current language."""
    language = get_language()
    return [
        {"notification": n, "message": message_render(kind=n.kind, payload=n.payload, language=language)}
        for n in notifications
    ]


@login_required
def inbox(request: HttpRequest) -> HttpResponse:
    """List the user's in-app notifications, unread first."""
    mine = inbox_for_user(user=request.user)
    unread = inbox_entries(mine.filter(read_at__isnull=True)[:INBOX_UNREAD_SHOWN])
    read = inbox_entries(mine.filter(read_at__isnull=False)[:INBOX_READ_SHOWN])
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


# --- area alerts ---------------------------------------------------------------------------------------------------


class FollowForm(forms.Form):
    """Follow an area: which (a code), through which channel, how often. The rules are notifications.alerts'."""

    area = forms.CharField(label=_("Area"), max_length=24)
    channel = forms.ChoiceField(label=_("Through"), choices=AreaSubscription.CHANNELS)
    frequency = forms.ChoiceField(label=_("How often"), choices=AreaSubscription.Frequency.choices)


def _back(request: HttpRequest, fallback: str) -> str:
    target = request.POST.get("next", "")
    if target and url_has_allowed_host_and_scheme(target, allowed_hosts={request.get_host()}):
        return target
    return fallback


@require_POST
@login_required
def alerts_follow(request: HttpRequest) -> HttpResponse:
    """Follow an area (or change how); back to where the form was (the public board, or the subscriptions page)."""
    form = FollowForm(request.POST)
    back = _back(request, reverse("alerts"))
    if not form.is_valid():
        messages.error(request, gettext("Choose what to follow, through which channel and how often."))
        return redirect(back)
    area = Area.objects.filter(code=form.cleaned_data["area"]).first()
    if area is None:
        raise Http404
    try:
        area_subscription_set(
            user=request.user,
            area=area,
            channel=form.cleaned_data["channel"],
            frequency=form.cleaned_data["frequency"],
        )
    except ValidationFailed:
        messages.error(request, gettext("You may follow a community or a grid (a street: staff only)."))
        return redirect(back)
    messages.success(request, gettext("You follow %(area)s.") % {"area": area.name})
    return redirect(back)


@login_required
def alerts(request: HttpRequest) -> HttpResponse:
    """List the user's area subscriptions, each with how it is delivered and a button to stop it."""
    subscriptions = list(area_subscription_list_for_user(user=request.user))
    return render(
        request,
        "notifications/alerts.html",
        {
            "subscriptions": subscriptions,
            "channels": AreaSubscription.CHANNELS,
            "frequencies": AreaSubscription.Frequency.choices,
        },
    )


@require_POST
@login_required
def alerts_unfollow(request: HttpRequest, subscription_id: int) -> HttpResponse:
    """Stop one of the user's subscriptions; anyone else's (or none) answers 404."""
    subscription = area_subscription_list_for_user(user=request.user).filter(pk=subscription_id).first()
    if subscription is None:
        raise Http404
    subscription.delete()
    messages.success(request, gettext("You no longer follow %(area)s.") % {"area": subscription.area.name})
    return redirect(_back(request, reverse("alerts")))


@csrf_exempt  # RFC 8058: a mail client's one-click POST carries no CSRF token; the signed token is the proof
def alerts_unsubscribe(request: HttpRequest, token: str) -> HttpResponse:
    """Stop the subscription a message's link names, without signing in (GET from the link, POST from the client)."""
    if request.method not in ("GET", "HEAD", "POST"):
        return HttpResponse(status=HTTPStatus.METHOD_NOT_ALLOWED)
    subscription = area_unsubscribe(token=token)
    status = HTTPStatus.OK if subscription is not None else HTTPStatus.NOT_FOUND
    return render(request, "notifications/unsubscribed.html", {"subscription": subscription}, status=status)
