"""The page layer and the issue page: landing by role, scoping (404), the timeline as residents read it, the rating
form with a workflow refusal beside its field, and a constant number of queries whatever the history."""

import io
from http import HTTPStatus

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from PIL import Image

from config.errors import ValidationFailed
from issues import workflow
from issues.models import Event, Issue, Photo
from issues.photos import photos_store
from orgs.models import Role
from tests.factories import UserFactory, assert_refused, issue_state, last_event, member

pytestmark = pytest.mark.django_db


def signed_in(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def page(issue) -> str:
    return f"/issues/{issue.number}/"


# --- landing ---------------------------------------------------------------------------------------------------------


def test_home_sends_residents_to_their_issues_and_territory_staff_to_their_desk(resident, community_staff):
    assert signed_in(resident).get("/")["Location"] == "/my/"
    assert signed_in(community_staff).get("/")["Location"] == "/desk/"
    assert signed_in(community_staff).get("/desk/")["Location"] == "/desk/triage/"


def test_home_sends_department_staff_to_the_issues_dispatched_to_them(chengguan_staff):
    assert signed_in(chengguan_staff).get("/")["Location"] == "/desk/"
    assert signed_in(chengguan_staff).get("/desk/")["Location"] == "/desk/department/"


def test_home_invites_an_anonymous_visitor_to_sign_in(client):
    response = client.get("/")
    assert response.status_code == HTTPStatus.OK
    assert b'href="/accounts/login/"' in response.content


def test_my_issues_links_each_issue_to_its_page_newest_first(make, resident, other_resident, territory):
    older, newer = make("submitted"), make("resolved")
    html = signed_in(resident).get("/my/").content.decode()
    assert f'href="/issues/{newer.number}/"' in html and f'href="/issues/{older.number}/"' in html
    assert html.index(newer.number) < html.index(older.number)
    assert 'class="status status-resolved">已办结<' in html
    assert newer.number not in signed_in(other_resident).get("/my/").content.decode()


def test_inbox_lines_link_to_their_issue(make, resident):
    issue = make("resolved")  # the resolution writes the reporter's inbox line
    html = signed_in(resident).get("/inbox/").content.decode()
    assert f'href="/issues/{issue.number}/"' in html


# --- scoping ---------------------------------------------------------------------------------------------------------


def test_issue_page_out_of_scope_is_not_found_like_a_missing_one(make, other_resident, other_community_staff):
    issue = make("submitted")
    for user in (other_resident, other_community_staff):
        assert signed_in(user).get(page(issue)).status_code == HTTPStatus.NOT_FOUND
    assert signed_in(other_resident).get("/issues/GD-20991231-99999/").status_code == HTTPStatus.NOT_FOUND


def test_issue_page_sends_an_anonymous_visitor_to_sign_in_whether_the_number_exists_or_not(client, make):
    issue = make("resolved")
    before = issue_state(issue)
    for url in (page(issue), "/issues/GD-20991231-99999/"):
        response = client.get(url)
        assert response.status_code == HTTPStatus.FOUND
        assert response["Location"] == f"/accounts/login/?next={url}"
    assert client.post(f"{page(issue)}rate/", {"rating": "5"}).status_code == HTTPStatus.FOUND
    assert issue_state(issue) == before


def test_rating_an_issue_out_of_scope_is_not_found_and_changes_nothing(make, other_resident):
    issue = make("resolved")
    before = issue_state(issue)
    response = signed_in(other_resident).post(f"{page(issue)}rate/", {"rating": "5"})
    assert response.status_code == HTTPStatus.NOT_FOUND
    assert issue_state(issue) == before


# --- what the page shows ---------------------------------------------------------------------------------------------


def test_reporter_sees_status_place_deadlines_and_staff_by_role_and_unit_never_by_username(
    make, resident, community_staff, chengguan_staff
):
    issue = make("in_progress")
    html = signed_in(resident).get(page(issue)).content.decode()
    assert 'id="issue-status">办理中<' in html
    assert "第1网格" in html and "1栋" in html
    assert "社区工作者 · 社区005" in html  # classify and dispatch
    assert "职能部门工作人员 · 城管" in html  # accept
    assert "community_staff" not in html and "chengguan_staff" not in html
    assert "办结时限" in html and 'title="20' in html


def test_staff_handling_the_issue_see_usernames_internal_notes_and_the_actions_offered(make, resident, community_staff):
    issue = make("in_progress")
    workflow.issue_comment(issue=issue, actor=community_staff, text="先联系物业", internal=True)
    staff_html = signed_in(community_staff).get(page(issue)).content.decode()
    assert "先联系物业" in staff_html and "(community_staff)" in staff_html
    assert 'id="actions"' in staff_html and 'data-action="resolve"' in staff_html
    resident_html = signed_in(resident).get(page(issue)).content.decode()
    assert "先联系物业" not in resident_html
    assert 'id="actions"' not in resident_html


def test_reporter_of_a_resolved_issue_gets_the_rating_form_saying_1_or_2_reopens(make, resident):
    issue = make("resolved")
    html = signed_in(resident).get(page(issue)).content.decode()
    assert 'id="id_rating"' in html and "Cleared and checked." in html
    assert "1 或 2" in html
    client = signed_in(resident)
    client.cookies["django_language"] = "en"
    english = client.get(page(issue)).content.decode()
    assert ">Rating</label>" in english and ">Rate</button>" in english and "1 or 2 reopens" in english


def test_no_rating_form_before_resolution_or_for_someone_else(make, resident, community_staff):
    assert 'id="id_rating"' not in signed_in(resident).get(page(make("in_progress"))).content.decode()
    assert 'id="id_rating"' not in signed_in(community_staff).get(page(make("resolved"))).content.decode()


# --- rating through the page -----------------------------------------------------------------------------------------


@pytest.mark.parametrize("score, status", [(4, Issue.Status.CLOSED), (2, Issue.Status.DISPATCHED)])
def test_rating_redirects_to_the_page_and_closes_or_reopens(make, resident, score, status):
    issue = make("resolved")
    response = signed_in(resident).post(f"{page(issue)}rate/", {"rating": str(score), "comment": "谢谢"})
    assert response.status_code == HTTPStatus.FOUND
    assert response["Location"] == page(issue)
    assert Issue.objects.get(pk=issue.pk).status == status


@pytest.mark.parametrize("rating", ["", "0", "6", "很好"])
def test_a_bad_rating_is_shown_beside_the_field_and_the_comment_is_kept(make, resident, rating):
    issue = make("resolved")
    before = issue_state(issue)
    response = signed_in(resident).post(f"{page(issue)}rate/", {"rating": rating, "comment": "还行吧，楼道干净了"})
    assert response.status_code == HTTPStatus.BAD_REQUEST
    html = response.content.decode()
    assert 'aria-describedby="id_rating_helptext id_rating-error"' in html
    assert 'id="id_rating-error"' in html
    assert "还行吧，楼道干净了</textarea>" in html
    assert issue_state(issue) == before


def test_a_workflow_refusal_lands_at_the_top_of_the_form_with_its_codes_message(make, resident):
    issue = make("resolved")
    client = signed_in(resident)
    client.get(page(issue))
    workflow.issue_rate(issue=issue, actor=resident, score=5)  # rated meanwhile (another tab)
    response = client.post(f"{page(issue)}rate/", {"rating": "2", "comment": "再看看", "version": str(issue.version)})
    assert response.status_code == HTTPStatus.CONFLICT
    html = response.content.decode()
    assert 'role="alert"' in html
    assert "诉求当前的状态不允许此操作。" in html
    assert Issue.objects.get(pk=issue.pk).status == Issue.Status.CLOSED


def test_a_refusal_after_a_change_meanwhile_shows_the_issue_as_it_is_now_and_keeps_the_typed_text(
    make, resident, community_staff
):
    issue = make("resolved")
    stale = issue.version
    workflow.issue_reopen(issue=issue, actor=community_staff, reason="复查未通过")
    response = signed_in(resident).post(f"{page(issue)}rate/", {"rating": "5", "comment": "好", "version": str(stale)})
    assert response.status_code == HTTPStatus.CONFLICT
    html = response.content.decode()
    assert 'id="issue-status">已派单<' in html
    assert "诉求当前的状态不允许此操作。" in html
    assert "好</textarea>" in html


def test_a_comment_without_text_is_refused_beside_the_field(make, resident):
    issue = make("submitted")
    response = signed_in(resident).post(f"{page(issue)}comment/", {"text": ""})
    assert response.status_code == HTTPStatus.BAD_REQUEST
    assert 'id="id_text-error"' in response.content.decode()


def test_a_resident_comment_is_public_and_cannot_be_made_internal(make, resident):
    issue = make("submitted")
    response = signed_in(resident).post(f"{page(issue)}comment/", {"text": "还在堆着", "internal": "on"})
    assert response.status_code == HTTPStatus.FOUND
    event = Event.objects.filter(issue=issue, action="comment").get()
    assert event.note == "还在堆着" and event.internal is False


# --- queries ---------------------------------------------------------------------------------------------------------


def _queries_of(client, url) -> int:
    with CaptureQueriesContext(connection) as captured:
        assert client.get(url).status_code == HTTPStatus.OK
    return len(captured.captured_queries)


@pytest.mark.parametrize("who", ["resident", "community_staff"])
def test_issue_page_queries_do_not_grow_with_events_or_actors(request, make, community_staff, street_officer, who):
    issue = make("in_progress")
    client = signed_in(request.getfixturevalue(who))
    _queries_of(client, page(issue))  # the viewer's scope is read once, then remembered (orgs.auth_cache)
    few = _queries_of(client, page(issue))
    for n in range(8):
        actor = member(
            UserFactory(username=f"street{n}"), Role.STREET_OFFICER, area=street_officer.memberships.first().area
        )
        workflow.issue_comment(issue=issue, actor=actor, text=f"第{n}条")
        workflow.issue_comment(issue=issue, actor=community_staff, text=f"内部{n}", internal=True)
    _queries_of(client, page(issue))  # a resident's changed issue is read in full once (issue_page_remembered)
    many = _queries_of(client, page(issue))
    assert many == few


# --- photos before and after -----------------------------------------------------------------------------------------


def _jpeg(color=(200, 80, 40)) -> SimpleUploadedFile:
    buffer = io.BytesIO()
    Image.new("RGB", (64, 48), color).save(buffer, "JPEG")
    return SimpleUploadedFile("p.jpg", buffer.getvalue(), content_type="image/jpeg")


@pytest.fixture
def media_root(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "media"
    return settings.MEDIA_ROOT


def test_resolve_stores_after_photos_with_the_result_and_the_page_marks_before_and_after(
    media_root, territory, resident, community_staff, category, chengguan_staff
):
    issue = workflow.issue_submit(actor=resident, description="楼道堆物很多", building=territory["building"].code)
    photos_store(issue=issue, actor=resident, files=[_jpeg()])
    issue = workflow.issue_classify(issue=issue, actor=community_staff, category=category)
    issue = workflow.issue_dispatch(issue=issue, actor=community_staff, departments=["chengguan"])
    issue = workflow.issue_accept(issue=issue, actor=chengguan_staff)
    issue = workflow.issue_resolve(issue=issue, actor=chengguan_staff, note="已清理。", photos=[_jpeg((0, 0, 200))] * 2)
    stages = sorted(Photo.objects.filter(issue=issue).values_list("stage", flat=True))
    assert stages == ["report", "resolution", "resolution"]
    assert last_event(issue).data == {"photos": 2}
    html = signed_in(resident).get(page(issue)).content.decode()
    before = html[html.index('id="photos-before"') : html.index("</ul>", html.index('id="photos-before"'))]
    after = html[html.index('id="photos-after"') : html.index("</ul>", html.index('id="photos-after"'))]
    assert before.count("<img") == 1 and after.count("<img") == 2
    assert "整改后" in after and "整改前" in before


def test_a_bad_after_photo_refuses_the_resolution_and_changes_nothing(media_root, make, chengguan_staff):
    issue = make("in_progress")
    bad = SimpleUploadedFile("x.jpg", b"not a photo", content_type="image/jpeg")
    assert_refused(
        ValidationFailed,
        lambda: workflow.issue_resolve(issue=issue, actor=chengguan_staff, note="已清理。", photos=[bad]),
        issue,
    )


@pytest.mark.parametrize("who", ["resident", "community_staff"])
def test_issue_page_queries_do_not_grow_with_photos(request, media_root, make, resident, who):
    issue = make("in_progress")
    client = signed_in(request.getfixturevalue(who))
    photos_store(issue=issue, actor=resident, files=[_jpeg()])
    _queries_of(client, page(issue))  # the viewer's scope is read once, then remembered (orgs.auth_cache)
    one = _queries_of(client, page(issue))
    photos_store(issue=issue, actor=resident, files=[_jpeg()] * 5)
    _queries_of(client, page(issue))  # a resident's changed issue is read in full once (issue_page_remembered)
    assert _queries_of(client, page(issue)) == one


# --- deadlines for people --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "hours, zh, en",
    [
        (50, "还剩 2 天", "due in 2 days"),
        (3.5, "还剩 3 小时", "due in 3 hours"),
        (0.5, "还剩 30 分钟", "due in 30 minutes"),
        (-2.2, "已超期 2 小时", "2 hours overdue"),
        (-25, "已超期 1 天", "1 day overdue"),
    ],
)
def test_a_deadline_reads_as_due_in_or_overdue_in_its_largest_unit(hours, zh, en):
    from datetime import timedelta

    from django.utils import timezone, translation

    from issues.timeline import deadline_phrase

    now = timezone.now()
    for language, expected in (("zh-hans", zh), ("en", en)):
        with translation.override(language):
            assert deadline_phrase(now + timedelta(hours=hours), now) == (expected, hours < 0)


def test_an_overdue_issue_page_says_how_late_with_the_exact_time_in_its_title(make, resident):
    from datetime import timedelta

    from django.utils import timezone

    issue = make("dispatched")
    Issue.objects.filter(pk=issue.pk).update(response_due_at=timezone.now() - timedelta(hours=3, minutes=5))
    html = signed_in(resident).get(page(issue)).content.decode()
    assert "已超期 3 小时" in html
    due = Issue.objects.get(pk=issue.pk).response_due_at
    assert f'title="{timezone.localtime(due):%Y-%m-%d %H:%M}"' in html
