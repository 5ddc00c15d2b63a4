"""Area alerts: who follows which area, the rows an announcement writes, the daily digest, one-click unsubscribe.

issues.audience decides what is announced (a public issue, per issues.publicity: newly public, or resolved) and
what the announcement says (public data only); notifications.outbox hands it here inside the event's transaction.
A subscription chosen "at once" gets a Notification row on its channel now; "daily" waits as an AreaAlert until
the beat's digest (area_alerts_digest) turns each subscription's waiting alerts into one row; an issue that stops
being public meanwhile (made private, rejected) has its waiting alerts withdrawn. A message already sent cannot be
recalled: staff keep an issue private by marking it so at triage, before classifying it. Every row carries an
unsubscribe link: a signed token of the subscription, good without signing in.
"""

from datetime import datetime

from django.conf import settings
from django.core import signing
from django.db import transaction
from django.urls import reverse
from django.utils import timezone

from config.errors import ValidationFailed
from grids.models import Area
from issues.models import Notice
from notifications.inbox import inbox_rows_written
from notifications.models import AreaAlert, AreaSubscription, Notification
from orgs.scoping import scope_for_user

UNSUBSCRIBE_SALT = "griddesk.area-alerts.unsubscribe"
# Who may follow what: anyone signed in a community or a grid; staff (a node role anywhere) a street too.
OPEN_LEVELS = (Area.Level.COMMUNITY, Area.Level.GRID)
STAFF_LEVELS = (Area.Level.STREET,)
# The most specific subscription wins when one user follows a grid and its community: one message per event.
SPECIFIC_FIRST = {Area.Level.GRID: 0, Area.Level.COMMUNITY: 1, Area.Level.STREET: 2}


def unsubscribe_token(subscription: AreaSubscription) -> str:
    """Return the signed token that removes `subscription` (and only it: a new one has a new id)."""
    return signing.dumps({"s": subscription.pk, "u": subscription.user_id}, salt=UNSUBSCRIBE_SALT, compress=True)


def unsubscribe_path(subscription: AreaSubscription) -> str:
    return reverse("alerts-unsubscribe", kwargs={"token": unsubscribe_token(subscription)})


def unsubscribe_url(subscription: AreaSubscription) -> str:
    return f"{settings.GRIDDESK_SITE_URL}{unsubscribe_path(subscription)}"


def _links(subscription: AreaSubscription) -> dict:
    """Return the unsubscribe link of a message: absolute for email (List-Unsubscribe), a path for the inbox."""
    path = unsubscribe_path(subscription)
    return {"unsubscribe_path": path, "unsubscribe_url": f"{settings.GRIDDESK_SITE_URL}{path}"}


def area_unsubscribe(*, token: str) -> AreaSubscription | None:
    """Remove the subscription `token` names; return it (unsaved, for its area's name), or None when it is gone.

    A forged or altered token removes nothing (signing.BadSignature is None too).
    """
    try:
        data = signing.loads(token, salt=UNSUBSCRIBE_SALT)
    except signing.BadSignature:
        return None
    subscription = (
        AreaSubscription.objects.select_related("area").filter(pk=data.get("s"), user_id=data.get("u")).first()
    )
    if subscription is not None:
        subscription.delete()
    return subscription


def may_follow(*, user, area: Area) -> bool:
    """Return whether `user` may follow `area`: a community or a grid, or a street for staff."""
    if area.level in OPEN_LEVELS:
        return True
    return area.level in STAFF_LEVELS and bool(scope_for_user(user).node_roles)


def area_subscription_set(*, user, area: Area, channel: str, frequency: str) -> AreaSubscription:
    """Follow `area` (or change how): refuse an area the user may not follow, or an unknown channel or frequency."""
    if not may_follow(user=user, area=area):
        raise ValidationFailed.on("area", "Follow a community or a grid (a street: staff only).")
    if channel not in dict(AreaSubscription.CHANNELS):
        raise ValidationFailed.on("channel", "Choose the inbox or email.")
    if frequency not in AreaSubscription.Frequency.values:
        raise ValidationFailed.on("frequency", "Choose at once or a daily digest.")
    subscription, _created = AreaSubscription.objects.update_or_create(
        user=user, area=area, defaults={"channel": channel, "frequency": frequency}
    )
    return subscription


