"""Handling by departments and closing the loop: accept, return, resolve, rate, reopen."""

import pytest

from config.errors import InvalidTransition, NotFound, PermissionDenied, StaleVersion, ValidationFailed
from issues import workflow
from issues.models import Dispatch, Issue, Rating
from notifications.models import Notification
from orgs.models import Role
from tests.factories import UserFactory, assert_refused, issue_in_status, last_event, member

pytestmark = pytest.mark.django_db


@pytest.fixture
def joint(make, community_staff, shuiwu):
    """Return a classified issue dispatched to chengguan (lead) and shuiwu."""
    return workflow.issue_dispatch(issue=make("classified"), actor=community_staff, departments=["chengguan", "shuiwu"])


# --- accept -------------------------------------------------------------------------------------------------------


def test_accept_by_the_lead_starts_the_work_and_tells_the_reporter(joint, chengguan_staff, resident):
    issue = workflow.issue_accept(issue=joint, actor=chengguan_staff)

    issue.refresh_from_db()
    assert issue.status == Issue.Status.IN_PROGRESS
    assert issue.accepted_at is not None
    lead = issue.dispatches.get(lead=True)
    assert (lead.status, lead.accepted_at is not None) == ("accepted", True)
    event = last_event(issue)
    assert (event.action, event.from_status, event.to_status, event.data["department"]) == (
        "accept",
        "dispatched",
        "in_progress",
        "chengguan",
    )
    assert Notification.objects.filter(event=event, recipient=resident).exists()


def test_accept_by_a_co_handler_records_it_without_changing_the_status(joint, shuiwu_staff, chengguan_staff):
    issue = workflow.issue_accept(issue=joint, actor=shuiwu_staff)
    assert issue.status == Issue.Status.DISPATCHED
    assert issue.dispatches.get(department__code="shuiwu").status == "accepted"
    event = last_event(issue)
    assert (event.action, event.from_status, event.to_status, event.data["lead"]) == (
        "accept",
        "dispatched",
        "dispatched",
        False,
    )
    # The lead's acceptance still starts the work.
    assert workflow.issue_accept(issue=issue, actor=chengguan_staff).status == Issue.Status.IN_PROGRESS


def test_accept_refused_twice_for_the_same_department(make, chengguan_staff):
    issue = make("in_progress")
    assert_refused(InvalidTransition, lambda: workflow.issue_accept(issue=issue, actor=chengguan_staff), issue)


def test_accept_refused_before_dispatch(make, chengguan_staff, community_staff):
    issue = make("classified")
    # Not dispatched to chengguan: its staff cannot even see it.
    assert_refused(NotFound, lambda: workflow.issue_accept(issue=issue, actor=chengguan_staff), issue)
    assert_refused(PermissionDenied, lambda: workflow.issue_accept(issue=issue, actor=community_staff), issue)


def test_accept_refused_for_a_department_not_dispatched(joint, chengguan_staff, territory):
    from tests.factories import DepartmentFactory

    outsider = member(
        UserFactory(username="zhujian_staff"),
        Role.DEPARTMENT_STAFF,
        department=DepartmentFactory(code="zhujian", district=territory["district"]),
    )
    assert_refused(NotFound, lambda: workflow.issue_accept(issue=joint, actor=outsider), joint)
    # A member of both departments names the one accepting; naming one that is not theirs is refused.
    assert_refused(
        PermissionDenied, lambda: workflow.issue_accept(issue=joint, actor=chengguan_staff, department="shuiwu"), joint
    )


def test_accept_needs_the_department_when_the_caller_belongs_to_several(joint, chengguan_staff, shuiwu):
    member(chengguan_staff, Role.DEPARTMENT_STAFF, department=shuiwu)
    error = assert_refused(ValidationFailed, lambda: workflow.issue_accept(issue=joint, actor=chengguan_staff), joint)
    assert list(error.fields) == ["department"]
    issue = workflow.issue_accept(issue=joint, actor=chengguan_staff, department="shuiwu")
    assert issue.status == Issue.Status.DISPATCHED


def test_accept_refused_with_a_stale_version(joint, chengguan_staff):
    call = lambda: workflow.issue_accept(issue=joint, actor=chengguan_staff, version=joint.version - 1)  # noqa: E731
    assert_refused(StaleVersion, call, joint)


# --- return -------------------------------------------------------------------------------------------------------


