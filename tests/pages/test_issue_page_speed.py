"""The resident issue page reads an issue in a fixed number of queries, however long its history: a rated issue
with photos before and after and events from several units costs what one just classified does."""

import functools
import io
import re
from http import HTTPStatus

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from PIL import Image

from config.fragments import fragments_clear
from issues import workflow
from issues.models import Issue
from issues.photos import photos_store
from issues.timeline import UNIT_ROWS_ATTR, issue_page_queryset, timeline_for
from issues.views import issue_page_remembered
from notifications.models import Channel, Notification

pytestmark = pytest.mark.django_db

# Session (the test settings keep it in the database; with Redis, cached_db reads it from there), and what says
# whether the issue changed, with the memberships of the staff who acted (issues.views.issue_page_remembered: the
# issue, its dispatches, events and photos are read again only then). The user and the header's memberships come with
# the session (accounts.session_user), the unread count from the cache (notifications.inbox.unread_count_remembered).
RESIDENT_PAGE_QUERIES = 2


def _jpeg(color=(200, 80, 40)) -> SimpleUploadedFile:
    buffer = io.BytesIO()
    Image.new("RGB", (64, 48), color).save(buffer, "JPEG")
    return SimpleUploadedFile("p.jpg", buffer.getvalue(), content_type="image/jpeg")


