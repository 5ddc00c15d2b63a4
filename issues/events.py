"""The one recorder of what happens to an issue: every Event row is written here, with who hears of it.

`event_record` writes the event and, in the same transaction, the outbox rows of its audience: issues.audience says
who hears what, notifications.outbox writes the rows and queues their delivery after commit. It also brings the
issue's statistics rollup up to date (issues.rollups), since every change of an issue is recorded here. The
workflow (through guards._record), the reminders and the retention sweep all record through it; nothing else
creates events.
"""

from django.db import transaction

from issues.audience import audience_for
from issues.models import Event, Issue
from issues.rollups import rollup_refresh
from notifications.outbox import outbox_write


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
    return event
