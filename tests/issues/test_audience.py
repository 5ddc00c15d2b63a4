"""Who hears what (issues.audience): every Event.Action is heard by someone or is explicitly silent."""

from datetime import timedelta

import pytest
from django.conf import settings

from issues import workflow
from issues.audience import SILENT_ACTIONS, audience_for
from issues.models import Event, Issue, Notice, WebhookType
from issues.reminders import reminders_sweep
from issues.retention import retention_sweep
from notifications.models import Notification
from tests.factories import issue_in_status

pytestmark = pytest.mark.django_db
A = Event.Action


@pytest.fixture
def drive(make, territory, resident, community_staff, chengguan_staff, street_officer):
    """Return a function that makes an issue of the resident and records one `action` on it the way the code does."""

    def at_grid(status):
        return make(status, place=territory["grid"])

    def escalate():
        return workflow.issue_escalate(issue=at_grid("dispatched"), actor=community_staff, note="Two weeks now.")

    def extend():
        return workflow.issue_extend(issue=at_grid("in_progress"), actor=chengguan_staff, workdays=2, reason="Parts.")

    def auto_close():
        issue = at_grid("resolved")
        days = settings.GRIDDESK_AUTO_CLOSE_DAYS
        return workflow.issue_auto_close(issue=issue, now=issue.resolved_at + timedelta(days=days, hours=1))

    def remind(status, deadline):
        issue = at_grid(status)
        reminders_sweep(now=getattr(issue, f"{deadline}_due_at") - timedelta(hours=1))
        return issue

    def retention():
        issue = at_grid("closed")
        retention_sweep(now=issue.closed_at + timedelta(days=settings.GRIDDESK_RETENTION_DAYS + 1))
        return issue

    scenarios = {
        A.SUBMIT: lambda: at_grid("submitted"),
        A.CLASSIFY: lambda: at_grid("classified"),
        A.DISPATCH: lambda: at_grid("dispatched"),
        A.ACCEPT: lambda: at_grid("in_progress"),
        A.RETURN: lambda: workflow.issue_return(issue=at_grid("dispatched"), actor=chengguan_staff, reason="Water."),
        A.RESOLVE: lambda: at_grid("resolved"),
        A.RATE: lambda: at_grid("closed"),
        A.REOPEN: lambda: workflow.issue_reopen(issue=at_grid("closed"), actor=community_staff, reason="Back."),
        A.REJECT: lambda: at_grid("rejected"),
        A.ESCALATE: escalate,
        A.EXTEND: extend,
        A.APPROVE_EXTENSION: lambda: workflow.issue_approve_extension(issue=extend(), actor=street_officer),
        A.REFUSE_EXTENSION: lambda: workflow.issue_refuse_extension(issue=extend(), actor=street_officer, reason="No."),
        A.SUPERVISE: lambda: workflow.issue_supervise(issue=at_grid("dispatched"), actor=street_officer, note="Now."),
        A.COMMENT: lambda: workflow.issue_comment(issue=at_grid("dispatched"), actor=resident, text="Any news?").issue,
        A.AUTO_CLOSE: auto_close,
        A.REMIND_RESPONSE: lambda: remind("dispatched", "response"),
        A.REMIND_RESOLUTION: lambda: remind("in_progress", "resolution"),
        A.RETENTION: retention,
        A.SET_PRIVACY: lambda: workflow.issue_set_privacy(
            issue=at_grid("classified"), actor=community_staff, private=True, note="邻里纠纷"
        ),
    }

    def run(action) -> Event:
        issue = scenarios[action]()
        return Event.objects.filter(issue=issue, action=action).latest("at", "id")

    run.actions = set(scenarios)
    return run


def test_every_event_action_has_a_scenario_here(drive):
    assert drive.actions == set(A)


@pytest.mark.parametrize("action", list(A))
def test_every_action_is_heard_by_someone_or_explicitly_silent(drive, action):
    event = drive(action)
    audience = audience_for(event)
    heard = bool(audience.recipients) or audience.webhook_type is not None
    assert heard == (action not in SILENT_ACTIONS)
    if action in SILENT_ACTIONS:
        assert not Notification.objects.filter(event=event).exists()
    assert event.actor_id not in audience.recipients or event.actor_id is None


def test_the_audience_speaks_in_notices(drive, resident, community_staff, chengguan_staff):
    assert audience_for(drive(A.SUBMIT)).recipients == {community_staff.pk: Notice.SUBMITTED}
    assert audience_for(drive(A.DISPATCH)).recipients == {chengguan_staff.pk: Notice.DISPATCHED}
    assert audience_for(drive(A.RESOLVE)).recipients == {resident.pk: Notice.RESOLVED}
    assert audience_for(drive(A.RETURN)).recipients == {community_staff.pk: Notice.RETURNED}
    assert audience_for(drive(A.REMIND_RESPONSE)).recipients == {chengguan_staff.pk: Notice.REMINDER_RESPONSE}


def test_partners_hear_of_creation_escalation_and_status_changes_only(drive):
    assert audience_for(drive(A.SUBMIT)).webhook_type == WebhookType.CREATED
    assert audience_for(drive(A.ESCALATE)).webhook_type == WebhookType.ESCALATED
    assert audience_for(drive(A.CLASSIFY)).webhook_type == WebhookType.STATUS_CHANGED
    assert audience_for(drive(A.EXTEND)).webhook_type is None
    assert audience_for(drive(A.REMIND_RESOLUTION)).webhook_type is None


def test_summoned_departments_are_read_from_the_one_key_the_workflow_writes(
    make, territory, street_officer, shuiwu, shuiwu_staff
):
    issue = make("dispatched", place=territory["grid"])
    workflow.issue_escalate(issue=issue, actor=street_officer, departments=[shuiwu.code])
    event = Event.objects.filter(issue=issue, action=A.ESCALATE).get()
    assert event.data["department_ids"] == [shuiwu.pk]
    # The street officer summoned them: they hear it as a summons, the actor hears nothing.
    assert audience_for(event).recipients == {shuiwu_staff.pk: Notice.SUMMONED}


def test_a_department_request_for_more_time_reaches_the_street_office(drive, street_officer):
    assert audience_for(drive(A.EXTEND)).recipients == {street_officer.pk: Notice.EXTENSION_REQUESTED}


def test_each_duplicate_reporter_hears_about_their_own_report(
    territory, resident, other_resident, community_staff, category, chengguan_staff
):
    original = issue_in_status(
        "in_progress",
        reporter=resident,
        place=territory["grid"],
        triage=community_staff,
        category=category,
        handler=chengguan_staff,
    )
    duplicate = issue_in_status("submitted", reporter=other_resident, place=territory["grid"])
    workflow.issue_reject(issue=duplicate, actor=community_staff, reason="duplicate", duplicate_of=original)
    linked = Event.objects.filter(issue=duplicate, action=A.REJECT).get()
    told = audience_for(linked)
    assert told.recipients == {other_resident.pk: Notice.REJECTED, resident.pk: Notice.DUPLICATE_LINKED}
    assert told.about == {resident.pk: Issue.objects.get(pk=original.pk)}

    workflow.issue_resolve(issue=original, actor=chengguan_staff, note="Cleared.")
    resolved = Event.objects.filter(issue=original, action=A.RESOLVE).get()
    told = audience_for(resolved)
    assert told.recipients == {resident.pk: Notice.RESOLVED, other_resident.pk: Notice.DUPLICATE_RESOLVED}
    assert told.about == {other_resident.pk: Issue.objects.get(pk=duplicate.pk)}
