"""Oversight by the street office: supervise (督办) and refuse an extension request."""

import pytest

from config.errors import InvalidTransition, PermissionDenied, StaleVersion, ValidationFailed
from issues import workflow
from issues.models import ExtensionRequest
from issues.selectors import issue_open_supervision
from notifications.models import Notification
from tests.factories import assert_refused, last_event

pytestmark = pytest.mark.django_db


# --- supervise ----------------------------------------------------------------------------------------------------


def test_supervise_records_the_instruction_and_reminds_departments_and_community(
    make, street_officer, community_staff, chengguan_staff
):
    issue = make("in_progress")
    version = issue.version
    issue = workflow.issue_supervise(issue=issue, actor=street_officer, note="Clear it before Friday.", version=version)
    issue.refresh_from_db()
    event = last_event(issue)
    assert (event.action, event.from_status, event.to_status, event.note, event.internal) == (
        "supervise",
        "in_progress",
        "in_progress",
        "Clear it before Friday.",
        False,
    )
    assert issue.version == version + 1
    told = set(Notification.objects.filter(event=event, kind="issue.supervised").values_list("recipient", flat=True))
    assert told == {chengguan_staff.pk, community_staff.pk}
    assert issue_open_supervision(issue=issue) == event


def test_a_supervision_stays_open_through_comments_and_is_handled_by_the_next_resolve(
    make, street_officer, chengguan_staff
):
    issue = make("in_progress")
    workflow.issue_supervise(issue=issue, actor=street_officer, note="Please hurry.")
    workflow.issue_comment(issue=issue, actor=chengguan_staff, text="On our way.")
    assert issue_open_supervision(issue=issue).note == "Please hurry."
    workflow.issue_resolve(issue=issue, actor=chengguan_staff, note="Cleared.")
    assert issue_open_supervision(issue=issue) is None


def test_an_accept_handles_the_supervision_of_a_dispatched_issue(make, street_officer, chengguan_staff):
    issue = make("dispatched")
    workflow.issue_supervise(issue=issue, actor=street_officer, note="Accept it today.")
    workflow.issue_accept(issue=issue, actor=chengguan_staff)
    assert issue_open_supervision(issue=issue) is None
    workflow.issue_supervise(issue=issue, actor=street_officer, note="And resolve it.")
    assert issue_open_supervision(issue=issue).note == "And resolve it."


def test_community_staff_may_not_supervise(make, community_staff):
    issue = make("in_progress")
    assert_refused(
        PermissionDenied, lambda: workflow.issue_supervise(issue=issue, actor=community_staff, note="x"), issue
    )


def test_supervise_needs_a_note_an_open_issue_and_the_current_version(make, street_officer):
    issue = make("in_progress")
    assert_refused(
        ValidationFailed, lambda: workflow.issue_supervise(issue=issue, actor=street_officer, note=" "), issue
    )
    assert_refused(
        StaleVersion,
        lambda: workflow.issue_supervise(issue=issue, actor=street_officer, note="x", version=issue.version - 1),
        issue,
    )
    resolved = make("resolved")
    assert_refused(
        InvalidTransition, lambda: workflow.issue_supervise(issue=resolved, actor=street_officer, note="x"), resolved
    )


# --- refuse an extension ------------------------------------------------------------------------------------------


def test_refuse_extension_keeps_the_deadline_and_tells_the_requesting_department(make, street_officer, chengguan_staff):
    issue = make("in_progress")
    workflow.issue_extend(issue=issue, actor=chengguan_staff, workdays=3, reason="Parts on order.")
    issue.refresh_from_db()
    due = issue.resolution_due_at
    issue = workflow.issue_refuse_extension(issue=issue, actor=street_officer, reason="Not needed.")
    issue.refresh_from_db()
    assert issue.resolution_due_at == due
    request = ExtensionRequest.objects.get(issue=issue)
    assert (request.status, request.decided_by) == (ExtensionRequest.Status.REJECTED, street_officer)
    event = last_event(issue)
    assert (event.action, event.note, event.data["extension_id"]) == ("refuse_extension", "Not needed.", request.pk)
    refused = Notification.objects.filter(event=event, kind="issue.extension_refused")
    assert set(refused.values_list("recipient", flat=True)) == {chengguan_staff.pk}
    # The department may ask again.
    workflow.issue_extend(issue=issue, actor=chengguan_staff, workdays=2, reason="Rain.")
    assert ExtensionRequest.objects.filter(issue=issue, status="pending").count() == 1


def test_refuse_without_a_pending_request_is_an_invalid_transition(make, street_officer):
    issue = make("in_progress")
    assert_refused(InvalidTransition, lambda: workflow.issue_refuse_extension(issue=issue, actor=street_officer), issue)


def test_a_department_may_not_refuse_its_own_request(make, chengguan_staff):
    issue = make("in_progress")
    workflow.issue_extend(issue=issue, actor=chengguan_staff, workdays=3, reason="Parts.")
    assert_refused(PermissionDenied, lambda: workflow.issue_refuse_extension(issue=issue, actor=chengguan_staff), issue)


def test_the_offered_actions_include_refuse_and_supervise_exactly_when_allowed(make, street_officer, chengguan_staff):
    issue = make("in_progress")
    offered = workflow.issue_actions_for(issue=issue, actor=street_officer)
    assert "supervise" in offered and "refuse_extension" not in offered
    workflow.issue_extend(issue=issue, actor=chengguan_staff, workdays=3, reason="Parts.")
    assert "refuse_extension" in workflow.issue_actions_for(issue=issue, actor=street_officer)
    assert "supervise" not in workflow.issue_actions_for(issue=issue, actor=chengguan_staff)
