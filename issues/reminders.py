"""Deadline reminders: handlers hear of a response deadline 2 hours before it passes, the lead department of a
resolution deadline one working day before; each deadline value is reminded once, however many sweeps run."""

from datetime import datetime, timedelta

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import Exists, OuterRef
from django.utils import timezone

from issues.models import Dispatch, Event, Issue
from issues.sla import add_workdays
from notifications.models import DeadlineReminder
from notifications.outbox import outbox_write
from orgs.models import Membership, Role

Deadline = DeadlineReminder.Deadline


def _not_reminded(deadline: str, field: str):
    return ~Exists(DeadlineReminder.objects.filter(issue_id=OuterRef("pk"), deadline=deadline, due_at=OuterRef(field)))


def reminders_sweep(*, now: datetime | None = None) -> int:
    """Send the reminders that are due now and not yet sent; return how many deadlines were reminded."""
    now = now or timezone.now()
    sent = 0
    # Waiting for acceptance: every department that has not accepted yet.
    response_horizon = now + timedelta(hours=settings.GRIDDESK_RESPONSE_REMINDER_HOURS)
    for issue in Issue.objects.filter(
        _not_reminded(Deadline.RESPONSE, "response_due_at"),
        status=Issue.Status.DISPATCHED,
        response_due_at__gt=now,
        response_due_at__lte=response_horizon,
    ):
        departments = issue.dispatches.filter(active=True, status=Dispatch.Status.PENDING)
        sent += _remind(issue=issue, deadline=Deadline.RESPONSE, due_at=issue.response_due_at, dispatches=departments)
    # Not yet resolved: the lead department, one working day ahead.
    resolution_horizon = add_workdays(start=now, workdays=settings.GRIDDESK_RESOLUTION_REMINDER_WORKDAYS)
    for issue in Issue.objects.filter(
        _not_reminded(Deadline.RESOLUTION, "resolution_due_at"),
        status__in=[Issue.Status.DISPATCHED, Issue.Status.IN_PROGRESS],
        resolution_due_at__gt=now,
        resolution_due_at__lte=resolution_horizon,
    ):
        lead = issue.dispatches.filter(active=True, lead=True)
        sent += _remind(issue=issue, deadline=Deadline.RESOLUTION, due_at=issue.resolution_due_at, dispatches=lead)
    return sent


def _remind(*, issue: Issue, deadline: str, due_at: datetime, dispatches) -> int:
    """Record the reminder of (issue, deadline, due_at) and notify; return 0 when it was already sent."""
    department_ids = [d.department_id for d in dispatches]
    user_ids = list(
        Membership.objects.filter(role=Role.DEPARTMENT_STAFF, department_id__in=department_ids)
        .values_list("user_id", flat=True)
        .distinct()
    )
    with transaction.atomic():
        try:
            with transaction.atomic():
                DeadlineReminder.objects.create(issue=issue, deadline=deadline, due_at=due_at)
        except IntegrityError:
            return 0  # another sweep reminded this deadline first
        event = Event.objects.create(
            issue=issue,
            actor=None,
            action=f"remind_{deadline}",
            from_status=issue.status,
            to_status=issue.status,
            internal=True,
            data={"due_at": due_at.isoformat(), "department_ids": department_ids, "user_ids": user_ids},
        )
        outbox_write(event=event)
    return 1
