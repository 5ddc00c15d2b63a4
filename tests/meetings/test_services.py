"""The weekly meeting's services: the agenda from the week's hard cases, items, decisions, marks, carrying forward,
finalised minutes that refuse every change (and change nothing), and who may meet where."""

from datetime import timedelta

import pytest
from django.utils import timezone, translation

from config.errors import InvalidTransition, NotFound, ValidationFailed
from issues import workflow
from issues.models import Issue
from issues.sla import LOCAL_TZ
from meetings import services
from meetings.agenda import HardCase, assignee_choices, hard_cases, monday_of, rising_categories
from meetings.models import Item, Meeting, Record

pytestmark = pytest.mark.django_db


def this_monday():
    return monday_of(timezone.now().astimezone(LOCAL_TZ).date())


def meeting_state(meeting) -> dict:
    """Everything a meeting write may change, to assert that a refused one changed nothing."""
    return {
        "meeting": Meeting.objects.filter(pk=meeting.pk).values().get(),
        "items": list(Item.objects.filter(meeting=meeting).order_by("pk").values()),
        "links": sorted(Item.issues.through.objects.filter(item__meeting=meeting).values_list("item_id", "issue_id")),
        "records": Record.objects.filter(meeting=meeting).count(),
    }


@pytest.fixture
def hard(make, community_staff, resident):
    """Return issues under the community that are hard cases this week, by reason, and one that is not."""
    escalated = make("in_progress")
    workflow.issue_escalate(issue=escalated, actor=community_staff, note="一周无进展。")
    rated_low = make("resolved")
    workflow.issue_rate(issue=rated_low, actor=resident, score=1)  # reopens it, too
    overdue = make("in_progress")
    Issue.objects.filter(pk=overdue.pk).update(resolution_due_at=timezone.now() - timedelta(hours=1))
    fine = make("closed")
    return {"escalated": escalated, "rated_low": rated_low, "overdue": overdue, "fine": fine}


def test_hard_cases_of_the_week_name_each_reason_and_leave_out_the_rest(hard, territory):
    found = {
        issue.pk: reasons
        for issue, reasons in hard_cases(area=territory["community"], week=this_monday(), now=timezone.now())
    }
    assert found == {
        hard["escalated"].pk: [HardCase.ESCALATED],
        hard["rated_low"].pk: [HardCase.REOPENED, HardCase.RATED_LOW],
        hard["overdue"].pk: [HardCase.OVERDUE],
    }
    # Last week had none of them.
    assert hard_cases(area=territory["community"], week=this_monday() - timedelta(days=7), now=timezone.now()) == []


def test_a_category_rises_when_this_weeks_intake_passes_the_weeks_before(make, territory, category):
    for _ in range(3):
        make("classified")
    rises = rising_categories(area=territory["community"], week=this_monday())
    assert [(r.category.code, r.this_week, r.weekly_before) for r in rises] == [(category.code, 3, 0)]
    # Three a week earlier would make it flat: an issue's created_at moved back one week.
    Issue.objects.update(created_at=timezone.now() - timedelta(days=7))
    assert rising_categories(area=territory["community"], week=this_monday() + timedelta(days=7)) == []


def test_opening_builds_the_agenda_once_and_records_who_opened_it(hard, make, territory, community_staff):
    meeting = services.meeting_open(area=territory["community"], week=this_monday(), actor=community_staff)
    items = list(meeting.items.order_by("position"))
    assert [i.source for i in items] == [Item.Source.HARD_CASE] * 3 + [Item.Source.CATEGORY]
    assert {i.issues.get().pk for i in items[:3]} == {hard["escalated"].pk, hard["rated_low"].pk, hard["overdue"].pk}
    assert [(r.action, r.actor_id, r.data) for r in meeting.records.all()] == [
        (Record.Action.OPEN, community_staff.pk, {"carried": 0, "added": 4})
    ]
    again = services.meeting_open(area=territory["community"], week=this_monday(), actor=community_staff)
    assert again.pk == meeting.pk and again.items.count() == 4 and again.records.count() == 1


