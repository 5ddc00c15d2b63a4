"""Open311's media_url opens for the partner that may read the request, and the public list offers none."""

from http import HTTPStatus

import pytest
from django.test import Client

from issues.photos import photo_add
from issues.workflow import issue_classify, issue_submit
from tests.api.test_issues_support import REPORTER_PHONE, make_partner, png_file

pytestmark = pytest.mark.django_db

BASE = "/open311/v2"


@pytest.fixture
def partner(territory):
    return make_partner(area=territory["district"])


@pytest.fixture
def api_key(partner):
    return partner[1]


@pytest.fixture
def with_photo(partner, territory, settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path
    issue = issue_submit(
        actor=partner[0].user,
        description="三单元楼道堆满纸箱",
        grid=territory["grid"].code,
        reporter_phone=REPORTER_PHONE,
    )
    photo_add(issue=issue, actor=partner[0].user, files=[png_file()])
    return issue


def test_the_partners_media_url_opens_with_its_key(client, api_key, with_photo):
    [body] = client.get(f"{BASE}/requests/{with_photo.number}.json", HTTP_AUTHORIZATION=f"Api-Key {api_key}").json()
    url = body["media_url"].removeprefix("http://testserver")
    assert url.startswith("/media/issues/")
    photo = Client().get(url, HTTP_AUTHORIZATION=f"Api-Key {api_key}")
    assert photo.status_code == HTTPStatus.OK
    assert photo["Content-Type"] == "image/png"


def test_the_public_list_offers_no_media_url_it_could_not_open(client, with_photo, community_staff, category):
    issue_classify(issue=with_photo, actor=community_staff, category=category)  # public once staff have seen it
    [body] = client.get(f"{BASE}/requests/{with_photo.number}.json").json()
    assert body["service_request_id"] == with_photo.number
    assert body["media_url"] == ""