def area_subscription_list_for_user(*, user):
    """Return the user's own subscriptions, their areas' names with them."""
    return AreaSubscription.objects.filter(user=user).select_related("area__parent").order_by("area__code")


def area_alert_rows(*, event, kind: str, payload: dict) -> list[Notification]:
    """Write what one announcement owes each follower of the issue's grid, community or street; return the rows to
    queue (the daily ones wait as AreaAlert rows). Called by notifications.outbox inside the event's transaction."""
    issue = event.issue
    if kind == Notice.AREA_WITHDRAWN:
        AreaAlert.objects.filter(issue=issue).delete()
        return []
    codes = [c for c in (issue.grid_code, issue.community_code, issue.street_code) if c]
    subscriptions = sorted(
        AreaSubscription.objects.filter(area__code__in=codes, user__is_active=True)
        .exclude(user_id=event.actor_id)
        .select_related("area"),
        key=lambda s: SPECIFIC_FIRST.get(s.area.level, 9),
    )
    rows, waiting, told = [], [], set()
    for subscription in subscriptions:
        if subscription.user_id in told:
            continue
        told.add(subscription.user_id)
        body = {**payload, "area": subscription.area.name, **_links(subscription)}
        body["board_url"] = f"{settings.GRIDDESK_SITE_URL}{payload.get('board_path', '')}"
        if subscription.frequency == AreaSubscription.Frequency.DAILY:
            waiting.append(AreaAlert(subscription=subscription, issue=issue, kind=kind, payload=body))
        else:
            rows.append(_row(subscription, kind=kind, payload=body, event=event))
    if waiting:
        AreaAlert.objects.bulk_create(waiting)
    return rows


def _row(subscription: AreaSubscription, *, kind: str, payload: dict, event=None) -> Notification:
    # No issue link: a follower cannot open the issue page (out of their scope); the payload links the board.
    return Notification(
        kind=kind, channel=subscription.channel, recipient_id=subscription.user_id, event=event, payload=payload
    )


def area_alerts_digest(*, now: datetime | None = None) -> list[str]:
    """Turn each subscription's waiting alerts into one digest row and remove them; return the rows' ids.

    The waiting rows are locked (SKIP LOCKED), so two beats running at once never send one alert twice. The caller
    (notifications.tasks.area_alerts_digest_task) queues the rows; the outbox sweep takes any it could not.
    """
    now = now or timezone.now()
    with transaction.atomic():
        waiting = list(
            AreaAlert.objects.select_for_update(skip_locked=True, of=("self",))
            .filter(created_at__lte=now)
            .select_related("subscription__area")
            .order_by("subscription_id", "created_at", "id")
        )
        groups: dict[int, list[AreaAlert]] = {}
        for alert in waiting:
            groups.setdefault(alert.subscription_id, []).append(alert)
        rows = []
        for alerts in groups.values():
            subscription = alerts[0].subscription
            items = [{"kind": a.kind, **_item(a.payload)} for a in alerts]
            payload = {
                "area": subscription.area.name,
                "count": len(items),
                "items": items,
                "board_path": alerts[-1].payload.get("board_path", ""),
                "board_url": alerts[-1].payload.get("board_url", ""),
                **_links(subscription),
            }
            rows.append(_row(subscription, kind=Notice.AREA_DIGEST, payload=payload))
        Notification.objects.bulk_create(rows)
        inbox_rows_written((n.channel, n.recipient_id) for n in rows)
        AreaAlert.objects.filter(pk__in=[a.pk for a in waiting]).delete()
    return [str(n.id) for n in rows]


def _item(payload: dict) -> dict:
    keys = ("number", "category", "grid", "summary", "note")
    return {key: payload.get(key, "") for key in keys}
