"""Who hears what: turn an issue event into outbox rows, inside the caller's transaction.

The workflow calls `outbox_write(event=…)` after writing each event; delivery (notifications.tasks) is
queued only after commit, and a sweep re-queues what is still pending.
"""

from django.contrib.auth import get_user_model
from django.db import transaction

from notifications.models import Channel, Notification, WebhookEndpoint
from orgs.models import Membership, Role

# Actions whose outcome the reporter hears about.
REPORTER_ACTIONS = {"accept", "resolve", "close", "auto_close", "reject", "reopen", "rate_reopen"}
# Webhook event type per issue action (API.md "Webhooks").
WEBHOOK_TYPES = {"submit": "issue.created", "escalate": "issue.escalated"}


def _ancestor_paths(area_path: str) -> list[str]:
    codes = area_path.split("/")
    return ["/".join(codes[: i + 1]) for i in range(len(codes))]


def _node_staff(issue, roles) -> list[int]:
    """Return the users holding any of `roles` at a node at or above the issue's area."""
    return list(
        Membership.objects.filter(role__in=roles, area__path__in=_ancestor_paths(issue.area_path))
        .values_list("user_id", flat=True)
        .distinct()
    )


def _department_staff(department_ids) -> list[int]:
    return list(
        Membership.objects.filter(role=Role.DEPARTMENT_STAFF, department_id__in=department_ids)
        .values_list("user_id", flat=True)
        .distinct()
    )


def recipients_for(event) -> dict[int, str]:
    """Return {user id: kind} of the people who hear about `event` (DESIGN.md, issue 5 "Who hears what")."""
    issue, action, data = event.issue, event.action, event.data or {}
    kind = f"issue.{action}"
    heard: dict[int, str] = {}

    def add(user_ids, k=kind):
        for uid in user_ids:
            if uid is not None and uid != event.actor_id:
                heard.setdefault(uid, k)

    if action in REPORTER_ACTIONS and issue.reporter_user_id:
        add([issue.reporter_user_id])
    if action == "reject" and issue.duplicate_of_id and issue.duplicate_of.reporter_user_id:
        add([issue.duplicate_of.reporter_user_id], "issue.duplicate_linked")
    if action in {"submit", "return"} or (action == "rate" and event.to_status == "dispatched"):
        add(_node_staff(issue, [Role.COMMUNITY_STAFF]))
    if action in {"dispatch", "reopen"} or (action == "rate" and event.to_status == "dispatched"):
        add(_department_staff(data.get("departments_ids") or _active_department_ids(issue)))
    if action == "escalate":
        level = data.get("to_level", issue.escalation_level)
        add(_node_staff(issue, [Role.STREET_OFFICER] if level == 1 else [Role.DISTRICT_ADMIN]))
        if data.get("summoned_ids"):
            add(_department_staff(data["summoned_ids"]), "issue.summoned")
    if action == "extend" and data.get("pending"):
        add(_node_staff(issue, [Role.STREET_OFFICER]), "issue.extension_requested")
    if action.startswith("remind_"):
        add(data.get("user_ids", []), f"reminder.{action.removeprefix('remind_')}")
    return heard


def _active_department_ids(issue) -> list[int]:
    return list(issue.dispatches.filter(active=True).values_list("department_id", flat=True))


def webhook_type_for(event) -> str | None:
    """Return the webhook event type of `event`, or None when partners do not hear of it."""
    if event.action in WEBHOOK_TYPES:
        return WEBHOOK_TYPES[event.action]
    if event.to_status and event.from_status != event.to_status:
        return "issue.status_changed"
    return None


def outbox_write(*, event) -> list[Notification]:
    """Write the outbox rows for `event` (one per recipient and channel, one per partner webhook)."""
    from notifications.channels import channels_for_user  # channel choice lives with delivery

    issue = event.issue
    rows: list[Notification] = []
    heard = recipients_for(event)
    if heard:
        users = get_user_model().objects.filter(pk__in=heard).prefetch_related("notification_prefs")
        for user in users:
            for channel in channels_for_user(user):
                rows.append(
                    Notification(kind=heard[user.pk], channel=channel, recipient=user, issue=issue, event=event)
                )
    webhook_type = webhook_type_for(event)
    if webhook_type:
        # Partners hear of the issues they may see: the ones they submitted.
        for endpoint in WebhookEndpoint.objects.filter(
            is_active=True, partner__user_id=issue.reporter_user_id, partner__is_active=True
        ):
            if webhook_type in endpoint.events:
                rows.append(
                    Notification(kind=webhook_type, channel=Channel.WEBHOOK, webhook=endpoint, issue=issue, event=event)
                )
    if rows:
        Notification.objects.bulk_create(rows)
        ids = [str(n.id) for n in rows]
        transaction.on_commit(lambda: _queue_delivery(ids))
    return rows


def _queue_delivery(ids: list[str]) -> None:
    """Queue delivery after commit; if the broker is down, the outbox sweep picks the rows up later."""
    try:
        from notifications.tasks import deliver_notification_task

        for nid in ids:
            deliver_notification_task.delay(nid)
    except Exception:  # noqa: BLE001 — the row is the truth; the sweep retries
        import logging

        logging.getLogger(__name__).warning("could not queue %d notifications; the sweep will", len(ids))
