"""Supervision and notes: escalate (and summon, 吹哨), extend, approve_extension, comment."""

from datetime import timedelta

import pytest

from config.errors import InvalidTransition, NotFound, PermissionDenied, StaleVersion, ValidationFailed
from issues import workflow
from issues.models import ExtensionRequest, Issue
from issues.sla import add_workdays
from notifications.models import Notification
from tests.factories import assert_refused, last_event

pytestmark = pytest.mark.django_db


# --- escalate -----------------------------------------------------------------------------------------------------


def test_escalate_by_community_staff_raises_to_the_street_and_tells_its_officers(make, community_staff, street_officer):
    issue = workflow.issue_escalate(issue=make("dispatched"), actor=community_staff, note="Stuck for a week.")
    issue.refresh_from_db()
    assert (issue.status, issue.escalation_level) == ("dispatched", 1)
    event = last_event(issue)
    assert (event.action, event.from_status, event.to_status, event.note) == (
        "escalate",
        "dispatched",
        "dispatched",
        "Stuck for a week.",
    )
    assert (event.data["from_level"], event.data["to_level"]) == (0, 1)
    assert Notification.objects.filter(event=event, recipient=street_officer).exists()


def test_escalate_by_the_street_summons_departments(make, street_officer, district_admin, shuiwu, shuiwu_staff):
    issue = workflow.issue_escalate(
        issue=make("in_progress"), actor=street_officer, departments=["shuiwu", "chengguan"]
    )
    issue.refresh_from_db()
    assert (issue.status, issue.escalation_level) == ("in_progress", 1)
    summoned = issue.dispatches.get(department=shuiwu)
    assert (summoned.active, summoned.lead, summoned.summoned, summoned.status) == (True, False, True, "pending")
    # chengguan already handles it: no second dispatch.
    assert issue.dispatches.filter(department__code="chengguan").count() == 1
    event = last_event(issue)
    assert event.data["summoned"] == ["shuiwu"]
    assert Notification.objects.filter(event=event, recipient=shuiwu_staff).exists()
    # The summoned department reports in (报到) while the work goes on.
    issue = workflow.issue_accept(issue=issue, actor=shuiwu_staff)
    assert issue.status == Issue.Status.IN_PROGRESS


def test_escalate_twice_reaches_the_district_and_stops_there(make, community_staff, street_officer):
    issue = workflow.issue_escalate(issue=make("submitted"), actor=community_staff)
    issue = workflow.issue_escalate(issue=issue, actor=street_officer)
    assert issue.escalation_level == Issue.EscalationLevel.DISTRICT
    assert_refused(InvalidTransition, lambda: workflow.issue_escalate(issue=issue, actor=street_officer), issue)


def test_summoning_is_refused_for_community_staff(make, community_staff):
    issue = make("dispatched")
    call = lambda: workflow.issue_escalate(issue=issue, actor=community_staff, departments=["shuiwu"])  # noqa: E731
    assert_refused(PermissionDenied, call, issue)


def test_escalate_refused_for_a_department_and_a_resident(make, chengguan_staff, resident):
    issue = make("dispatched")
    for actor in (chengguan_staff, resident):
        assert_refused(PermissionDenied, lambda a=actor: workflow.issue_escalate(issue=issue, actor=a), issue)


@pytest.mark.parametrize("status", ["resolved", "closed", "rejected"])
def test_escalate_refused_once_no_longer_open(make, street_officer, status):
    issue = make(status)
    assert_refused(InvalidTransition, lambda: workflow.issue_escalate(issue=issue, actor=street_officer), issue)


def test_escalate_refuses_an_unknown_department(make, street_officer):
    issue = make("dispatched")
    call = lambda: workflow.issue_escalate(issue=issue, actor=street_officer, departments=["nobody"])  # noqa: E731
    assert list(assert_refused(ValidationFailed, call, issue).fields) == ["departments"]


def test_escalate_refused_with_a_stale_version(make, street_officer):
    issue = make("dispatched")
    call = lambda: workflow.issue_escalate(issue=issue, actor=street_officer, version=1)  # noqa: E731
    assert_refused(StaleVersion, call, issue)


# --- extend and approve_extension ---------------------------------------------------------------------------------


def test_extend_by_the_department_is_a_pending_request_for_the_street(make, chengguan_staff, street_officer):
    issue = make("in_progress")
    due = issue.resolution_due_at
    issue = workflow.issue_extend(issue=issue, actor=chengguan_staff, workdays=3, reason="Waiting for parts.")
    issue.refresh_from_db()
    assert issue.resolution_due_at == due
    request = ExtensionRequest.objects.get(issue=issue)
    assert (request.status, request.workdays, request.department.code) == ("pending", 3, "chengguan")
    event = last_event(issue)
    assert (event.action, event.data["pending"], event.note) == ("extend", True, "Waiting for parts.")
    assert Notification.objects.filter(event=event, recipient=street_officer).exists()


def test_approve_extension_moves_the_deadline_by_working_days_from_the_current_one(
    make, chengguan_staff, street_officer
):
    issue = workflow.issue_extend(issue=make("dispatched"), actor=chengguan_staff, workdays=3)
    due = issue.resolution_due_at

    issue = workflow.issue_approve_extension(issue=issue, actor=street_officer)

    issue.refresh_from_db()
    assert issue.resolution_due_at == add_workdays(start=due, workdays=3)
    request = ExtensionRequest.objects.get(issue=issue)
    assert (request.status, request.decided_by, request.old_due_at, request.new_due_at) == (
        "approved",
        street_officer,
        due,
        issue.resolution_due_at,
    )
    event = last_event(issue)
    assert event.action == "approve_extension"
    assert event.data["workdays"] == 3
    assert event.data["old_due_at"] and event.data["new_due_at"]