def test_return_by_the_lead_retires_the_dispatches_and_tells_triage(joint, chengguan_staff, community_staff):
    issue = workflow.issue_return(issue=joint, actor=chengguan_staff, reason="A water pipe, not ours.")

    issue.refresh_from_db()
    assert issue.status == Issue.Status.CLASSIFIED
    assert not issue.dispatches.filter(active=True).exists()
    lead = issue.dispatches.get(lead=True)
    assert (lead.status, lead.return_reason) == (Dispatch.Status.RETURNED, "A water pipe, not ours.")
    event = last_event(issue)
    assert (event.action, event.from_status, event.to_status, event.note) == (
        "return",
        "dispatched",
        "classified",
        "A water pipe, not ours.",
    )
    assert Notification.objects.filter(event=event, recipient=community_staff).exists()


def test_return_refused_for_a_co_handler(joint, shuiwu_staff):
    call = lambda: workflow.issue_return(issue=joint, actor=shuiwu_staff, reason="Not ours.")  # noqa: E731
    assert_refused(PermissionDenied, call, joint)


def test_return_refused_for_community_staff(joint, community_staff):
    call = lambda: workflow.issue_return(issue=joint, actor=community_staff, reason="Not ours.")  # noqa: E731
    assert_refused(PermissionDenied, call, joint)


def test_return_refused_once_accepted(make, chengguan_staff):
    issue = make("in_progress")
    call = lambda: workflow.issue_return(issue=issue, actor=chengguan_staff, reason="Not ours.")  # noqa: E731
    assert_refused(InvalidTransition, call, issue)


def test_return_needs_a_reason(joint, chengguan_staff):
    error = assert_refused(
        ValidationFailed, lambda: workflow.issue_return(issue=joint, actor=chengguan_staff, reason="  "), joint
    )
    assert list(error.fields) == ["reason"]


# --- resolve ------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("who", ["chengguan_staff", "community_staff"])
def test_resolve_by_the_lead_or_community_staff_tells_the_reporter(make, request, resident, who):
    actor = request.getfixturevalue(who)
    issue = workflow.issue_resolve(issue=make("in_progress"), actor=actor, note="Boxes removed.")
    issue.refresh_from_db()
    assert issue.status == Issue.Status.RESOLVED
    assert issue.resolved_at is not None
    event = last_event(issue)
    assert (event.action, event.from_status, event.to_status, event.note) == (
        "resolve",
        "in_progress",
        "resolved",
        "Boxes removed.",
    )
    assert Notification.objects.filter(event=event, recipient=resident).exists()


def test_resolve_refused_for_a_co_handler(joint, chengguan_staff, shuiwu_staff):
    issue = workflow.issue_accept(issue=joint, actor=chengguan_staff)
    issue = workflow.issue_accept(issue=issue, actor=shuiwu_staff)
    call = lambda: workflow.issue_resolve(issue=issue, actor=shuiwu_staff, note="Done.")  # noqa: E731
    assert_refused(PermissionDenied, call, issue)


def test_resolve_refused_before_acceptance(joint, chengguan_staff):
    call = lambda: workflow.issue_resolve(issue=joint, actor=chengguan_staff, note="Done.")  # noqa: E731
    assert_refused(InvalidTransition, call, joint)


def test_resolve_needs_a_note(make, chengguan_staff):
    issue = make("in_progress")
    error = assert_refused(
        ValidationFailed, lambda: workflow.issue_resolve(issue=issue, actor=chengguan_staff, note=""), issue
    )
    assert list(error.fields) == ["note"]


# --- rate ---------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("score", [3, 5])
def test_rate_satisfied_closes_as_rated(make, resident, score):
    issue = workflow.issue_rate(issue=make("resolved"), actor=resident, score=score, comment="Thanks")
    issue.refresh_from_db()
    assert (issue.status, issue.closed_how, issue.reopen_count) == ("closed", "rated", 0)
    assert issue.closed_at is not None
    rating = Rating.objects.get(issue=issue)
    assert (rating.score, rating.comment, rating.rated_by) == (score, "Thanks", resident)
    event = last_event(issue)
    assert (event.action, event.from_status, event.to_status, event.data["score"]) == (
        "rate",
        "resolved",
        "closed",
        score,
    )


@pytest.mark.parametrize("score", [1, 2])
def test_rate_unsatisfied_reopens_to_the_same_departments(make, resident, score, chengguan_staff, community_staff):
    issue = workflow.issue_rate(issue=make("resolved"), actor=resident, score=score)
    issue.refresh_from_db()
    assert (issue.status, issue.reopen_count, issue.closed_how) == ("dispatched", 1, "")
    assert Rating.objects.get(issue=issue).score == score
    lead = issue.dispatches.get(active=True, lead=True)
    assert (lead.department.code, lead.status, lead.accepted_at) == ("chengguan", "pending", None)
    event = last_event(issue)
    assert (event.action, event.from_status, event.to_status) == ("rate", "resolved", "dispatched")
    heard = set(Notification.objects.filter(event=event).values_list("recipient", flat=True))
    assert {chengguan_staff.pk, community_staff.pk} <= heard
    # The department accepts again.
    assert workflow.issue_accept(issue=issue, actor=chengguan_staff).status == Issue.Status.IN_PROGRESS