@pytest.fixture
def media_root(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "media"
    return settings.MEDIA_ROOT


def queries(client, url) -> tuple[int, str]:
    with CaptureQueriesContext(connection) as captured:
        response = client.get(url)
    assert response.status_code == HTTPStatus.OK
    return len(captured.captured_queries), response.content.decode()


def test_a_residents_page_of_a_rated_issue_with_photos_costs_what_a_classified_one_does(
    media_root, territory, resident, community_staff, category, handled_issue
):
    client = Client()
    client.force_login(resident)
    new = workflow.issue_submit(actor=resident, description="楼道灯不亮", building=territory["building"].code)
    workflow.issue_classify(issue=new, actor=community_staff, category=category)  # one staff event: one unit read
    url = f"/issues/{new.number}/"
    queries(client, url)  # the resident's scope is read once, then remembered (orgs.auth_cache)
    fresh, _ = queries(client, url)

    issue = handled_issue(photos=True)
    first, _ = queries(client, f"/issues/{issue.number}/")  # read in full once, then while it stays the same
    handled, html = queries(client, f"/issues/{issue.number}/")

    assert 'id="photos-before"' in html and 'id="photos-after"' in html and "已清理。" in html
    assert handled == fresh == RESIDENT_PAGE_QUERIES < first


def without_tokens(html: str) -> str:
    html = re.sub(r'name="csrfmiddlewaretoken" value="[^"]+"', "", html)
    return re.sub(r'"X-CSRFToken": "[^"]+"', "", html)


def test_a_remembered_page_is_the_page_rendered_afresh_and_follows_a_comment(
    territory, resident, community_staff, category
):
    issue = workflow.issue_submit(actor=resident, description="楼道灯不亮", building=territory["building"].code)
    workflow.issue_classify(issue=issue, actor=community_staff, category=category)
    url = f"/issues/{issue.number}/"
    client = Client(enforce_csrf_checks=True)
    client.force_login(resident)
    fresh = client.get(url).content.decode()
    fragments_clear()
    again = client.get(url).content.decode()
    assert without_tokens(again) == without_tokens(fresh)
    remembered = client.get(url).content.decode()
    assert without_tokens(remembered) == without_tokens(again)
    # A comment leaves the version as it is: the page shows it all the same.
    workflow.issue_comment(issue=issue, actor=community_staff, text="已安排人员查看")
    assert "已安排人员查看" in client.get(url).content.decode()
    # The remembered form carries this session's token: it posts.
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', remembered).group(1)
    version = re.search(r'name="version" value="(\d+)"', remembered).group(1)
    answer = client.post(
        f"/issues/{issue.number}/comment/", {"csrfmiddlewaretoken": token, "text": "谢谢", "version": version}
    )
    assert answer.status_code == HTTPStatus.FOUND


def test_a_remembered_issue_follows_photos_and_names_and_stays_out_of_others_reach(
    media_root, territory, resident, other_resident, community_staff, category
):
    issue = workflow.issue_submit(actor=resident, description="楼道灯不亮", building=territory["building"].code)
    workflow.issue_classify(issue=issue, actor=community_staff, category=category)
    url = f"/issues/{issue.number}/"
    client = Client()
    client.force_login(resident)
    assert 'id="photos-before"' not in client.get(url).content.decode()
    photos_store(issue=issue, actor=resident, files=[_jpeg()])
    assert 'id="photos-before"' in client.get(url).content.decode()
    category.name = "楼道堆物（改名）"
    category.save()
    assert "楼道堆物（改名）" in client.get(url).content.decode()
    other = Client()
    other.force_login(other_resident)
    assert other.get(url).status_code == HTTPStatus.NOT_FOUND


def test_a_residents_second_look_reads_the_issue_in_one_query(territory, resident, community_staff, category):
    issue = workflow.issue_submit(actor=resident, description="楼道灯不亮", building=territory["building"].code)
    workflow.issue_classify(issue=issue, actor=community_staff, category=category)
    client = Client()
    client.force_login(resident)
    url = f"/issues/{issue.number}/"
    queries(client, url)
    with CaptureQueriesContext(connection) as captured:
        client.get(url)
    assert not [q for q in captured.captured_queries if 'FROM "issues_photo"' in q["sql"].split("WHERE")[0]]
    assert not [q for q in captured.captured_queries if q["sql"].startswith('SELECT "issues_event"')]


@pytest.fixture
def handled_issue(resident, territory, community_staff, category, chengguan_staff):
    """Return a maker of handled issues: `handled_issue(photos=False)`."""
    return functools.partial(
        _handled_issue,
        resident=resident,
        territory=territory,
        community_staff=community_staff,
        category=category,
        chengguan_staff=chengguan_staff,
    )


def _handled_issue(*, resident, territory, community_staff, category, chengguan_staff, photos=False) -> Issue:
    """Return an issue of `resident` that staff of two units acted on, resolved and rated; with `photos`, also two
    photos before, one after and the resident's comment (the page at its fullest; MEDIA_ROOT set by the caller)."""
    issue = workflow.issue_submit(actor=resident, description="楼道堆物很多", building=territory["building"].code)
    if photos:
        photos_store(issue=issue, actor=resident, files=[_jpeg(), _jpeg((0, 90, 0))])
    workflow.issue_classify(issue=issue, actor=community_staff, category=category)
    workflow.issue_dispatch(issue=issue, actor=community_staff, departments=["chengguan"])
    workflow.issue_accept(issue=issue, actor=chengguan_staff)
    if photos:
        workflow.issue_comment(issue=issue, actor=resident, text="晚上最暗")
    after = [_jpeg((0, 0, 200))] if photos else ()
    workflow.issue_resolve(issue=issue, actor=chengguan_staff, note="已清理。", photos=after)
    return workflow.issue_rate(issue=issue, actor=resident, score=5, comment="很快")


def test_the_remembered_issue_names_its_staff_as_the_staff_query_does(territory, resident, handled_issue):
    issue = handled_issue()
    remembered = issue_page_remembered(viewer=resident, number=issue.number)
    assert getattr(remembered, UNIT_ROWS_ATTR)  # the memberships came with the stamp: no query of their own
    queried = issue_page_queryset().get(pk=issue.pk)
    assert not hasattr(queried, UNIT_ROWS_ATTR)
    shown = timeline_for(remembered, viewer=resident)
    assert shown == timeline_for(queried, viewer=resident)
    community = territory["community"].name
    assert {entry.actor for entry in shown} >= {f"社区工作者 · {community}", "职能部门工作人员 · 城管"}


def unread_shown(client, url) -> str:
    html = client.get(url).content.decode()
    return re.search(r'id="unread-count"[^>]*>([^<]*)<', html).group(1)


def test_the_headers_unread_count_follows_new_messages_and_marking_read(
    territory, resident, community_staff, category, chengguan_staff
):
    issue = workflow.issue_submit(actor=resident, description="楼道灯不亮", building=territory["building"].code)
    workflow.issue_classify(issue=issue, actor=community_staff, category=category)
    url = f"/issues/{issue.number}/"
    client = Client()
    client.force_login(resident)
    before = Notification.objects.filter(recipient=resident, channel=Channel.INBOX, read_at__isnull=True).count()
    assert unread_shown(client, url) == str(before)
    assert unread_shown(client, url) == str(before)  # remembered
    # The outbox's rows (a bulk insert, no signal): the resolution tells its reporter.
    workflow.issue_dispatch(issue=issue, actor=community_staff, departments=["chengguan"])
    workflow.issue_accept(issue=issue, actor=chengguan_staff)
    workflow.issue_resolve(issue=issue, actor=chengguan_staff, note="已修好。")
    now = Notification.objects.filter(recipient=resident, channel=Channel.INBOX, read_at__isnull=True).count()
    assert now > before
    assert unread_shown(client, url) == str(now)
    # One row saved on its own (the admin, a script).
    Notification.objects.create(kind="issue.resolved", channel=Channel.INBOX, recipient=resident, payload={})
    assert unread_shown(client, url) == str(now + 1)
    one = Notification.objects.filter(recipient=resident, channel=Channel.INBOX).first()
    assert client.post(f"/inbox/{one.pk}/read/").status_code == HTTPStatus.FOUND
    assert unread_shown(client, url) == str(now)
    assert client.post("/inbox/read-all/").status_code == HTTPStatus.FOUND
    assert unread_shown(client, url) == "0"


def test_a_remembered_issue_follows_a_renamed_unit_and_a_new_event(
    territory, resident, community_staff, chengguan_staff, chengguan, handled_issue
):
    issue = handled_issue()
    url = f"/issues/{issue.number}/"
    client = Client()
    client.force_login(resident)
    assert "职能部门工作人员 · 城管" in client.get(url).content.decode()
    chengguan.name = "城市管理局"
    chengguan.save()
    assert "职能部门工作人员 · 城市管理局" in client.get(url).content.decode()
    territory["community"].name = "金东南路社区"
    territory["community"].save()
    assert "社区工作者 · 金东南路社区" in client.get(url).content.decode()
    workflow.issue_comment(issue=issue, actor=community_staff, text="已回访，居民满意")
    assert "已回访，居民满意" in client.get(url).content.decode()
