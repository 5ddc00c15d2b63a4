"""The resident issue page reads an issue in a fixed number of queries, however long its history: a rated issue
with photos before and after and events from several units costs what one just classified does."""

import io
from http import HTTPStatus

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from PIL import Image

from issues import workflow
from issues.photos import photos_store

pytestmark = pytest.mark.django_db

# Session, user, the issue (category, department, grid, building joined), its dispatches, events (with actors) and
# photos, the units of the staff who acted, and the header's memberships and unread count.
RESIDENT_PAGE_QUERIES = 9


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
    media_root, territory, resident, community_staff, category, chengguan_staff
):
    client = Client()
    client.force_login(resident)
    new = workflow.issue_submit(actor=resident, description="楼道灯不亮", building=territory["building"].code)
    workflow.issue_classify(issue=new, actor=community_staff, category=category)  # one staff event: one unit read
    url = f"/issues/{new.number}/"
    queries(client, url)  # the resident's scope is read once, then remembered (orgs.auth_cache)
    fresh, _ = queries(client, url)

    issue = workflow.issue_submit(actor=resident, description="楼道堆物很多", building=territory["building"].code)
    photos_store(issue=issue, actor=resident, files=[_jpeg(), _jpeg((0, 90, 0))])
    workflow.issue_classify(issue=issue, actor=community_staff, category=category)
    workflow.issue_dispatch(issue=issue, actor=community_staff, departments=["chengguan"])
    workflow.issue_accept(issue=issue, actor=chengguan_staff)
    workflow.issue_comment(issue=issue, actor=resident, text="晚上最暗")
    workflow.issue_resolve(issue=issue, actor=chengguan_staff, note="已清理。", photos=[_jpeg((0, 0, 200))])
    workflow.issue_rate(issue=issue, actor=resident, score=5, comment="很快")
    handled, html = queries(client, f"/issues/{issue.number}/")

    assert 'id="photos-before"' in html and 'id="photos-after"' in html and "已清理。" in html
    assert handled == fresh <= RESIDENT_PAGE_QUERIES