def test_partner_app_rates_what_it_submitted(territory, community_staff, category, chengguan_staff):
    from orgs.models import PartnerApp

    partner = UserFactory(username="partner_app")
    PartnerApp.objects.create(slug="hotline", name="12345", user=partner, area=territory["district"])
    issue = issue_in_status(
        "resolved",
        reporter=partner,
        place=territory["grid"],
        triage=community_staff,
        category=category,
        handler=chengguan_staff,
        reporter_phone="13812345678",
    )
    assert workflow.issue_rate(issue=issue, actor=partner, score=4).status == Issue.Status.CLOSED


@pytest.mark.parametrize("who", ["community_staff", "chengguan_staff", "street_officer"])
def test_rate_refused_for_anyone_but_the_reporter(make, request, who):
    issue = make("resolved")
    actor = request.getfixturevalue(who)
    assert_refused(PermissionDenied, lambda: workflow.issue_rate(issue=issue, actor=actor, score=5), issue)


def test_rate_by_a_stranger_is_not_found(make, other_resident):
    issue = make("resolved")
    assert_refused(NotFound, lambda: workflow.issue_rate(issue=issue, actor=other_resident, score=5), issue)


def test_rate_refused_before_resolution_and_after_closing(make, resident):
    for status in ("in_progress", "closed"):
        issue = make(status)
        assert_refused(InvalidTransition, lambda i=issue: workflow.issue_rate(issue=i, actor=resident, score=5), issue)


@pytest.mark.parametrize("score", [0, 6, "5", 4.5, True, None])
def test_rate_refuses_a_score_outside_1_to_5(make, resident, score):
    issue = make("resolved")
    error = assert_refused(
        ValidationFailed, lambda: workflow.issue_rate(issue=issue, actor=resident, score=score), issue
    )
    assert list(error.fields) == ["score"]


# --- reopen -------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("status", ["resolved", "closed"])
def test_reopen_by_staff_sends_it_back_to_the_departments(make, community_staff, chengguan_staff, resident, status):
    issue = workflow.issue_reopen(issue=make(status), actor=community_staff, reason="Boxes are back.")
    issue.refresh_from_db()
    assert (issue.status, issue.reopen_count, issue.closed_at, issue.closed_how) == ("dispatched", 1, None, "")
    assert issue.dispatches.get(active=True, lead=True).status == "pending"
    event = last_event(issue)
    assert (event.action, event.from_status, event.to_status, event.note) == (
        "reopen",
        status,
        "dispatched",
        "Boxes are back.",
    )
    heard = set(Notification.objects.filter(event=event).values_list("recipient", flat=True))
    assert {chengguan_staff.pk, resident.pk} <= heard


def test_reopen_refused_while_open(make, community_staff):
    issue = make("in_progress")
    call = lambda: workflow.issue_reopen(issue=issue, actor=community_staff, reason="Again.")  # noqa: E731
    assert_refused(InvalidTransition, call, issue)


def test_reopen_refused_for_the_reporter_and_the_department(make, resident, chengguan_staff):
    issue = make("closed")
    for actor in (resident, chengguan_staff):
        call = lambda a=actor: workflow.issue_reopen(issue=issue, actor=a, reason="Again.")  # noqa: E731
        assert_refused(PermissionDenied, call, issue)


def test_reopen_needs_a_reason(make, community_staff):
    issue = make("closed")
    error = assert_refused(
        ValidationFailed, lambda: workflow.issue_reopen(issue=issue, actor=community_staff, reason=""), issue
    )
    assert list(error.fields) == ["reason"]


def test_accept_takes_as_many_queries_with_one_department_as_with_five(
    make, territory, community_staff, chengguan_staff, settings
):
    settings.GRIDDESK_AUTH_CACHE_SECONDS = 0  # a fresh request reads the scope, as without orgs.auth_cache
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from tests.factories import DepartmentFactory

    counts = []
    for co_handlers in (0, 4):
        others = [
            DepartmentFactory(code=f"co{co_handlers}-{i}", district=territory["district"]) for i in range(co_handlers)
        ]
        issue = workflow.issue_dispatch(
            issue=make("classified"), actor=community_staff, departments=["chengguan", *others], lead="chengguan"
        )
        actor = type(chengguan_staff).objects.get(pk=chengguan_staff.pk)  # a fresh request: scope not cached yet
        with CaptureQueriesContext(connection) as queries:
            workflow.issue_accept(issue=issue, actor=actor)
        counts.append(len(queries))
    assert counts[0] == counts[1]