def test_refresh_adds_only_the_cases_that_came_up_since(hard, make, territory, community_staff):
    meeting = services.meeting_open(area=territory["community"], week=this_monday(), actor=community_staff)
    later = make("in_progress")
    workflow.issue_escalate(issue=later, actor=community_staff, note="新情况。")
    assert services.meeting_refresh(meeting=meeting, actor=community_staff) == 1
    assert services.meeting_refresh(meeting=meeting, actor=community_staff) == 0
    assert meeting.items.filter(issues=later).count() == 1


def test_staff_add_an_item_linked_to_an_issue_of_the_area_only(
    make, territory, other_territory, community_staff, street_officer
):
    mine = make("in_progress")
    meeting = services.meeting_open(area=territory["community"], week=this_monday(), actor=community_staff)
    item = services.item_add(
        meeting=meeting, actor=community_staff, title="电动车楼道充电", issue_numbers=[mine.number]
    )
    assert (item.source, item.added_by, list(item.issues.all())) == (Item.Source.STAFF, community_staff, [mine])

    from tests.factories import issue_in_status

    elsewhere = issue_in_status("submitted", reporter=street_officer, place=other_territory["grid"])
    before = meeting_state(meeting)
    with pytest.raises(ValidationFailed) as refused, translation.override("en"):
        services.item_add(meeting=meeting, actor=community_staff, title="别处", issue_numbers=[elsewhere.number])
    assert refused.value.fields == {"issues": [f"No issue under this area has the number {elsewhere.number}."]}
    with pytest.raises(ValidationFailed):
        services.item_add(meeting=meeting, actor=community_staff, title="  ")
    assert meeting_state(meeting) == before


def test_a_decision_names_a_department_or_a_person_in_scope_with_a_due_date(
    make, territory, community_staff, street_officer, chengguan, other_community_staff
):
    meeting = services.meeting_open(area=territory["community"], week=this_monday(), actor=community_staff)
    item = services.item_add(meeting=meeting, actor=community_staff, title="消防通道")
    due = this_monday() + timedelta(days=4)
    services.item_decide(
        item=item, actor=street_officer, decision="城管本周清理", assignee="department:chengguan", due_date=due
    )
    item.refresh_from_db()
    assert (item.decision, item.assignee_department, item.assignee_user, item.due_date) == (
        "城管本周清理",
        chengguan,
        None,
        due,
    )
    services.item_decide(item=item, actor=community_staff, decision="社区跟进", assignee=f"user:{community_staff.pk}")
    item.refresh_from_db()
    assert (item.assignee_department, item.assignee_user) == (None, community_staff)
    assert [r.data for r in item.records.filter(action=Record.Action.DECIDE)] == [
        {"decision": "城管本周清理", "assignee": "城管", "due_date": due.isoformat()},
        {"decision": "社区跟进", "assignee": "community_staff", "due_date": None},
    ]
    # The other community's staff are out of this area's scope: not offered, and refused.
    assert other_community_staff not in assignee_choices(area=territory["community"])[1]
    before = meeting_state(meeting)
    for assignee in (f"user:{other_community_staff.pk}", "department:nowhere", "anything"):
        with pytest.raises(ValidationFailed) as refused:
            services.item_decide(item=item, actor=community_staff, decision="x", assignee=assignee)
        assert list(refused.value.fields) == ["assignee"]
    assert meeting_state(meeting) == before


