"""The desk queues (issues.desks): what each tab holds, its order, counts, filters, cursor pages, query counts."""

from datetime import timedelta

import pytest
from django.contrib.auth import get_user_model
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from config.errors import ValidationFailed
from issues import desks, workflow
from issues.desks import desk_counts_forget, desk_department, desk_escalations, desk_triage
from issues.models import Issue

pytestmark = pytest.mark.django_db


def fresh(user):
    """Return the user read again: no scope cached from an earlier call (a new request)."""
    return get_user_model().objects.get(pk=user.pk)


def queries(call) -> int:
    with CaptureQueriesContext(connection) as captured:
        call()
    return len(captured.captured_queries)


def test_triage_lists_new_issues_newest_first_with_counts_and_cursor_pages(make, community_staff, territory):
    issues = [make("submitted", place=territory["grid"], lat=25.825, lng=114.955) for _ in range(3)]
    make("classified")
    page = desk_triage(user=community_staff, size=2)
    assert [r.pk for r in page.rows] == [issues[2].pk, issues[1].pk]
    assert page.counts == {"new": 3, "open": 4}
    rest = desk_triage(user=community_staff, size=2, cursor=page.next_cursor)
    assert [r.pk for r in rest.rows] == [issues[0].pk] and rest.next_cursor is None
    # Three reports at one point: each is beside the other two.
    assert {d.pk for d in page.duplicates[issues[2].pk]} == {issues[0].pk, issues[1].pk}
    assert [r.status for r in desk_triage(user=community_staff, tab="open").rows].count("classified") == 1


def test_triage_filters_and_text_search_narrow_rows_and_counts(make, community_staff):
    make("submitted", description="A burst pipe floods the road.", urgent=True)
    make("submitted", description="Bicycles block the stairwell.")
    page = desk_triage(user=community_staff, params={"q": "pipe"})
    assert [r.description for r in page.rows] == ["A burst pipe floods the road."]
    assert page.counts["new"] == 1
    assert desk_triage(user=community_staff, params={"urgent": "true"}).counts["new"] == 1
    assert desk_triage(user=community_staff, params={"escalated": "true"}).counts["new"] == 0
    assert desk_triage(user=community_staff, params={"channel": "web"}).counts["new"] == 2
    assert desk_triage(user=community_staff, params={"channel": "hotline"}).counts["new"] == 0
    with pytest.raises(ValidationFailed) as refused:
        desk_triage(user=community_staff, params={"status": "nonsense"})
    assert "status" in refused.value.fields
    with pytest.raises(ValidationFailed):
        desk_triage(user=community_staff, cursor="not-a-cursor")


def test_triage_shows_only_the_scope(make, other_community_staff):
    make("submitted")
    assert desk_triage(user=other_community_staff).counts == {"new": 0, "open": 0}


def test_department_tabs_hold_awaiting_in_progress_overdue_and_returned(
    make, chengguan_staff, community_staff, category, shuiwu, shuiwu_staff
):
    awaiting = make("dispatched")
    working = make("in_progress")
    late = make("dispatched")
    Issue.objects.filter(pk=late.pk).update(response_due_at=timezone.now() - timedelta(hours=3))
    returned = make("dispatched")
    workflow.issue_return(issue=returned, actor=chengguan_staff, reason="Not ours.")
    page = desk_department(user=chengguan_staff)
    assert page.counts == {"awaiting": 2, "in_progress": 1, "overdue": 1, "returned": 1}
    # The oldest response deadline first: the late one leads.
    assert [r.pk for r in page.rows] == [late.pk, awaiting.pk] and page.rows[0].overdue
    assert [r.pk for r in desk_department(user=chengguan_staff, tab="in_progress").rows] == [working.pk]
    assert [r.pk for r in desk_department(user=chengguan_staff, tab="returned").rows] == [returned.pk]
    assert desk_department(user=shuiwu_staff).counts == {"awaiting": 0, "in_progress": 0, "overdue": 0, "returned": 0}


def test_escalation_queue_lists_escalated_overdue_extensions_and_supervised(
    make, street_officer, community_staff, chengguan_staff
):
    escalated = make("dispatched")
    workflow.issue_escalate(issue=escalated, actor=community_staff, note="Stuck.")
    late = make("in_progress")
    Issue.objects.filter(pk=late.pk).update(resolution_due_at=timezone.now() - timedelta(days=2))
    asking = make("in_progress")
    workflow.issue_extend(issue=asking, actor=chengguan_staff, workdays=3, reason="Parts.")
    make("dispatched")  # on time, not escalated: not on the street's desk
    page = desk_escalations(user=street_officer)
    assert page.counts == {"escalated": 1, "overdue": 1, "extensions": 1, "supervised": 0}
    assert [r.pk for r in page.rows] == [escalated.pk] and page.rows[0].escalation_level == 1
    overdue = desk_escalations(user=street_officer, tab="overdue").rows
    assert [r.pk for r in overdue] == [late.pk] and overdue[0].late_by >= timedelta(days=2)
    extensions = desk_escalations(user=street_officer, tab="extensions").rows
    assert extensions[0].pending_extension.workdays == 3
    workflow.issue_supervise(issue=late, actor=street_officer, note="Today.")
    assert desk_escalations(user=street_officer, tab="supervised").rows[0].supervised
    workflow.issue_resolve(issue=late, actor=chengguan_staff, note="Done.")
    assert desk_escalations(user=street_officer).counts["supervised"] == 0


@pytest.mark.parametrize(
    ("queue", "actor", "status"),
    [
        (desk_triage, "community_staff", "submitted"),
        (desk_department, "chengguan_staff", "dispatched"),
        (desk_escalations, "street_officer", "dispatched"),
    ],
)
def test_each_queue_reads_a_page_in_the_same_number_of_queries_whatever_its_size(
    request, make, territory, queue, actor, status, django_assert_num_queries, settings
):
    settings.GRIDDESK_AUTH_CACHE_SECONDS = 0  # each fresh user reads its scope, as without orgs.auth_cache
    user = request.getfixturevalue(actor)
    community_staff = request.getfixturevalue("community_staff")
    for _ in range(7):
        issue = make(status, place=territory["grid"], lat=25.825, lng=114.955)
        if queue is desk_escalations:
            workflow.issue_escalate(issue=issue, actor=community_staff, note="Stuck.")
    # Each read as after a change (the triage queue keeps a page until the issues change): the reads compared.
    desk_counts_forget()
    small = queries(lambda: queue(user=fresh(user), size=2))
    desk_counts_forget()
    assert len(queue(user=fresh(user), size=6).rows) == 6
    desk_counts_forget()
    with django_assert_num_queries(small):
        queue(user=fresh(user), size=6)
    cursor = queue(user=fresh(user), size=2).next_cursor
    desk_counts_forget()
    with django_assert_num_queries(small):
        assert len(queue(user=fresh(user), size=2, cursor=cursor).rows) == 2


@pytest.mark.django_db(transaction=True)
def test_a_submission_renews_the_desks_generation_once_when_it_commits_a_change_now_and_then(
    territory, resident, community_staff, category, monkeypatch
):
    # Each renewal noted with whether it ran inside the transaction (now) or after its commit.
    renewed = []
    monkeypatch.setattr(desks, "_bump", lambda: renewed.append(connection.in_atomic_block))
    issue = workflow.issue_submit(actor=resident, description="Rubbish in the stairwell.", grid=territory["grid"].code)
    assert renewed == [False]  # nobody could count it before its commit
    renewed.clear()
    workflow.issue_classify(issue=issue, actor=community_staff, category=category)
    assert renewed == [True, False]