def test_extend_by_the_street_applies_at_once(make, street_officer):
    issue = make("in_progress")
    due = issue.resolution_due_at
    issue = workflow.issue_extend(issue=issue, actor=street_officer, workdays=2)
    assert issue.resolution_due_at == add_workdays(start=due, workdays=2)
    assert issue.resolution_due_at > due + timedelta(days=1)
    assert ExtensionRequest.objects.get(issue=issue).status == "approved"
    assert last_event(issue).data["pending"] is False


def test_the_streets_own_extension_settles_a_waiting_request(make, chengguan_staff, street_officer):
    issue = workflow.issue_extend(issue=make("in_progress"), actor=chengguan_staff, workdays=3)
    due = issue.resolution_due_at

    issue = workflow.issue_extend(issue=issue, actor=street_officer, workdays=1)

    assert issue.resolution_due_at == add_workdays(start=due, workdays=1)
    requests = list(ExtensionRequest.objects.filter(issue=issue).order_by("pk").values_list("workdays", "status"))
    assert requests == [(3, "rejected"), (1, "approved")]
    assert last_event(issue).data["superseded_id"] == ExtensionRequest.objects.get(workdays=3).pk
    assert_refused(
        InvalidTransition, lambda: workflow.issue_approve_extension(issue=issue, actor=street_officer), issue
    )


def test_a_second_request_waits_for_the_first(make, chengguan_staff):
    issue = workflow.issue_extend(issue=make("in_progress"), actor=chengguan_staff, workdays=3)
    call = lambda: workflow.issue_extend(issue=issue, actor=chengguan_staff, workdays=1)  # noqa: E731
    assert_refused(InvalidTransition, call, issue)


def test_approve_refused_without_a_pending_request(make, street_officer):
    issue = make("in_progress")
    assert_refused(
        InvalidTransition, lambda: workflow.issue_approve_extension(issue=issue, actor=street_officer), issue
    )


def test_approve_refused_for_community_staff_and_the_department(make, chengguan_staff, community_staff):
    issue = workflow.issue_extend(issue=make("in_progress"), actor=chengguan_staff, workdays=3)
    for actor in (community_staff, chengguan_staff):
        call = lambda a=actor: workflow.issue_approve_extension(issue=issue, actor=a)  # noqa: E731
        assert_refused(PermissionDenied, call, issue)


@pytest.mark.parametrize("workdays", [0, 31, "3", None, True])
def test_extend_refuses_workdays_outside_1_to_30(make, street_officer, workdays):
    issue = make("in_progress")
    call = lambda: workflow.issue_extend(issue=issue, actor=street_officer, workdays=workdays)  # noqa: E731
    assert list(assert_refused(ValidationFailed, call, issue).fields) == ["workdays"]


def test_extend_refused_for_community_staff(make, community_staff):
    issue = make("in_progress")
    assert_refused(
        PermissionDenied, lambda: workflow.issue_extend(issue=issue, actor=community_staff, workdays=2), issue
    )


@pytest.mark.parametrize("status", ["classified", "resolved"])
def test_extend_refused_outside_handling(make, street_officer, status):
    issue = make(status)
    assert_refused(
        InvalidTransition, lambda: workflow.issue_extend(issue=issue, actor=street_officer, workdays=2), issue
    )


# --- comment ------------------------------------------------------------------------------------------------------


def test_comment_by_the_reporter_records_a_note_without_changing_the_issue(make, resident):
    issue = make("in_progress")
    before = Issue.objects.values().get(pk=issue.pk)
    event = workflow.issue_comment(issue=issue, actor=resident, text="It is blocking the fire exit too.")
    assert Issue.objects.values().get(pk=issue.pk) == before
    assert (event.action, event.actor, event.note, event.internal) == (
        "comment",
        resident,
        "It is blocking the fire exit too.",
        False,
    )
    assert (event.from_status, event.to_status) == ("in_progress", "in_progress")


def test_internal_comment_by_staff(make, chengguan_staff):
    event = workflow.issue_comment(
        issue=make("in_progress"), actor=chengguan_staff, text="Truck on Monday.", internal=True
    )
    assert event.internal is True


def test_internal_comment_refused_for_the_reporter(make, resident):
    issue = make("in_progress")
    call = lambda: workflow.issue_comment(issue=issue, actor=resident, text="Secret", internal=True)  # noqa: E731
    assert_refused(PermissionDenied, call, issue)


def test_comment_refused_when_empty_or_unseen(make, resident, other_resident):
    issue = make("submitted")
    assert_refused(ValidationFailed, lambda: workflow.issue_comment(issue=issue, actor=resident, text=" "), issue)
    assert_refused(NotFound, lambda: workflow.issue_comment(issue=issue, actor=other_resident, text="Hi"), issue)


def test_comment_refused_with_a_stale_version_and_leaves_the_version(make, resident):
    issue = make("submitted")
    call = lambda: workflow.issue_comment(issue=issue, actor=resident, text="Any news?", version=0)  # noqa: E731
    assert_refused(StaleVersion, call, issue)
    workflow.issue_comment(issue=issue, actor=resident, text="Any news?", version=issue.version)
    assert Issue.objects.get(pk=issue.pk).version == issue.version
