"""Deadline reminders: whoever holds an issue hears of its response deadline 2 hours before it passes, and of its
resolution deadline one working day before; each deadline value is reminded once, however many sweeps run.

Who holds it: the departments that have not accepted yet (response) or the lead department (resolution) once it is
dispatched; the community staff of its scope while it is classified and waiting to be dispatched.
"""

from datetime import datetime, timedelta

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import Exists, OuterRef
from django.utils import timezone

from issues.events import event_record
from issues.models import Dispatch, Event, Issue
from issues.sla import add_workdays
from notifications.models import DeadlineReminder
from orgs.models import Role
from orgs.scoping import department_staff_ids, node_staff_ids

Deadline = DeadlineReminder.Deadline
REMIND_ACTIONS = {Deadline.RESPONSE: Event.Action.REMIND_RESPONSE, Deadline.RESOLUTION: Event.Action.REMIND_RESOLUTION}


def _not_reminded(deadline: str):
    field = f"{deadline}_due_at"
    return ~Exists(DeadlineReminder.objects.filter(issue_id=OuterRef("pk"), deadline=deadline, due_at=OuterRef(field)))


def reminders_sweep(*, now: datetime | None = None) -> int:
    """Send the reminders that are due now and not yet sent; return how many deadlines were reminded."""
    now = now or timezone.now()
    horizons = {
        Deadline.RESPONSE: (
            now + timedelta(hours=settings.GRIDDESK_RESPONSE_REMINDER_HOURS),
            Issue.DEADLINE_STATUSES["response"],
        ),
        Deadline.RESOLUTION: (
            add_workdays(start=now, workdays=settings.GRIDDESK_RESOLUTION_REMINDER_WORKDAYS),
            Issue.DEADLINE_STATUSES["resolution"],
        ),
    }
    sent = 0
    for deadline, (horizon, statuses) in horizons.items():
        due = Issue.objects.filter(
            _not_reminded(deadline),
            status__in=statuses,
            **{f"{deadline}_due_at__gt": now, f"{deadline}_due_at__lte": horizon},
        )
        for issue in due:
            sent += _remind(issue=issue, deadline=deadline, due_at=getattr(issue, f"{deadline}_due_at"))
    return sent


def _holders(issue: Issue, deadline: str) -> tuple[list[int], list[int]]:
    """Return (user ids, department ids) of whoever must act before `deadline` passes."""
    if issue.status == Issue.Status.CLASSIFIED:
        return node_staff_ids(path=issue.area_path, roles=[Role.COMMUNITY_STAFF]), []
    dispatches = issue.dispatches.filter(active=True)
    if deadline == Deadline.RESPONSE:
        dispatches = dispatches.filter(status=Dispatch.Status.PENDING)
    else:
        dispatches = dispatches.filter(lead=True)
    department_ids = list(dispatches.values_list("department_id", flat=True))
    return department_staff_ids(department_ids=department_ids), department_ids


def _remind(*, issue: Issue, deadline: str, due_at: datetime) -> int:
    """Record the reminder of (issue, deadline, due_at) and notify its holders; return 0 when already sent."""
    user_ids, department_ids = _holders(issue, deadline)
    with transaction.atomic():
        try:
            with transaction.atomic():
                DeadlineReminder.objects.create(issue=issue, deadline=deadline, due_at=due_at)
        except IntegrityError:
            return 0  # another sweep reminded this deadline first
        event_record(
            issue=issue,
            actor=None,
            action=REMIND_ACTIONS[deadline],
            from_status=issue.status,
            to_status=issue.status,
            internal=True,
            data={"due_at": due_at.isoformat(), "department_ids": department_ids, "user_ids": user_ids},
        )
    return 1
