"""/follow/: an issue number and the phone it was reported with open that issue's page and let its reporter rate;
wrong pairs are answered alike whether or not the number exists, and locked after five in fifteen minutes."""

from http import HTTPStatus

import pytest
from django.test import Client

from issues import workflow
from issues.follow import FOLLOW_WRONG_LIMIT
from issues.models import Event, Issue, Rating
from tests.factories import issue_state

pytestmark = pytest.mark.django_db

PHONE = "13800138000"
NEUTRAL = "没有与该编号和手机号相符的诉求"


@pytest.fixture
def anonymous_issue(territory, community_staff, category, chengguan_staff):
    """Return a function driving an issue reported without an account (phone only) to a status."""

    def build(status="resolved", phone=PHONE):
        issue = workflow.issue_submit(
            actor=None,
            description="路灯坏了一个星期",
            grid=territory["grid"].code,
            reporter_name="刘阿姨",
            reporter_phone=phone,
        )
        order = ["submitted", "classified", "dispatched", "in_progress", "resolved"]
        steps = {
            "classified": lambda i: workflow.issue_classify(issue=i, actor=community_staff, category=category),
            "dispatched": lambda i: workflow.issue_dispatch(issue=i, actor=community_staff, departments=["chengguan"]),
            "in_progress": lambda i: workflow.issue_accept(issue=i, actor=chengguan_staff),
            "resolved": lambda i: workflow.issue_resolve(issue=i, actor=chengguan_staff, note="已更换灯泡。"),
        }
        for step in order[1 : order.index(status) + 1]:
            issue = steps[step](issue)
        return issue

    return build


def follow(client, number, phone=PHONE, **extra):
    return client.post("/follow/", {"number": number, "phone": phone}, **extra)


def test_the_follow_form_is_labelled_number_and_phone_with_a_follow_button(client):
    client.cookies["django_language"] = "en"
    html = client.get("/follow/").content.decode()
    assert '<label for="id_number">Number</label>' in html
    assert '<label for="id_phone">Phone</label>' in html
    assert '<button type="submit" class="primary">Follow</button>' in html


def test_a_right_pair_opens_the_issue_page_for_that_issue_only(client, anonymous_issue):
    issue, other = anonymous_issue(), anonymous_issue(phone="13900139000")
    response = follow(client, issue.number.lower(), phone="138-0013-8000")
    assert response.status_code == HTTPStatus.FOUND
    assert response["Location"] == f"/follow/{issue.number}/"
    html = client.get(response["Location"]).content.decode()
    assert issue.number in html and "已更换灯泡。" in html
    assert "刘阿姨 · 13800138000" in html  # the reporter reads themselves unmasked
    assert 'id="id_rating"' in html
    assert client.get(f"/follow/{other.number}/").status_code == HTTPStatus.NOT_FOUND
    assert client.get(f"/issues/{issue.number}/").status_code == HTTPStatus.FOUND  # the scoped page: sign in


def test_a_page_without_a_grant_is_not_found(client, anonymous_issue):
    issue = anonymous_issue()
    assert client.get(f"/follow/{issue.number}/").status_code == HTTPStatus.NOT_FOUND
    before = issue_state(issue)
    assert client.post(f"/follow/{issue.number}/rate/", {"rating": "5"}).status_code == HTTPStatus.NOT_FOUND
    assert issue_state(issue) == before


def test_a_wrong_phone_and_an_unknown_number_get_the_same_answer(client, anonymous_issue):
    issue = anonymous_issue()
    wrong_phone = follow(client, issue.number, phone="13912345678")
    unknown = follow(client, "GD-20991231-99999")
    assert wrong_phone.status_code == unknown.status_code == HTTPStatus.BAD_REQUEST
    alerts = []
    for response in (wrong_phone, unknown):
        html = response.content.decode()
        assert NEUTRAL in html
        alerts.append(html[html.index('role="alert"') : html.index("</div>", html.index('role="alert"'))])
    assert alerts[0] == alerts[1]


def test_an_issue_reported_without_a_phone_is_never_followed(client, make):
    issue = make("resolved")  # reported by an account, no phone given
    assert follow(client, issue.number, phone="").status_code == HTTPStatus.BAD_REQUEST
    assert follow(client, issue.number, phone="0").status_code == HTTPStatus.BAD_REQUEST


def test_empty_fields_are_refused_beside_each_field_and_the_number_is_kept(client):
    response = client.post("/follow/", {"number": "GD-20261122-00001", "phone": ""})
    assert response.status_code == HTTPStatus.BAD_REQUEST
    html = response.content.decode()
    assert 'id="id_phone-error"' in html and 'aria-describedby="id_phone_helptext id_phone-error"' in html
    assert 'value="GD-20261122-00001"' in html


def test_five_wrong_pairs_from_an_address_lock_it_even_for_a_right_pair(client, anonymous_issue):
    issue = anonymous_issue()
    for n in range(FOLLOW_WRONG_LIMIT):
        assert follow(client, f"GD-20991231-{n:05d}").status_code == HTTPStatus.BAD_REQUEST
    locked = follow(client, issue.number)
    assert locked.status_code == HTTPStatus.TOO_MANY_REQUESTS
    assert "15 分钟后再试" in locked.content.decode()
    assert follow(Client(REMOTE_ADDR="10.0.0.9"), issue.number).status_code == HTTPStatus.FOUND


