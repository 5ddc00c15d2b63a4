"""The outbox: turn an issue event and its audience into Notification rows, inside the caller's transaction.

Who hears what is the issues' business (issues.audience); issues.events.event_record hands it here with the
event. Delivery (notifications.tasks) is queued only after commit, and the outbox sweep re-queues what is still
pending, so a broker or worker outage delays a message but never loses it.
"""

from collections.abc import Callable
from datetime import datetime

from django.contrib.auth import get_user_model
from django.db.models import BooleanField, ExpressionWrapper
from django.utils import timezone

from issues.models import Issue, issue_visibility_q
from notifications.alerts import area_alert_rows
from notifications.channels import channels_for_user
from notifications.models import Channel, Notification, WebhookEndpoint
from notifications.tasks import notifications_queue_on_commit
from notifications.webhooks import webhook_body
from orgs.scoping import scopes_prefetch


def _payload(event, issue=None) -> dict:
    """Capture what the message templates need, as it was when the change happened (about `issue`, default its own)."""
    issue, data = issue or event.issue, event.data or {}
    summary = issue.title or issue.description[:60]
    due = data.get("due_at")
    return {
        "number": issue.number,
        "summary": summary,
        "note": event.note or data.get("reason", "") or "",
        "level": data.get("to_level", issue.escalation_level),
        "reason": issue.reject_reason,
        "workdays": data.get("workdays", ""),
        "due": timezone.localtime(datetime.fromisoformat(due)).strftime("%Y-%m-%d %H:%M") if due else "",
        "response_due": _local(issue.response_due_at),
    }


def _local(value) -> str:
    return timezone.localtime(value).strftime("%Y-%m-%d %H:%M") if value else ""


def _partner_endpoints(issue, webhook_type: str) -> list[WebhookEndpoint]:
    """Return the active endpoints subscribed to `webhook_type` whose partner may see `issue` (issue_visibility_q).

    Three queries whatever the number of partners: the endpoints, the partners' memberships, and one read of the
    issue with each partner's visibility filter as a column.
    """
    endpoints = [
        endpoint
        for endpoint in WebhookEndpoint.objects.filter(is_active=True, partner__is_active=True).select_related(
            "partner__user", "partner__area"
        )
        if webhook_type in endpoint.events
    ]
    users = {endpoint.partner_id: endpoint.partner.user for endpoint in endpoints}
    if not users:
        return []
    scopes_prefetch(users.values())
    seen = (
        Issue.objects.filter(pk=issue.pk)
        .values(
            **{
                f"p{partner_id}": ExpressionWrapper(issue_visibility_q(user), output_field=BooleanField())
                for partner_id, user in users.items()
            }
        )
        .first()
        or {}
    )
    return [endpoint for endpoint in endpoints if seen.get(f"p{endpoint.partner_id}")]


def outbox_write(
    *,
    event,
    recipients: dict[int, str],
    about: dict | None = None,
    webhook_type: str | None = None,
    partner_issue: Callable[..., dict] | None = None,
    area_alert: tuple[str, dict] | None = None,
) -> list[Notification]:
    """Write the outbox rows of `event` for the audience issues computed, and queue their delivery after commit.

    `recipients` is {user id: kind}: one row per recipient and channel; `about` names the issue a recipient hears
    about when it is not the event's own (told without the event's note). `webhook_type`: one row per partner
    endpoint subscribed to it whose partner may see the issue, its body `partner_issue(issue=…, viewer=…)` as that
    partner's service user sees it. `area_alert` (Notice, payload): the followers of the issue's area
    (notifications.alerts: a row now, or a wait for the daily digest).
    """
    issue, about = event.issue, about or {}
    rows: list[Notification] = []
    if recipients:
        payloads = {None: _payload(event)}
        users = (
            get_user_model()
            # A partner app's service user hears through its webhooks, not an inbox nobody reads.
            .objects.filter(pk__in=recipients, is_active=True, partner_app__isnull=True)
            .select_related("contact")
            .prefetch_related("notification_prefs")
        )
        for user in users:
            subject = about.get(user.pk)
            if subject is not None and subject.pk not in payloads:
                payloads[subject.pk] = {**_payload(event, subject), "note": ""}
            payload = payloads[subject.pk if subject is not None else None]
            for channel in channels_for_user(user):
                rows.append(
                    Notification(
                        kind=recipients[user.pk],
                        channel=channel,
                        recipient=user,
                        issue=subject or issue,
                        event=event,
                        payload=payload,
                    )
                )
    if webhook_type:
        at = event.at or timezone.now()
        bodies: dict[int, str] = {}  # one body per partner: what it may see of the issue
        for endpoint in _partner_endpoints(issue, webhook_type):
            if endpoint.partner_id not in bodies:
                data = partner_issue(issue=issue, viewer=endpoint.partner.user)
                bodies[endpoint.partner_id] = webhook_body(event_type=webhook_type, at=at, issue_data=data)
            rows.append(
                Notification(
                    kind=webhook_type,
                    channel=Channel.WEBHOOK,
                    webhook=endpoint,
                    issue=issue,
                    event=event,
                    payload={"body": bodies[endpoint.partner_id]},
                )
            )
    if area_alert:
        kind, payload = area_alert
        rows += area_alert_rows(event=event, kind=kind, payload=payload)
    if rows:
        Notification.objects.bulk_create(rows)
        notifications_queue_on_commit(ids=[str(n.id) for n in rows])
    return rows
