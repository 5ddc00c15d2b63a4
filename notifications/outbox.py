"""Who hears what: turn an issue event into outbox rows, inside the caller's transaction.

The workflow calls `outbox_write(event=…)` after writing each event (and after saving the issue); delivery
(notifications.tasks) is queued only after commit, and `outbox_sweep` re-queues what is still pending, so a
broker or worker outage delays a message but never loses it.
"""

import logging
from datetime import datetime, timedelta

from django.conf import settings
from django.contrib.auth import get_user_model
from django.db import transaction
from django.db.models import BooleanField, ExpressionWrapper, Q
from django.utils import timezone

from notifications.models import Channel, Notification, WebhookEndpoint
from orgs.models import Role
from orgs.scoping import department_staff_ids, node_staff_ids

logger = logging.getLogger(__name__)

ISSUE_CREATED, ISSUE_STATUS_CHANGED, ISSUE_ESCALATED = WebhookEndpoint.EVENTS
# Told to the reporter of the original when another issue is rejected as its duplicate: about the original.
LINKED_KIND = "issue.duplicate_linked"
# The reporters of duplicates hear the outcome of the report theirs was joined to (DESIGN.md "Duplicates").
DUPLICATE_RESOLVED_KIND = "issue.duplicate_resolved"


def _node_staff(issue, roles) -> list[int]:
    return node_staff_ids(path=issue.area_path, roles=roles)


def _department_staff(department_ids) -> list[int]:
    return department_staff_ids(department_ids=department_ids)


def _active_department_ids(issue, **filters) -> list[int]:
    return list(issue.dispatches.filter(active=True, **filters).values_list("department_id", flat=True))


def _summoned_department_ids(issue, data: dict) -> list[int]:
    """Return the departments summoned by an escalation (ids or codes in the event's data, else the dispatches)."""
    ids = data.get("summoned_ids") or data.get("department_ids")
    if ids:
        return list(ids)
    codes = data.get("summoned") or data.get("departments")
    if codes:
        return list(issue.dispatches.filter(department__code__in=codes).values_list("department_id", flat=True))
    return []


def recipients_for(event) -> dict[int, str]:
    """Return {user id: notification kind} of the people who hear about `event` (never its actor).

    Read from the change itself (from/to status, the issue's dispatches and level) so that it does not depend on
    how the workflow names its event data.
    """
    issue, action, data = event.issue, event.action, event.data or {}
    before, after = event.from_status, event.to_status
    heard: dict[int, str] = {}

    def add(user_ids, kind):
        for uid in user_ids:
            if uid is not None and uid != event.actor_id:
                heard.setdefault(uid, kind)

    reporter = [issue.reporter_user_id] if issue.reporter_user_id else []
    reopened = before in ("resolved", "closed") and after == "dispatched"
    rated_unsatisfied = action == "rate" and reopened

    # The reporter: accepted, resolved, closed, rejected, reopened.
    if after and after != before:
        reporter_kind = {
            "in_progress": "issue.accepted",
            "resolved": "issue.resolved",
            "closed": "issue.closed",
            "rejected": "issue.rejected",
        }.get(after)
        if reopened:
            reporter_kind = "issue.reopened"
        if reporter_kind:
            add(reporter, reporter_kind)
    if after == "rejected" and issue.duplicate_of_id and issue.duplicate_of.reporter_user_id:
        add([issue.duplicate_of.reporter_user_id], LINKED_KIND)

    # Community staff of the scope: new submission, returned work, unsatisfied rating.
    if action == "submit" or (after == "submitted" and not before):
        add(_node_staff(issue, [Role.COMMUNITY_STAFF]), "issue.submitted")
    if action == "return" or (before == "dispatched" and after == "classified"):
        add(_node_staff(issue, [Role.COMMUNITY_STAFF]), "issue.returned")
    if rated_unsatisfied:
        add(_node_staff(issue, [Role.COMMUNITY_STAFF]), "issue.rated_unsatisfied")

    # Dispatched departments: dispatch (and a reopened issue back on their desk), summons, reminders.
    if after == "dispatched" and before != after:
        add(_department_staff(_active_department_ids(issue)), "issue.reopened" if reopened else "issue.dispatched")
    if action == "escalate":
        add(_department_staff(_summoned_department_ids(issue, data)), "issue.summoned")
        # Street officers hear of level 1, district admins of level 2.
        level = data.get("to_level", issue.escalation_level)
        roles = {1: [Role.STREET_OFFICER], 2: [Role.DISTRICT_ADMIN]}.get(level, [])
        add(_node_staff(issue, roles), "issue.escalated")
    if action.startswith("remind_"):
        add(data.get("user_ids", []), f"reminder.{action.removeprefix('remind_')}")

    # 督办: the departments working on it and the community staff; a refused request: the department that asked.
    if action == "supervise":
        add(_department_staff(_active_department_ids(issue)), "issue.supervised")
        add(_node_staff(issue, [Role.COMMUNITY_STAFF]), "issue.supervised")
    if action == "refuse_extension" and data.get("department_id"):
        add(_department_staff([data["department_id"]]), "issue.extension_refused")

    # Street officers: an extension request waiting for their approval.
    if action == "extend" and issue.extensions.filter(status="pending").exists():
        add(_node_staff(issue, [Role.STREET_OFFICER]), "issue.extension_requested")
    return heard


