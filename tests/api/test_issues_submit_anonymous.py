"""POST /api/v1/issues/ with nobody signed in: the web form's resident, the hotline's walk-in (API.md, issue 4)."""

from http import HTTPStatus

import pytest
from django.core.cache import cache

from issues.models import Event, IdempotencyRecord, Issue, Photo
from notifications.models import Notification
from tests.api.test_issues_support import (
    MASKED_NAME,
    MASKED_PHONE,
    REPORTER_NAME,
    REPORTER_PHONE,
    client_for,
    error_code,
    png_file,
    submit_body,
)

ISSUES = "/api/v1/issues/"


@pytest.fixture
def anon_create_rate(settings):
    """Set the anonymous creation rate for this test, with the throttle counters emptied."""

    def set_rate(rate: str) -> None:
        settings.REST_FRAMEWORK = {
            **settings.REST_FRAMEWORK,
            "DEFAULT_THROTTLE_RATES": {**settings.REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"], "anon_create": rate},
        }
        cache.clear()

    return set_rate


def test_anonymous_submit_is_201_with_the_reporter_masked_and_no_reporter_account(territory):
    response = client_for().post(ISSUES, submit_body(territory), format="json")

    assert response.status_code == HTTPStatus.CREATED
    data = response.json()
    assert data["status"] == "submitted"
    assert data["reporter"] == {"name": MASKED_NAME, "phone": MASKED_PHONE}
    issue = Issue.objects.get()
    assert str(issue.pk) == data["id"]
    assert response["Location"] == f"/api/v1/issues/{issue.pk}/"
    assert issue.reporter_user is None
    assert (issue.reporter_name, issue.reporter_phone) == (REPORTER_NAME, REPORTER_PHONE)
    event = Event.objects.get(issue=issue)
    assert (event.action, event.actor, event.data) == ("submit", None, {"number": issue.number, "anonymous": True})


def test_anonymous_submit_without_the_reporter_phone_is_400_and_creates_nothing(territory):
    response = client_for().post(ISSUES, submit_body(territory, reporter={"name": REPORTER_NAME}), format="json")

    assert response.status_code == HTTPStatus.BAD_REQUEST
    assert error_code(response) == "validation_error"
    assert list(response.json()["error"]["fields"]) == ["reporter.phone"]
    assert Issue.objects.count() == 0
    assert Event.objects.count() == 0
    assert Notification.objects.count() == 0


def test_anonymous_submit_notifies_the_community_staff(territory, community_staff, other_community_staff):
    client_for().post(ISSUES, submit_body(territory), format="json")

    issue = Issue.objects.get()
    notified = Notification.objects.filter(issue=issue, kind="issue.submitted")
    assert notified.exists()
    assert set(notified.values_list("recipient", flat=True)) == {community_staff.pk}


def test_anonymous_submit_with_photos_stores_them_without_an_uploader(territory, settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path
    body = {
        "description": submit_body(territory)["description"],
        "grid": territory["grid"].code,
        "reporter.phone": REPORTER_PHONE,
        "photos": [png_file("a.png"), png_file("b.png", color=(0, 90, 200))],
    }
    response = client_for().post(ISSUES, body, format="multipart")

    assert response.status_code == HTTPStatus.CREATED
    assert len(response.json()["photos"]) == 2
    assert list(Photo.objects.values_list("issue_id", "uploaded_by")) == [(Issue.objects.get().pk, None)] * 2


def test_anonymous_submit_with_a_refused_photo_is_400_and_creates_nothing(territory, settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path
    fake = png_file("virus.png")
    fake.seek(0)
    fake.write(b"MZ this is not an image at all")
    fake.seek(0)
    body = {
        "description": submit_body(territory)["description"],
        "grid": territory["grid"].code,
        "reporter.phone": REPORTER_PHONE,
        "photos": [fake],
    }
    response = client_for().post(ISSUES, body, format="multipart")

    assert response.status_code == HTTPStatus.BAD_REQUEST
    assert list(response.json()["error"]["fields"]) == ["photos"]
    assert (Issue.objects.count(), Event.objects.count(), Photo.objects.count()) == (0, 0, 0)
    assert not any(tmp_path.rglob("*.*"))


def test_anonymous_submit_is_throttled_per_address_after_the_limit(territory, anon_create_rate):
    anon_create_rate("2/hour")
    client = client_for()

    answers = [client.post(ISSUES, submit_body(territory), format="json").status_code for _ in range(2)]
    refused = client.post(ISSUES, submit_body(territory), format="json")
    elsewhere = client.post(ISSUES, submit_body(territory), format="json", REMOTE_ADDR="203.0.113.7")

    assert answers == [HTTPStatus.CREATED, HTTPStatus.CREATED]
    assert refused.status_code == HTTPStatus.TOO_MANY_REQUESTS
    assert error_code(refused) == "throttled"
    assert int(refused["Retry-After"]) > 0
    assert elsewhere.status_code == HTTPStatus.CREATED
    assert Issue.objects.count() == 3


def test_anonymous_reads_are_not_counted_as_creations(territory, anon_create_rate):
    anon_create_rate("1/hour")
    client = client_for()

    reads = [client.get(ISSUES).status_code for _ in range(3)]
    created = client.post(ISSUES, submit_body(territory), format="json")

    assert reads == [HTTPStatus.UNAUTHORIZED] * 3
    assert created.status_code == HTTPStatus.CREATED


def test_signed_in_submitters_are_not_held_to_the_anonymous_creation_limit(territory, resident, anon_create_rate):
    anon_create_rate("1/hour")
    client = client_for(resident)

    answers = [client.post(ISSUES, submit_body(territory), format="json").status_code for _ in range(3)]

    assert answers == [HTTPStatus.CREATED] * 3


def test_anonymous_idempotency_key_is_ignored_each_request_creates_an_issue(territory):
    client = client_for()

    first = client.post(ISSUES, submit_body(territory), format="json", HTTP_IDEMPOTENCY_KEY="walk-in-1")
    second = client.post(ISSUES, submit_body(territory), format="json", HTTP_IDEMPOTENCY_KEY="walk-in-1")

    assert (first.status_code, second.status_code) == (HTTPStatus.CREATED, HTTPStatus.CREATED)
    assert first.json()["id"] != second.json()["id"]
    assert "Idempotent-Replayed" not in second
    assert Issue.objects.count() == 2
    assert IdempotencyRecord.objects.count() == 0


def test_anonymous_list_and_detail_stay_401(territory):
    client = client_for()
    client.post(ISSUES, submit_body(territory), format="json")
    issue = Issue.objects.get()

    for response in (client.get(ISSUES), client.get(f"{ISSUES}{issue.pk}/")):
        assert response.status_code == HTTPStatus.UNAUTHORIZED
        assert error_code(response) == "not_authenticated"
