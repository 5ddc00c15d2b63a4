"""Triage by community staff and up: classify, dispatch, reject (with duplicates)."""

from datetime import timedelta

import pytest
from django.utils import timezone

from config.errors import InvalidTransition, NotFound, PermissionDenied, StaleVersion, ValidationFailed
from issues import workflow
from issues.models import Dispatch, Event, Issue
from notifications.models import Notification
from tests.factories import CategoryFactory, assert_refused, issue_in_status

pytestmark = pytest.mark.django_db


# --- classify -----------------------------------------------------------------------------------------------------


def test_classify_from_submitted_sets_category_and_both_deadlines(make, community_staff, category):
    issue = make("submitted")
    before = timezone.now()

    issue = workflow.issue_classify(issue=issue, actor=community_staff, category="stairwell", kind="help", version=1)

    issue.refresh_from_db()
    assert issue.status == Issue.Status.CLASSIFIED
    assert (issue.category, issue.kind, issue.version) == (category, "help", 2)
    assert before + timedelta(hours=24) <= issue.response_due_at <= timezone.now() + timedelta(hours=24)
    assert issue.resolution_due_at >= before + timedelta(days=5)
    event = Event.objects.filter(issue=issue).last()
    assert (event.action, event.from_status, event.to_status, event.actor) == (
        "classify",
        "submitted",
        "classified",
        community_staff,
    )
    assert event.data["category"] == "stairwell"


def test_classify_urgent_shortens_the_deadlines(make, community_staff):
    issue = workflow.issue_classify(issue=make("submitted"), actor=community_staff, category="stairwell", urgent=True)
    assert issue.urgent is True
    assert issue.response_due_at - issue.classified_at == timedelta(hours=2)


def test_classify_may_move_the_issue_to_another_grid_of_the_district(make, community_staff, other_territory):
    issue = workflow.issue_classify(
        issue=make("submitted"), actor=community_staff, category="stairwell", grid=other_territory["grid"].code
    )
    issue.refresh_from_db()
    assert (issue.grid, issue.building) == (other_territory["grid"], None)
    assert (issue.area_path, issue.community_code) == (other_territory["grid"].path, "360702091001")


def test_classify_refused_when_already_classified(make, community_staff):
    issue = make("classified")
    call = lambda: workflow.issue_classify(issue=issue, actor=community_staff, category="stairwell")  # noqa: E731
    assert_refused(InvalidTransition, call, issue, code="invalid_transition")


def test_classify_refused_for_a_grid_worker_who_sees_the_issue(make, grid_worker):
    issue = make("submitted")
    call = lambda: workflow.issue_classify(issue=issue, actor=grid_worker, category="stairwell")  # noqa: E731
    assert_refused(PermissionDenied, call, issue, code="permission_denied")


def test_classify_outside_scope_is_not_found(make, other_community_staff):
    issue = make("submitted")
    call = lambda: workflow.issue_classify(issue=issue, actor=other_community_staff, category="stairwell")  # noqa: E731
    assert_refused(NotFound, call, issue, code="not_found")


def test_classify_refused_for_the_reporter_who_sees_it(make, resident):
    issue = make("submitted")
    call = lambda: workflow.issue_classify(issue=issue, actor=resident, category="stairwell")  # noqa: E731
    assert_refused(PermissionDenied, call, issue, code="permission_denied")


def test_classify_refused_with_a_stale_version(make, community_staff):
    issue = make("submitted")
    call = lambda: workflow.issue_classify(issue=issue, actor=community_staff, category="stairwell", version=0)  # noqa: E731
    assert_refused(StaleVersion, call, issue, code="stale_version")


@pytest.mark.parametrize(
    ("fields", "bad_field"),
    [
        ({"category": None}, "category"),
        ({"category": "no-such"}, "category"),
        ({"category": "stairwell", "kind": "rant"}, "kind"),
        ({"category": "stairwell", "urgent": "yes"}, "urgent"),
        ({"category": "stairwell", "grid": "999999999999999"}, "grid"),
    ],
)
def test_classify_refuses_bad_arguments(make, community_staff, fields, bad_field):
    issue = make("submitted")
    error = assert_refused(
        ValidationFailed,
        lambda: workflow.issue_classify(issue=issue, actor=community_staff, **fields),
        issue,
        code="validation_error",
    )
    assert bad_field in error.fields


