"""Reminders: handlers 2 hours before the response deadline, the lead department a working day before the
resolution deadline; once per deadline value."""

from datetime import timedelta

import pytest
from django.utils import timezone

from issues import workflow
from issues.models import Event
from issues.reminders import reminders_sweep
from issues.sla import add_workdays
from notifications.models import Channel, DeadlineReminder, Notification

pytestmark = pytest.mark.django_db


@pytest.fixture
def make(make, territory):
    """Return the root `make`, placing issues at the grid."""
    return lambda status: make(status, place=territory["grid"])


def reminded(issue) -> list[tuple[str, str]]:
    rows = Notification.objects.filter(issue=issue, channel=Channel.INBOX, kind__startswith="reminder.")
    return sorted((n.recipient.username, n.kind) for n in rows.select_related("recipient"))


def test_response_reminder_reaches_handlers_two_hours_ahead_once(make):
    issue = make("dispatched")
    assert reminders_sweep(now=issue.response_due_at - timedelta(hours=3)) == 0
    assert reminders_sweep(now=issue.response_due_at - timedelta(hours=1, minutes=59)) == 1
    assert reminders_sweep(now=issue.response_due_at - timedelta(hours=1)) == 0
    assert reminded(issue) == [("chengguan_staff", "reminder.response")]
    event = Event.objects.get(issue=issue, action="remind_response")
    assert (event.actor, event.internal) == (None, True)
    assert DeadlineReminder.objects.filter(issue=issue, deadline="response").count() == 1


def test_no_response_reminder_once_accepted(make):
    issue = make("in_progress")
    assert reminders_sweep(now=issue.response_due_at - timedelta(hours=1)) == 0
    assert reminded(issue) == []


def test_resolution_reminder_reaches_the_lead_department_a_working_day_ahead_once(make):
    issue = make("in_progress")
    due = issue.resolution_due_at
    assert reminders_sweep(now=add_workdays(start=due - timedelta(days=10), workdays=1)) == 0  # too early
    assert reminders_sweep(now=due - timedelta(hours=2)) == 1
    assert reminders_sweep(now=due - timedelta(hours=1)) == 0
    assert reminded(issue) == [("chengguan_staff", "reminder.resolution")]


def test_a_moved_deadline_gets_its_own_reminder(make, street_officer):
    issue = make("in_progress")
    assert reminders_sweep(now=issue.resolution_due_at - timedelta(hours=2)) == 1
    issue = workflow.issue_extend(issue=issue, actor=street_officer, workdays=2, reason="Parts on order.")
    issue.refresh_from_db()
    assert reminders_sweep(now=issue.resolution_due_at - timedelta(hours=2)) == 1
    assert DeadlineReminder.objects.filter(issue=issue, deadline="resolution").count() == 2


def test_a_classified_issue_reminds_the_community_staff_who_must_dispatch_it(make):
    issue = make("classified")
    assert reminders_sweep(now=issue.response_due_at - timedelta(hours=1)) == 1
    assert reminded(issue) == [("community_staff", "reminder.response")]


def test_reminder_message_names_the_deadline(make):
    issue = make("dispatched")
    reminders_sweep(now=issue.response_due_at - timedelta(hours=1))
    n = Notification.objects.get(issue=issue, channel=Channel.EMAIL, kind="reminder.response")
    assert n.payload["due"] == timezone.localtime(issue.response_due_at).strftime("%Y-%m-%d %H:%M")