def webhook_type_for(event) -> str | None:
    """Return the webhook event type of `event` (API.md "Webhooks"), or None when partners do not hear of it."""
    if event.action == "submit" or (event.to_status == "submitted" and not event.from_status):
        return ISSUE_CREATED
    if event.action == "escalate":
        return ISSUE_ESCALATED
    if event.to_status and event.from_status != event.to_status:
        return ISSUE_STATUS_CHANGED
    return None


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
    """Return the active endpoints subscribed to `webhook_type` whose partner may see `issue` (orgs.scoping).

    Three queries whatever the number of partners: the endpoints, the partners' memberships, and one read of the
    issue with each partner's visibility filter as a column.
    """
    from issues.models import Issue
    from orgs.scoping import issue_visibility_q, scopes_prefetch

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


def outbox_write(*, event) -> list[Notification]:
    """Write the outbox rows for `event` (one per recipient and channel, one per partner webhook)."""
    from notifications.channels import channels_for_user  # channel choice lives with delivery
    from notifications.webhooks import webhook_body

    issue = event.issue
    rows: list[Notification] = []
    heard = recipients_for(event)
    payload = _payload(event)
    # The original's reporter hears about their own report: the duplicate is not theirs to read (or be linked to).
    about = (
        {LINKED_KIND: (issue.duplicate_of, {**_payload(event, issue.duplicate_of), "note": ""})}
        if LINKED_KIND in heard.values()
        else {}
    )
    if heard:
        users = (
            get_user_model()
            # A partner app's service user hears through its webhooks, not an inbox nobody reads.
            .objects.filter(pk__in=heard, is_active=True, partner_app__isnull=True)
            .select_related("contact")
            .prefetch_related("notification_prefs")
        )
        for user in users:
            kind = heard[user.pk]
            subject, subject_payload = about.get(kind, (issue, payload))
            for channel in channels_for_user(user):
                rows.append(
                    Notification(
                        kind=kind, channel=channel, recipient=user, issue=subject, event=event, payload=subject_payload
                    )
                )
    if event.to_status == "resolved" and event.from_status != "resolved":
        rows += _duplicate_outcome_rows(event, already=set(heard) | {event.actor_id})
    webhook_type = webhook_type_for(event)
    if webhook_type:
        at = event.at or timezone.now()
        bodies: dict[int, str] = {}  # one body per partner: what it may see of the issue
        for endpoint in _partner_endpoints(issue, webhook_type):
            if endpoint.partner_id not in bodies:
                bodies[endpoint.partner_id] = webhook_body(
                    event_type=webhook_type, at=at, issue=issue, viewer=endpoint.partner.user
                )
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
    if rows:
        Notification.objects.bulk_create(rows)
        notifications_queue_on_commit(ids=[str(n.id) for n in rows])
    return rows


def _duplicate_outcome_rows(event, *, already: set) -> list[Notification]:
    """Return rows telling each reporter of a duplicate that the report theirs was joined to is resolved.

    Each hears about their own report (the original is not theirs to read): its number, nothing of the original.
    """
    from notifications.channels import channels_for_user

    duplicates = (
        event.issue.duplicates.filter(
            reporter_user__isnull=False, reporter_user__is_active=True, reporter_user__partner_app__isnull=True
        )
        .exclude(reporter_user_id__in=[uid for uid in already if uid is not None])
        .select_related("reporter_user__contact")
        .prefetch_related("reporter_user__notification_prefs")
    )
    rows, told = [], set()
    for duplicate in duplicates:
        user = duplicate.reporter_user
        if user.pk in told:  # one message per person, even with several duplicates
            continue
        told.add(user.pk)
        payload = {**_payload(event, duplicate), "note": ""}
        for channel in channels_for_user(user):
            rows.append(
                Notification(
                    kind=DUPLICATE_RESOLVED_KIND,
                    channel=channel,
                    recipient=user,
                    issue=duplicate,
                    event=event,
                    payload=payload,
                )
            )
    return rows


def notifications_queue_on_commit(*, ids: list[str]) -> None:
    """Queue delivery of the given outbox rows once the current transaction commits."""
    if ids:
        transaction.on_commit(lambda: _queue_delivery(ids))


def notifications_queue(*, ids: list[str]) -> int:
    """Queue delivery of the given outbox rows now; return how many were queued (the sweep takes the rest)."""
    return _queue_delivery(ids)


def _queue_delivery(ids: list[str]) -> int:
    """Queue delivery tasks; if the broker is down, log it and leave the rows to the outbox sweep."""
    from notifications.tasks import deliver_notification_task

    queued = 0
    try:
        for nid in ids:
            deliver_notification_task.delay(nid)
            queued += 1
    except Exception:  # noqa: BLE001 — the row is the truth: the sweep queues it once the broker is back
        logger.warning("broker unavailable: %d notifications left to the outbox sweep", len(ids) - queued)
    return queued


def outbox_sweep(*, now: datetime | None = None, limit: int = 500) -> int:
    """Re-queue outbox rows still pending after a delay, due retries and claims whose worker died; return how many."""
    now = now or timezone.now()
    settled = now - timedelta(seconds=settings.GRIDDESK_OUTBOX_REQUEUE_AFTER_SECONDS)
    due = Q(status=Notification.Status.PENDING) & (
        Q(next_attempt_at__lte=now) | Q(next_attempt_at__isnull=True, created_at__lte=settled)
    )
    lost = Q(status=Notification.Status.SENDING, claimed_until__lte=now)
    pks = Notification.objects.filter(due | lost).order_by("created_at").values_list("pk", flat=True)[:limit]
    ids = [str(pk) for pk in pks]
    return _queue_delivery(ids)