def test_classify_refuses_an_inactive_category(make, community_staff, chengguan):
    CategoryFactory(code="retired", department=chengguan, is_active=False)
    issue = make("submitted")
    call = lambda: workflow.issue_classify(issue=issue, actor=community_staff, category="retired")  # noqa: E731
    assert list(assert_refused(ValidationFailed, call, issue, code="validation_error").fields) == ["category"]


# --- dispatch -----------------------------------------------------------------------------------------------------


def test_dispatch_from_classified_records_event_and_notifies_every_department(
    make, community_staff, chengguan, shuiwu, chengguan_staff, shuiwu_staff
):
    issue = make("classified")

    issue = workflow.issue_dispatch(
        issue=issue, actor=community_staff, departments=["shuiwu", "chengguan"], note="Joint handling", version=2
    )

    assert issue.status == Issue.Status.DISPATCHED
    assert issue.version == 3
    assert issue.dispatched_at is not None
    rows = {d.department.code: d for d in issue.dispatches.all()}
    assert set(rows) == {"chengguan", "shuiwu"}
    # The category's department leads when it is among those dispatched.
    assert rows["chengguan"].lead and not rows["shuiwu"].lead
    assert all(d.active and d.status == Dispatch.Status.PENDING for d in rows.values())
    event = Event.objects.filter(issue=issue).last()
    assert (event.action, event.from_status, event.to_status) == ("dispatch", "classified", "dispatched")
    assert (event.note, event.data["lead"]) == ("Joint handling", "chengguan")
    assert set(Notification.objects.filter(event=event, channel="inbox").values_list("recipient", flat=True)) == {
        chengguan_staff.pk,
        shuiwu_staff.pk,
    }


def test_dispatch_names_the_lead_or_takes_the_first(make, community_staff, chengguan, shuiwu):
    issue = workflow.issue_dispatch(
        issue=make("classified"), actor=community_staff, departments=["chengguan", "shuiwu"], lead="shuiwu"
    )
    assert issue.dispatches.get(lead=True).department == shuiwu
    other = CategoryFactory(code="pipes", department=None)
    second = make("submitted")
    second = workflow.issue_classify(issue=second, actor=community_staff, category=other)
    second = workflow.issue_dispatch(issue=second, actor=community_staff, departments=["shuiwu", "chengguan"])
    assert second.dispatches.get(lead=True).department == shuiwu


@pytest.mark.parametrize(
    ("fields", "bad_field"),
    [
        ({"departments": []}, "departments"),
        ({"departments": ["no-such"]}, "departments"),
        ({"departments": ["chengguan"], "lead": "shuiwu"}, "lead"),
    ],
)
def test_dispatch_refuses_bad_arguments(make, community_staff, shuiwu, fields, bad_field):
    issue = make("classified")
    error = assert_refused(
        ValidationFailed,
        lambda: workflow.issue_dispatch(issue=issue, actor=community_staff, **fields),
        issue,
        code="validation_error",
    )
    assert bad_field in error.fields


def test_dispatch_refuses_a_department_of_another_district(make, community_staff):
    from tests.factories import AreaFactory, DepartmentFactory

    DepartmentFactory(code="elsewhere", district=AreaFactory(code="360703", name="南康区"))
    issue = make("classified")
    call = lambda: workflow.issue_dispatch(issue=issue, actor=community_staff, departments=["elsewhere"])  # noqa: E731
    assert list(assert_refused(ValidationFailed, call, issue, code="validation_error").fields) == ["departments"]


def test_dispatch_refused_from_submitted(make, community_staff):
    issue = make("submitted")
    call = lambda: workflow.issue_dispatch(issue=issue, actor=community_staff, departments=["chengguan"])  # noqa: E731
    assert_refused(InvalidTransition, call, issue, code="invalid_transition")


def test_dispatch_refused_for_department_staff(make, community_staff, chengguan_staff, shuiwu_staff):
    issue = make("dispatched")
    issue = workflow.issue_return(issue=issue, actor=chengguan_staff, reason="Not ours: a water pipe.")
    # Still sees it (it was dispatched to chengguan), but may not dispatch.
    call = lambda: workflow.issue_dispatch(issue=issue, actor=chengguan_staff, departments=["chengguan"])  # noqa: E731
    assert_refused(PermissionDenied, call, issue, code="permission_denied")


