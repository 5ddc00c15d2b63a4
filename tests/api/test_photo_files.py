"""A photo URL the API answers can be opened by whoever may see the issue, and by nobody else (404)."""

from http import HTTPStatus

import pytest

from tests.api.test_issues_support import (
    DESCRIPTION,
    REPORTER_NAME,
    REPORTER_PHONE,
    client_for,
    error_code,
    png_file,
)

pytestmark = pytest.mark.django_db


@pytest.fixture
def photo_url(territory, resident, settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path
    body = {
        "description": DESCRIPTION,
        "grid": territory["grid"].code,
        "reporter.name": REPORTER_NAME,
        "reporter.phone": REPORTER_PHONE,
        "photos": [png_file("a.png")],
    }
    response = client_for(resident).post("/api/v1/issues/", body, format="multipart")
    assert response.status_code == HTTPStatus.CREATED, response.json()
    [url] = response.json()["photos"]
    return url.removeprefix("http://testserver")


@pytest.mark.parametrize("who", ["resident", "community_staff", "grid_worker", "street_officer"])
def test_who_may_see_the_issue_opens_its_photo(photo_url, request, who):
    response = client_for(request.getfixturevalue(who)).get(photo_url)
    assert response.status_code == HTTPStatus.OK
    assert response["Content-Type"] == "image/png"
    assert b"".join(response.streaming_content).startswith(b"\x89PNG")
    assert "no-store" in response["Cache-Control"]


@pytest.mark.parametrize("who", ["other_resident", "other_community_staff", "chengguan_staff"])
def test_who_may_not_see_the_issue_gets_404_for_its_photo(photo_url, request, who):
    response = client_for(request.getfixturevalue(who)).get(photo_url)
    assert response.status_code == HTTPStatus.NOT_FOUND
    assert error_code(response) == "not_found"


def test_a_photo_needs_a_sign_in(photo_url):
    response = client_for(None).get(photo_url)
    assert response.status_code == HTTPStatus.UNAUTHORIZED
    assert error_code(response) == "not_authenticated"


def test_a_file_that_is_no_photo_of_the_issue_is_404(photo_url, resident):
    issue_dir = photo_url.rsplit("/", 1)[0]
    for url in (f"{issue_dir}/nothing.png", f"{issue_dir}/../../../settings.py"):
        assert client_for(resident).get(url).status_code == HTTPStatus.NOT_FOUND