def test_next_weeks_meeting_opens_with_the_items_not_done_until_they_are(make, territory, community_staff, resident):
    issue = make("in_progress")
    week = this_monday() - timedelta(days=7)
    first = services.meeting_open(area=territory["community"], week=week, actor=community_staff)
    done = services.item_add(meeting=first, actor=community_staff, title="已办结的事")
    open_ = services.item_add(meeting=first, actor=community_staff, title="路灯", issue_numbers=[issue.number])
    unmarked = services.item_add(meeting=first, actor=community_staff, title="未评的事")
    services.item_decide(
        item=open_, actor=community_staff, decision="市政修复", assignee="", due_date=week + timedelta(days=3)
    )
    services.item_review(item=done, actor=community_staff, outcome="done")
    services.item_review(item=open_, actor=community_staff, outcome="carried")
    services.meeting_finalise(meeting=first, actor=community_staff)

    second = services.meeting_open(area=territory["community"], week=week + timedelta(days=7), actor=community_staff)
    carried = list(second.items.filter(source=Item.Source.CARRIED).order_by("position"))
    assert [(c.carried_from, c.title, c.decision) for c in carried] == [
        (open_, "路灯", "市政修复"),
        (unmarked, "未评的事", ""),
    ]
    assert list(carried[0].issues.all()) == [issue]
    assert second.records.get().data["carried"] == 2
    # Marked done this time: the third meeting does not see it again; the other one comes back once more.
    services.item_review(item=carried[0], actor=community_staff, outcome="done")
    third = services.meeting_open(area=territory["community"], week=week + timedelta(days=14), actor=community_staff)
    assert [i.carried_from for i in third.items.filter(source=Item.Source.CARRIED)] == [carried[1]]


def test_finalised_minutes_refuse_every_change_and_change_nothing(make, territory, community_staff):
    meeting = services.meeting_open(area=territory["community"], week=this_monday(), actor=community_staff)
    item = services.item_add(meeting=meeting, actor=community_staff, title="楼道")
    services.meeting_finalise(meeting=meeting, actor=community_staff)
    meeting.refresh_from_db()
    assert (meeting.status, meeting.finalised_by) == (Meeting.Status.FINAL, community_staff)
    before = meeting_state(meeting)
    for call in (
        lambda: services.item_add(meeting=meeting, actor=community_staff, title="再加"),
        lambda: services.item_decide(item=item, actor=community_staff, decision="改"),
        lambda: services.item_review(item=item, actor=community_staff, outcome="done"),
        lambda: services.meeting_refresh(meeting=meeting, actor=community_staff),
        lambda: services.meeting_finalise(meeting=meeting, actor=community_staff),
    ):
        with pytest.raises(InvalidTransition):
            call()
    assert meeting_state(meeting) == before


@pytest.mark.parametrize("who", ["other_community_staff", "grid_worker", "chengguan_staff", "resident"])
def test_nobody_outside_the_area_or_without_a_meeting_role_may_open_or_write(who, request, territory, community_staff):
    actor = request.getfixturevalue(who)
    with pytest.raises(NotFound):
        services.meeting_open(area=territory["community"], week=this_monday(), actor=actor)
    meeting = services.meeting_open(area=territory["community"], week=this_monday(), actor=community_staff)
    before = meeting_state(meeting)
    with pytest.raises(NotFound):
        services.item_add(meeting=meeting, actor=actor, title="越权")
    assert meeting_state(meeting) == before


def test_a_street_meets_for_itself_and_its_communities_a_grid_does_not(territory, street_officer):
    for level in ("street", "community"):
        assert services.may_meet(user=street_officer, area=territory[level])
    assert not services.may_meet(user=street_officer, area=territory["grid"])
    with pytest.raises(ValidationFailed):
        services.meeting_open(area=territory["street"], week=this_monday() + timedelta(days=1), actor=street_officer)


def test_a_hard_case_keeps_no_copy_of_the_residents_words(hard, territory, community_staff):
    """Its words are its issue's as they are now: what the retention sweep scrubs is gone from the minutes too."""
    meeting = services.meeting_open(area=territory["community"], week=this_monday(), actor=community_staff)
    item = meeting.items.get(issues=hard["escalated"])
    assert item.title == "" and item.heading == hard["escalated"].description
    Issue.objects.filter(pk=hard["escalated"].pk).update(description="楼道堆物，电话[电话已删除]。")
    item = Item.objects.prefetch_related("issues").get(pk=item.pk)
    assert item.heading == "楼道堆物，电话[电话已删除]。"
    assert not Item.objects.filter(title__contains=hard["escalated"].description[:10]).exists()
