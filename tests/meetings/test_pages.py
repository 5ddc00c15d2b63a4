"""The weekly meeting pages: who may open them (scoping: a community its own, a street its own and its communities'),
the flow through plain form posts, refusals on their forms, the print view, and a fixed number of queries."""

import re
from datetime import timedelta
from http import HTTPStatus

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from issues import workflow
from issues.sla import LOCAL_TZ
from meetings import services
from meetings.agenda import monday_of
from meetings.models import Item, Meeting, week_label

pytestmark = pytest.mark.django_db


def signed_in(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def this_monday():
    return monday_of(timezone.now().astimezone(LOCAL_TZ).date())


def url(area, week=None, tail=""):
    return f"/meetings/{area.code}/{week_label(week or this_monday())}/{tail}"


# --- who may open what ----------------------------------------------------------------------------------------------


def test_anonymous_is_sent_to_sign_in(client, territory):
    for path in ("/meetings/", url(territory["community"]), url(territory["community"], tail="print/")):
        response = client.get(path)
        assert response.status_code == HTTPStatus.FOUND
        assert response.url.startswith("/accounts/login/")


@pytest.mark.parametrize("who", ["resident", "chengguan_staff", "grid_worker"])
def test_people_without_a_meeting_role_get_the_friendly_403_and_404_on_any_meeting(who, request, territory):
    client = signed_in(request.getfixturevalue(who))
    response = client.get("/meetings/")
    assert response.status_code == HTTPStatus.FORBIDDEN
    assert 'id="forbidden"' in response.content.decode()
    assert client.get(url(territory["community"])).status_code == HTTPStatus.NOT_FOUND
    assert client.post(url(territory["community"], tail="open/")).status_code == HTTPStatus.NOT_FOUND
    assert not Meeting.objects.exists()


def test_a_community_sees_its_own_meetings_not_its_neighbours_nor_its_streets(
    territory, other_territory, community_staff, other_community_staff
):
    services.meeting_open(area=other_territory["community"], week=this_monday(), actor=other_community_staff)
    client = signed_in(community_staff)
    assert client.get(url(territory["community"])).status_code == HTTPStatus.OK
    for area in (other_territory["community"], territory["street"], territory["grid"]):
        assert client.get(url(area)).status_code == HTTPStatus.NOT_FOUND
        assert client.get(url(area, tail="print/")).status_code == HTTPStatus.NOT_FOUND
    html = client.get("/meetings/").content.decode()
    assert other_territory["community"].name not in html
    choices = re.findall(r'<option value="(\d+)"', html)
    assert choices == [territory["community"].code]


def test_a_street_sees_its_own_and_its_communities_meetings(
    territory, other_territory, street_officer, other_community_staff
):
    services.meeting_open(area=other_territory["community"], week=this_monday(), actor=other_community_staff)
    client = signed_in(street_officer)
    for area in (territory["street"], territory["community"], other_territory["community"]):
        assert client.get(url(area)).status_code == HTTPStatus.OK
    html = client.get("/meetings/").content.decode()
    assert re.findall(r'<option value="(\d+)"', html) == [
        territory["street"].code,
        other_territory["community"].code,
        territory["community"].code,
    ]
    assert 'id="recent-meetings"' in html and other_territory["community"].name in html


@pytest.mark.parametrize("week", ["2026-W60", "2026-49", "bad"])
def test_a_week_that_is_not_an_iso_week_is_404(week, territory, community_staff):
    assert signed_in(community_staff).get(f"/meetings/{territory['community'].code}/{week}/").status_code == 404


def test_the_picker_goes_to_the_meeting_of_the_chosen_area_and_week(territory, community_staff):
    response = signed_in(community_staff).get("/meetings/", {"area": territory["community"].code, "week": "2026-W49"})
    assert response.status_code == HTTPStatus.FOUND
    assert response.url == f"/meetings/{territory['community'].code}/2026-W49/"


# --- the flow --------------------------------------------------------------------------------------------------------


def test_open_add_decide_mark_and_finalise_by_plain_form_posts(make, territory, community_staff, chengguan):
    escalated = make("in_progress")
    workflow.issue_escalate(issue=escalated, actor=community_staff, note="一周无进展。")
    client = signed_in(community_staff)
    page = client.get(url(territory["community"]))
    assert 'id="no-meeting"' in page.content.decode()

    assert client.post(url(territory["community"], tail="open/")).status_code == HTTPStatus.FOUND
    meeting = Meeting.objects.get()
    case = meeting.items.get(source=Item.Source.HARD_CASE)
    html = client.get(url(territory["community"])).content.decode()
    assert f'id="item-{case.pk}"' in html and escalated.number in html

    response = client.post(
        url(territory["community"], tail="items/"), {"add-title": "电动车充电", "add-issues": escalated.number}
    )
    own = meeting.items.get(source=Item.Source.STAFF)
    assert response.url == f"{url(territory['community'])}#item-{own.pk}"
    prefix = f"item-{own.pk}"
    client.post(
        url(territory["community"], tail=f"items/{own.pk}/decide/"),
        {
            f"{prefix}-decision": "城管本周清理",
            f"{prefix}-assignee": "department:chengguan",
            f"{prefix}-due_date": "2026-12-31",
        },
    )
    client.post(url(territory["community"], tail=f"items/{own.pk}/review/"), {"outcome": "done"})
    own.refresh_from_db()
    assert (own.decision, own.assignee_department, str(own.due_date), own.outcome) == (
        "城管本周清理",
        chengguan,
        "2026-12-31",
        "done",
    )

    client.post(url(territory["community"], tail="finalise/"))
    html = client.get(url(territory["community"])).content.decode()
    assert 'id="final-note"' in html
    assert "/decide/" not in html and "/review/" not in html and 'id="add-item"' not in html
    assert html.count("城管本周清理") >= 2  # the item's decision and the record of it
    # A post after finalising changes nothing and says why.
    response = client.post(url(territory["community"], tail="items/"), {"add-title": "迟到的事"}, follow=True)
    assert meeting.items.count() == 2
    assert "finalised" in response.content.decode() or "定稿" in response.content.decode()


def test_a_refused_decision_comes_back_on_its_form_with_the_typed_text(
    territory, community_staff, other_community_staff
):
    meeting = services.meeting_open(area=territory["community"], week=this_monday(), actor=community_staff)
    item = services.item_add(meeting=meeting, actor=community_staff, title="楼道")
    prefix = f"item-{item.pk}"
    response = signed_in(community_staff).post(
        url(territory["community"], tail=f"items/{item.pk}/decide/"),
        {f"{prefix}-decision": "交给别的社区", f"{prefix}-assignee": f"user:{other_community_staff.pk}"},
    )
    assert response.status_code == HTTPStatus.BAD_REQUEST
    html = response.content.decode()
    assert f'id="id_{prefix}-assignee-error"' in html
    assert "交给别的社区" in html
    item.refresh_from_db()
    assert item.decision == ""


def test_an_item_of_another_meeting_is_404(territory, community_staff):
    first = services.meeting_open(area=territory["community"], week=this_monday(), actor=community_staff)
    other = services.meeting_open(
        area=territory["community"], week=this_monday() - timedelta(days=7), actor=community_staff
    )
    item = services.item_add(meeting=other, actor=community_staff, title="上周的事")
    response = signed_in(community_staff).post(
        url(territory["community"], tail=f"items/{item.pk}/review/"), {"outcome": "done"}
    )
    assert response.status_code == HTTPStatus.NOT_FOUND
    assert first.items.count() == 0


# --- the print view --------------------------------------------------------------------------------------------------


def test_the_print_view_is_the_paper_without_the_sites_header(make, territory, community_staff):
    meeting = services.meeting_open(area=territory["community"], week=this_monday(), actor=community_staff)
    services.item_add(meeting=meeting, actor=community_staff, title="电动车充电")
    html = signed_in(community_staff).get(url(territory["community"], tail="print/")).content.decode()
    assert "site-header" not in html and 'class="nav' not in html
    assert "css/meetings-print.css" in html and "电动车充电" in html
    from django.contrib.staticfiles import finders

    css = open(finders.find("css/meetings-print.css"), encoding="utf-8").read()
    assert "@page { size: A4;" in css and "@media print" in css


def test_there_is_no_print_view_of_a_meeting_not_opened(territory, community_staff):
    assert signed_in(community_staff).get(url(territory["community"], tail="print/")).status_code == 404


# --- queries ---------------------------------------------------------------------------------------------------------


def _queries(client, path) -> int:
    with CaptureQueriesContext(connection) as captured:
        assert client.get(path).status_code == HTTPStatus.OK
    return len(captured.captured_queries)


def _meeting_with(n, *, area, place, staff, officer, resident, category, handler) -> None:
    """Give `area` last week's meeting with `n` decided items on rated issues, carried into this week's, plus `n`
    items of staff's own: every kind of row the page reads, `n` times."""
    from tests.factories import issue_in_status

    def rated_issue():
        issue = issue_in_status(
            "resolved", reporter=resident, place=place, triage=staff, category=category, handler=handler
        )
        return workflow.issue_rate(issue=issue, actor=resident, score=2)

    last = services.meeting_open(area=area, week=this_monday() - timedelta(days=7), actor=staff)
    for k in range(n):
        item = services.item_add(meeting=last, actor=staff, title=f"上周第{k}件", issue_numbers=[rated_issue().number])
        services.item_decide(item=item, actor=officer, decision="办", assignee="department:chengguan")
    meeting = services.meeting_open(area=area, week=this_monday(), actor=staff)
    for k in range(n):
        item = services.item_add(meeting=meeting, actor=staff, title=f"第{k}件", issue_numbers=[rated_issue().number])
        services.item_decide(item=item, actor=officer, decision="办", assignee=f"user:{staff.pk}")


@pytest.mark.parametrize("tail", ["", "print/"])
def test_each_page_runs_the_same_queries_for_few_or_many_items_issues_ratings_and_records(
    tail,
    territory,
    other_territory,
    community_staff,
    other_community_staff,
    street_officer,
    resident,
    category,
    chengguan_staff,
    settings,
):
    settings.GRIDDESK_AUTH_CACHE_SECONDS = 0  # each request reads the caller's scope, as without orgs.auth_cache
    common = {"officer": street_officer, "resident": resident, "category": category, "handler": chengguan_staff}
    _meeting_with(1, area=territory["community"], place=territory["building"], staff=community_staff, **common)
    _meeting_with(
        6, area=other_territory["community"], place=other_territory["grid"], staff=other_community_staff, **common
    )
    client = signed_in(street_officer)
    few = _queries(client, url(territory["community"], tail=tail))
    assert _queries(client, url(other_territory["community"], tail=tail)) == few
    assert few <= 14


def test_the_index_runs_the_same_queries_for_few_or_many_meetings(territory, street_officer):
    client = signed_in(street_officer)
    services.meeting_open(area=territory["street"], week=this_monday(), actor=street_officer)
    _queries(client, "/meetings/")  # the first page of a session also remembers its user (accounts.session_user)
    few = _queries(client, "/meetings/")
    for n in range(1, 6):
        services.meeting_open(
            area=territory["community"], week=this_monday() - timedelta(days=7 * n), actor=street_officer
        )
    assert _queries(client, "/meetings/") == few


def test_the_header_links_the_meetings_for_community_staff_and_up_only(
    community_staff, street_officer, grid_worker, resident
):
    for user in (community_staff, street_officer):
        assert signed_in(user).get("/my/").content.decode().count('id="meetings-link"') == 1
    for user in (grid_worker, resident):
        assert 'id="meetings-link"' not in signed_in(user).get("/my/").content.decode()