def test_dispatch_after_a_return_retires_the_old_round(make, community_staff, chengguan_staff, shuiwu):
    issue = workflow.issue_return(issue=make("dispatched"), actor=chengguan_staff, reason="Not ours.")
    issue = workflow.issue_dispatch(issue=issue, actor=community_staff, departments=["shuiwu"])
    assert [(d.department.code, d.active, d.lead) for d in issue.dispatches.order_by("pk")] == [
        ("chengguan", False, True),
        ("shuiwu", True, True),
    ]


# --- reject -------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("status", ["submitted", "classified"])
def test_reject_as_invalid_from_an_untriaged_state_notifies_the_reporter(make, community_staff, resident, status):
    issue = make(status)
    issue = workflow.issue_reject(issue=issue, actor=community_staff, reason="invalid", note="Not a problem.")
    issue.refresh_from_db()
    assert (issue.status, issue.reject_reason, issue.duplicate_of) == ("rejected", "invalid", None)
    assert issue.closed_at is not None
    event = Event.objects.filter(issue=issue).last()
    assert (event.action, event.from_status, event.to_status, event.note) == (
        "reject",
        status,
        "rejected",
        "Not a problem.",
    )
    assert Notification.objects.filter(event=event, recipient=resident).exists()


def test_reject_as_duplicate_links_both_and_both_reporters_hear(
    territory, make, community_staff, resident, other_resident, category
):
    original = make("classified")
    repeat = issue_in_status(
        "submitted", reporter=other_resident, place=territory["grid"], triage=community_staff, category=category
    )

    repeat = workflow.issue_reject(issue=repeat, actor=community_staff, reason="duplicate", duplicate_of=original.pk)

    repeat.refresh_from_db()
    assert (repeat.status, repeat.duplicate_of) == ("rejected", original)
    event = Event.objects.filter(issue=repeat).last()
    assert event.data["duplicate_of"] == str(original.pk)
    heard = set(Notification.objects.filter(event=event).values_list("recipient", flat=True))
    assert {resident.pk, other_resident.pk} <= heard


@pytest.mark.parametrize("target", ["missing", "itself", "rejected", "unseen", "malformed", "not_a_duplicate"])
def test_reject_refuses_a_bad_duplicate_of(make, territory, other_territory, community_staff, resident, target):
    issue = make("submitted")
    reason, duplicate_of = "duplicate", None
    if target == "itself":
        duplicate_of = issue.pk
    elif target == "rejected":
        duplicate_of = make("rejected").pk
    elif target == "unseen":
        duplicate_of = workflow.issue_submit(
            actor=resident, description="Elsewhere, out of reach.", grid=other_territory["grid"].code
        ).pk
    elif target == "malformed":
        duplicate_of = "not-a-uuid"
    elif target == "not_a_duplicate":
        reason, duplicate_of = "invalid", make("submitted").pk
    call = lambda: workflow.issue_reject(  # noqa: E731
        issue=issue, actor=community_staff, reason=reason, duplicate_of=duplicate_of
    )
    assert list(assert_refused(ValidationFailed, call, issue, code="validation_error").fields) == ["duplicate_of"]


def test_reject_refuses_an_unknown_reason(make, community_staff):
    issue = make("submitted")
    call = lambda: workflow.issue_reject(issue=issue, actor=community_staff, reason="boring")  # noqa: E731
    assert list(assert_refused(ValidationFailed, call, issue, code="validation_error").fields) == ["reason"]


def test_reject_refused_once_dispatched(make, community_staff):
    issue = make("dispatched")
    call = lambda: workflow.issue_reject(issue=issue, actor=community_staff, reason="invalid")  # noqa: E731
    assert_refused(InvalidTransition, call, issue, code="invalid_transition")


def test_reject_refused_for_the_reporter(make, resident):
    issue = make("submitted")
    call = lambda: workflow.issue_reject(issue=issue, actor=resident, reason="invalid")  # noqa: E731
    assert_refused(PermissionDenied, call, issue, code="permission_denied")


def test_an_unknown_issue_is_not_found(db, community_staff):
    with pytest.raises(NotFound):
        workflow.issue_reject(issue="00000000-0000-0000-0000-000000000000", actor=community_staff, reason="invalid")
    with pytest.raises(NotFound):
        workflow.issue_reject(issue="garbage", actor=community_staff, reason="invalid")
