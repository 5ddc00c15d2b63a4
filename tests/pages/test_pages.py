"""The pages: the header's unread count, home, the inbox with mark read, its scoping, and signing in."""

from http import HTTPStatus

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from issues.models import Issue
from notifications.models import Channel, Notification
from orgs.models import Role
from tests.factories import issue_in_status, member

pytestmark = pytest.mark.django_db

INBOX = "/inbox/"
PASSWORD = "pw-for-tests-2026"  # tests.factories.UserFactory


def signed_in(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def header_count(response) -> str:
    """Return the unread count the header shows."""
    html = response.content.decode()
    start = html.index('id="unread-count"')
    return html[html.index(">", start) + 1 : html.index("</span>", start)].strip()


def read_at_of(notification) -> object:
    return Notification.objects.get(pk=notification.pk).read_at


def test_header_counts_only_the_users_unread_inbox_messages(resident, other_resident, inbox_row):
    inbox_row(resident, number="GD-1")
    inbox_row(resident, number="GD-2")
    inbox_row(resident, number="GD-3", read_at=timezone.now())
    inbox_row(resident, number="GD-4", channel=Channel.EMAIL)
    inbox_row(other_resident, number="GD-5")
    response = signed_in(resident).get("/my/")
    assert response.status_code == HTTPStatus.OK
    assert header_count(response) == "2"


def test_header_count_is_one_count_query(resident, inbox_row):
    inbox_row(resident)
    client = signed_in(resident)
    with CaptureQueriesContext(connection) as queries:
        client.get("/my/")
    on_notifications = [q["sql"] for q in queries.captured_queries if "notifications_notification" in q["sql"]]
    assert len(on_notifications) == 1
    assert "COUNT(" in on_notifications[0].upper()


def test_anonymous_home_invites_to_sign_in_without_counting(client, resident, inbox_row):
    inbox_row(resident)
    with CaptureQueriesContext(connection) as queries:
        response = client.get("/")
    assert response.status_code == HTTPStatus.OK
    assert b'href="/accounts/login/"' in response.content
    assert b'id="unread-count"' not in response.content
    assert not [q for q in queries.captured_queries if "notifications_notification" in q["sql"]]


def test_home_lists_the_users_visible_issues_newest_first_with_status(resident, other_resident, territory):
    older = issue_in_status("submitted", reporter=resident, place=territory["grid"], title="楼道堆物")
    newer = issue_in_status("submitted", reporter=resident, place=territory["grid"], title="路灯不亮")
    others = issue_in_status("submitted", reporter=other_resident, place=territory["grid"], title="别人的诉求")
    html = signed_in(resident).get("/my/").content.decode()
    assert newer.number in html and older.number in html
    assert html.index(newer.number) < html.index(older.number)
    assert others.number not in html
    assert 'class="status status-submitted">已提交<' in html


def test_home_shows_at_most_twenty_issues(community_staff, resident, territory):
    for n in range(21):
        issue_in_status("submitted", reporter=resident, place=territory["grid"], title=f"第{n}件")
    first = Issue.objects.order_by("created_at").first()
    html = signed_in(community_staff).get("/my/").content.decode()
    assert html.count('class="status status-') == 20
    assert first.number not in html


def test_header_names_the_user_and_their_roles(community_staff, territory):
    member(community_staff, Role.GRID_WORKER, area=territory["grid"])
    html = signed_in(community_staff).get("/my/").content.decode()
    assert 'id="current-user">community_staff<' in html
    assert html.count('class="role"') == 2
    assert "社区工作者" in html and "网格员" in html


def test_header_calls_a_user_without_membership_a_resident(resident):
    html = signed_in(resident).get("/my/").content.decode()
    assert '<span class="role">居民</span>' in html


def test_inbox_lists_own_messages_unread_first_in_chinese(resident, other_resident, inbox_row):
    inbox_row(resident, number="GD-READ", read_at=timezone.now())
    inbox_row(resident, number="GD-UNREAD")
    inbox_row(other_resident, number="GD-OTHER")
    inbox_row(resident, number="GD-EMAIL", channel=Channel.EMAIL)
    response = signed_in(resident).get(INBOX)
    assert response.status_code == HTTPStatus.OK
    html = response.content.decode()
    assert '<strong class="subject">您的诉求 GD-UNREAD 已办结</strong>' in html
    assert "GD-READ" in html
    assert html.index("GD-UNREAD") < html.index("GD-READ")
    assert "GD-OTHER" not in html and "GD-EMAIL" not in html
    assert html.count('class="item unread"') == 1 and html.count('class="item read"') == 1


def test_language_switch_shows_the_inbox_in_english(resident, inbox_row):
    inbox_row(resident, number="GD-1")
    client = signed_in(resident)
    switched = client.post("/i18n/setlang/", {"language": "en", "next": INBOX})
    assert switched.status_code == HTTPStatus.FOUND
    html = client.get(INBOX).content.decode()
    assert "Your report GD-1 was resolved" in html
    assert "Mark read" in html


def test_mark_read_marks_one_and_the_header_count_drops(resident, inbox_row):
    first, second = inbox_row(resident, number="GD-1"), inbox_row(resident, number="GD-2")
    client = signed_in(resident)
    response = client.post(f"/inbox/{first.pk}/read/")
    assert response.status_code == HTTPStatus.FOUND
    assert response["Location"] == INBOX
    assert read_at_of(first) is not None
    assert read_at_of(second) is None
    assert header_count(client.get(INBOX)) == "1"


def test_mark_read_again_keeps_the_first_read_time(resident, inbox_row):
    first_read = timezone.now() - timezone.timedelta(days=1)
    row = inbox_row(resident, read_at=first_read)
    response = signed_in(resident).post(f"/inbox/{row.pk}/read/")
    assert response.status_code == HTTPStatus.FOUND
    assert read_at_of(row) == first_read


def test_mark_read_of_another_users_message_is_not_found_and_changes_nothing(resident, other_resident, inbox_row):
    theirs = inbox_row(other_resident)
    response = signed_in(resident).post(f"/inbox/{theirs.pk}/read/")
    assert response.status_code == HTTPStatus.NOT_FOUND
    assert read_at_of(theirs) is None


def test_mark_read_of_an_email_message_is_not_found_and_changes_nothing(resident, inbox_row):
    email = inbox_row(resident, channel=Channel.EMAIL)
    response = signed_in(resident).post(f"/inbox/{email.pk}/read/")
    assert response.status_code == HTTPStatus.NOT_FOUND
    assert read_at_of(email) is None


def test_mark_read_by_get_is_refused_and_changes_nothing(resident, inbox_row):
    row = inbox_row(resident)
    response = signed_in(resident).get(f"/inbox/{row.pk}/read/")
    assert response.status_code == HTTPStatus.METHOD_NOT_ALLOWED
    assert read_at_of(row) is None


def test_mark_read_without_csrf_token_is_refused_and_changes_nothing(resident, inbox_row):
    row = inbox_row(resident)
    client = Client(enforce_csrf_checks=True)
    client.force_login(resident)
    response = client.post(f"/inbox/{row.pk}/read/")
    assert response.status_code == HTTPStatus.FORBIDDEN
    assert read_at_of(row) is None


def test_mark_all_read_marks_only_the_users_inbox(resident, other_resident, inbox_row):
    mine = [inbox_row(resident, number="GD-1"), inbox_row(resident, number="GD-2")]
    my_email = inbox_row(resident, channel=Channel.EMAIL)
    theirs = inbox_row(other_resident)
    client = signed_in(resident)
    response = client.post("/inbox/read-all/")
    assert response.status_code == HTTPStatus.FOUND
    assert all(read_at_of(n) is not None for n in mine)
    assert read_at_of(my_email) is None
    assert read_at_of(theirs) is None
    page = client.get(INBOX)
    assert header_count(page) == "0"
    assert b'id="mark-all-read"' not in page.content


@pytest.mark.parametrize("method, path", [("get", INBOX), ("post", "/inbox/read-all/")])
def test_anonymous_is_sent_to_sign_in(client, method, path):
    response = getattr(client, method)(path)
    assert response.status_code == HTTPStatus.FOUND
    assert response["Location"] == f"/accounts/login/?next={path}"


def test_anonymous_mark_read_is_sent_to_sign_in_and_changes_nothing(client, resident, inbox_row):
    row = inbox_row(resident)
    response = client.post(f"/inbox/{row.pk}/read/")
    assert response.status_code == HTTPStatus.FOUND
    assert response["Location"].startswith("/accounts/login/?next=")
    assert read_at_of(row) is None


def test_sign_in_leads_to_the_inbox_and_sign_out_home(client, resident, inbox_row):
    inbox_row(resident)
    page = client.get(f"/accounts/login/?next={INBOX}")
    assert page.status_code == HTTPStatus.OK
    signed = client.post("/accounts/login/", {"username": "resident", "password": PASSWORD, "next": INBOX})
    assert signed.status_code == HTTPStatus.FOUND
    assert signed["Location"] == INBOX
    assert header_count(client.get(INBOX)) == "1"
    out = client.post("/accounts/logout/")
    assert out.status_code == HTTPStatus.FOUND
    assert out["Location"] == "/"
    assert client.get(INBOX).status_code == HTTPStatus.FOUND


def test_wrong_password_shows_the_form_again_and_signs_nobody_in(client, resident):
    response = client.post("/accounts/login/", {"username": "resident", "password": "wrong"})
    assert response.status_code == HTTPStatus.OK
    assert b'role="alert"' in response.content
    assert client.get(INBOX).status_code == HTTPStatus.FOUND