def test_five_wrong_pairs_for_a_number_lock_that_number_from_every_address(anonymous_issue):
    issue = anonymous_issue()
    for n in range(FOLLOW_WRONG_LIMIT):
        assert follow(Client(REMOTE_ADDR=f"10.0.1.{n}"), issue.number, phone="13912345678").status_code == 400
    assert follow(Client(REMOTE_ADDR="10.0.2.1"), issue.number).status_code == HTTPStatus.TOO_MANY_REQUESTS


@pytest.mark.parametrize("score, status", [(4, Issue.Status.CLOSED), (2, Issue.Status.DISPATCHED)])
def test_the_follower_rates_through_the_workflow_and_the_event_says_so(client, anonymous_issue, score, status):
    issue = anonymous_issue()
    follow(client, issue.number)
    response = client.post(f"/follow/{issue.number}/rate/", {"rating": str(score), "comment": "谢谢"})
    assert response.status_code == HTTPStatus.FOUND
    assert response["Location"] == f"/follow/{issue.number}/"
    assert Issue.objects.get(pk=issue.pk).status == status
    event = Event.objects.filter(issue=issue, action="rate").get()
    assert event.actor_id is None and event.data["via"] == "follow" and event.data["score"] == score
    rating = Rating.objects.get(issue=issue)
    assert rating.via == Rating.Via.FOLLOW and rating.rated_by_id is None


def test_a_bad_rating_from_the_follow_page_keeps_the_comment(client, anonymous_issue):
    issue = anonymous_issue()
    follow(client, issue.number)
    before = issue_state(issue)
    response = client.post(f"/follow/{issue.number}/rate/", {"rating": "9", "comment": "灯还是不亮"})
    assert response.status_code == HTTPStatus.BAD_REQUEST
    assert 'id="id_rating-error"' in response.content.decode() and "灯还是不亮</textarea>" in response.content.decode()
    assert issue_state(issue) == before


def test_no_rating_form_for_a_follower_before_the_issue_is_resolved(client, anonymous_issue):
    issue = anonymous_issue("in_progress")
    follow(client, issue.number)
    html = client.get(f"/follow/{issue.number}/").content.decode()
    assert 'id="id_rating"' not in html and "办理中" in html


def test_a_rating_by_a_wrong_phone_is_not_found_in_the_workflow(anonymous_issue):
    from config.errors import NotFound
    from tests.factories import assert_refused

    issue = anonymous_issue()
    assert_refused(
        NotFound, lambda: workflow.issue_rate(issue=issue, actor=None, score=5, reporter_phone="13912345678"), issue
    )


# --- the return visit (回访) ------------------------------------------------------------------------------------------


def signed_in(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def test_staff_record_a_return_visit_for_a_reporter_without_an_account(anonymous_issue, community_staff):
    issue = anonymous_issue()
    client = signed_in(community_staff)
    html = client.get(f"/issues/{issue.number}/").content.decode()
    assert 'id="return-visit"' in html
    response = client.post(f"/issues/{issue.number}/return-visit/", {"rating": "5", "comment": "电话回访：满意"})
    assert response.status_code == HTTPStatus.FOUND
    event = Event.objects.filter(issue=issue, action="rate").get()
    assert event.actor_id == community_staff.pk and event.data["return_visit"] is True
    assert Issue.objects.get(pk=issue.pk).status == Issue.Status.CLOSED
    assert Rating.objects.get(issue=issue).via == Rating.Via.RETURN_VISIT


def test_no_return_visit_for_a_reporter_with_an_account_nor_for_department_staff(
    make, anonymous_issue, community_staff, chengguan_staff
):
    with_account = make("resolved")
    assert 'id="return-visit"' not in signed_in(community_staff).get(f"/issues/{with_account.number}/").content.decode()
    before = issue_state(with_account)
    response = signed_in(community_staff).post(f"/issues/{with_account.number}/return-visit/", {"rating": "5"})
    assert response.status_code == HTTPStatus.FORBIDDEN
    assert issue_state(with_account) == before
    issue = anonymous_issue()
    assert 'id="return-visit"' not in signed_in(chengguan_staff).get(f"/issues/{issue.number}/").content.decode()


def test_a_return_visit_without_a_rating_is_refused_beside_the_field(anonymous_issue, community_staff):
    issue = anonymous_issue()
    before = issue_state(issue)
    response = signed_in(community_staff).post(f"/issues/{issue.number}/return-visit/", {"comment": "没接电话"})
    assert response.status_code == HTTPStatus.BAD_REQUEST
    html = response.content.decode()
    assert 'id="id_rating-error"' in html and "没接电话</textarea>" in html
    assert issue_state(issue) == before


def test_a_rating_row_written_without_the_via_column_reads_as_the_reporters_own(make, resident):
    """Raw SQL writers (bench) and code older than the columns still insert: the database fills the defaults."""
    from django.db import connection
    from django.utils import timezone

    issue = make("resolved")
    with connection.cursor() as cursor:
        cursor.execute(
            "INSERT INTO issues_rating (issue_id, score, comment, rated_by_id, created_at) VALUES (%s, 4, '', %s, %s)",
            [issue.pk.hex if connection.vendor == "sqlite" else issue.pk, resident.pk, timezone.now()],
        )
    assert Rating.objects.get(issue=issue).via == Rating.Via.REPORTER
