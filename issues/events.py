"""The one recorder of what happens to an issue: every Event row is written here, with who hears of it.

`event_record` writes the event and, in the same transaction, the outbox rows of its audience: issues.audience says
who hears what, notifications.outbox writes the rows and queues their delivery after commit. It also brings the
issue's statistics rollup up to date (issues.rollups), since every change of an issue is recorded here. The
workflow (through guards._record), the reminders and the retention sweep all record through it; nothing else
creates events.
"""

from django.db import transaction

from issues.audience import audience_for, partner_issues_data
from issues.models import Event, Issue
from issues.rollups import rollup_refresh
from notifications.outbox import outbox_write, outbox_write_many
from orgs.scoping import node_staff_lookup
from triage.hotspots import ENDED, hotspot_queue

# After these commit, triage.hotspots counts the issue into its place and raises or grows the place's hot spot.
HOTSPOT_DETECT_ACTIONS = (Event.Action.SUBMIT, Event.Action.CLASSIFY)


def _hotspot_after_commit(issue_id: int, action: str, to_status: str) -> None:
    """Queue the hot-spot check of this change once it commits (never blocking or failing the change)."""
    if action in HOTSPOT_DETECT_ACTIONS:
        transaction.on_commit(lambda: hotspot_queue(issue_ids=[issue_id], detect=True))
    elif to_status in ENDED:
        transaction.on_commit(lambda: hotspot_queue(issue_ids=[issue_id], detect=False))


def event_record(
    *, issue: Issue, actor, action: str, from_status: str, to_status: str, note: str = "", internal=False, data=None
) -> Event:
    """Append the event `action` to `issue` and write the outbox rows of whoever must hear of it, atomically."""
    if action not in Event.Action.values:
        raise ValueError(f"Unknown event action {action!r}: add it to Event.Action and issues.audience.")
    with transaction.atomic(savepoint=False):
        event = Event.objects.create(
            issue=issue,
            actor=actor,
            action=action,
            from_status=from_status,
            to_status=to_status,
            note=note,
            internal=internal,
            data=data or {},
        )
        audience = audience_for(event)
        outbox_write(
            event=event,
            recipients=audience.recipients,
            about=audience.about,
            webhook_type=audience.webhook_type,
            partner_issue=audience.partner_issue,
            area_alert=audience.area_alert,
        )
        rollup_refresh([issue.pk])
        _hotspot_after_commit(issue.pk, action, to_status)
    return event


def events_record_many(*, records: list[dict]) -> list[Event]:
    """Append many events at once (a sweep's), each with the outbox rows event_record would write for it, atomically.

    `records`: one dict of event_record's keyword arguments per event, at most one per issue (the partners' webhook
    bodies show each issue as it is now). A constant number of queries however many events: one insert of the events,
    one read of the staff above all their issues, then the outbox rows of all of them (notifications.outbox).
    """
    for record in records:
        if record["action"] not in Event.Action.values:
            raise ValueError(f"Unknown event action {record['action']!r}: add it to Event.Action and issues.audience.")
    if not records:
        return []
    with transaction.atomic(savepoint=False):
        events = Event.objects.bulk_create(
            [
                Event(
                    issue=r["issue"],
                    actor=r.get("actor"),
                    action=r["action"],
                    from_status=r["from_status"],
                    to_status=r["to_status"],
                    note=r.get("note", ""),
                    internal=r.get("internal", False),
                    data=r.get("data") or {},
                )
                for r in records
            ]
        )
        node_staff = node_staff_lookup(paths=[event.issue.area_path for event in events])
        writes = []
        for event in events:
            audience = audience_for(event, node_staff=node_staff)
            writes.append(
                {
                    "event": event,
                    "recipients": audience.recipients,
                    "about": audience.about,
                    "webhook_type": audience.webhook_type,
                    "area_alert": audience.area_alert,
                }
            )
        outbox_write_many(writes=writes, partner_issues=partner_issues_data)
        rollup_refresh([event.issue_id for event in events])
        ended = [event.issue_id for event in events if event.to_status in ENDED]
        if ended:  # a sweep's closings: one task for all of them
            transaction.on_commit(lambda: hotspot_queue(issue_ids=ended, detect=False))
    return events
