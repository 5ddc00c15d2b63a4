"""POST /api/v1/issues/: the request shape, the issue representation, photos, partner rules, categories."""

from http import HTTPStatus

import pytest

from issues import workflow
from issues.api import views
from issues.models import Event, Issue, Photo
from tests.api.test_issues_support import (
    DESCRIPTION,
    REPORTER_NAME,
    REPORTER_PHONE,
    client_for,
    error_code,
    make_partner,
    partner_client,
    png_file,
    submit_body,
)
from tests.factories import CategoryFactory

ISSUES = "/api/v1/issues/"
ISSUE_FIELDS = {
    "id",
    "number",
    "status",
    "kind",
    "category",
    "urgent",
    "title",
    "description",
    "location",
    "address",
    "area",
    "escalation_level",
    "response_due_at",
    "resolution_due_at",
    "dispatches",
    "reporter",
    "rating",
    "photos",
    "channel",
    "created_at",
    "updated_at",
    "version",
}


def test_submit_by_resident_answers_201_with_every_field_of_the_issue(territory, resident, category):
    body = submit_body(territory, category=category.code, urgent=True)
    response = client_for(resident).post(ISSUES, body, format="json")

    assert response.status_code == HTTPStatus.CREATED
    data = response.json()
    assert set(data) == ISSUE_FIELDS
    issue = Issue.objects.get()
    assert data["id"] == str(issue.pk)
    assert data["number"] == issue.number
    assert data["status"] == "submitted"
    assert data["kind"] == "complaint"
    assert data["category"] == {"code": "stairwell", "name": "楼道堆物"}
    assert data["urgent"] is True
    assert data["description"] == DESCRIPTION
    assert data["location"] is None
    assert data["area"] == {
        "district": "360702",
        "street": "360702091",
        "community": "360702091005",
        "grid": territory["grid"].code,
        "building": None,
    }
    assert data["escalation_level"] == 0
    assert data["dispatches"] == []
    assert data["reporter"] == {"name": REPORTER_NAME, "phone": REPORTER_PHONE}
    assert data["rating"] is None
    assert data["channel"] == "web"
    assert data["photos"] == []
    assert data["version"] == issue.version
    assert data["created_at"].endswith("+08:00")
    assert response["Location"] == f"{ISSUES}{issue.pk}/"
    assert issue.reporter_user == resident


def test_submit_with_a_location_routes_to_the_grid_containing_it(territory, resident):
    body = submit_body(territory, location={"lat": 25.825, "lng": 114.955})
    del body["grid"]
    response = client_for(resident).post(ISSUES, body, format="json")

    assert response.status_code == HTTPStatus.CREATED
    assert response.json()["location"] == {"lat": 25.825, "lng": 114.955}
    assert response.json()["area"]["grid"] == territory["grid"].code


def test_submit_naming_a_building_records_building_and_its_grid(territory, resident):
    body = submit_body(territory, building=territory["building"].code)
    del body["grid"]
    response = client_for(resident).post(ISSUES, body, format="json")

    assert response.status_code == HTTPStatus.CREATED
    assert response.json()["area"]["building"] == territory["building"].code
    assert response.json()["area"]["grid"] == territory["grid"].code


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"description": "短"}, "description"),
        ({"description": "x" * 4001}, "description"),
        ({"grid": None}, "location"),
        ({"grid": "360702091005999"}, "grid"),
        ({"category": "no-such-category"}, "category"),
        ({"kind": "rumour"}, "kind"),
        ({"location": {"lat": 95, "lng": 114.9}}, "location.lat"),
        ({"reporter": {"name": "刘洋", "phone": "call me"}}, "reporter.phone"),
    ],
)
def test_submit_with_a_bad_field_is_400_naming_it_and_creates_nothing(territory, resident, change, field):
    body = {key: value for key, value in {**submit_body(territory), **change}.items() if value is not None}
    response = client_for(resident).post(ISSUES, body, format="json")

    assert response.status_code == HTTPStatus.BAD_REQUEST
    assert error_code(response) == "validation_error"
    assert field in response.json()["error"]["fields"]
    assert Issue.objects.count() == 0


def test_submit_with_a_location_no_grid_covers_is_400_on_location(territory, resident):
    body = submit_body(territory, location={"lat": 30.0, "lng": 120.0})
    del body["grid"]
    response = client_for(resident).post(ISSUES, body, format="json")

    assert response.status_code == HTTPStatus.BAD_REQUEST
    assert "location" in response.json()["error"]["fields"]
    assert Issue.objects.count() == 0


def test_malformed_json_is_400_malformed_json(territory, resident):
    response = client_for(resident).post(ISSUES, "{not json", content_type="application/json")

    assert response.status_code == HTTPStatus.BAD_REQUEST
    assert error_code(response) == "malformed_json"


def test_partner_must_send_the_reporter_phone(territory):
    _, key = make_partner(area=territory["district"])
    body = submit_body(territory, reporter={"name": REPORTER_NAME})
    response = partner_client(key).post(ISSUES, body, format="json")

    assert response.status_code == HTTPStatus.BAD_REQUEST
    assert "reporter.phone" in response.json()["error"]["fields"]
    assert Issue.objects.count() == 0


def test_partner_submits_with_its_key_and_reads_the_reporter_unmasked(territory):
    partner, key = make_partner(area=territory["district"])
    response = partner_client(key).post(ISSUES, submit_body(territory, external_id="12345-0001"), format="json")

    assert response.status_code == HTTPStatus.CREATED
    assert response.json()["reporter"] == {"name": REPORTER_NAME, "phone": REPORTER_PHONE}
    issue = Issue.objects.get()
    assert issue.reporter_user == partner.user
    assert issue.external_id == "12345-0001"


def test_multipart_submit_with_photos_stores_them_and_lists_their_urls(territory, resident):
    body = {
        "description": DESCRIPTION,
        "location.lat": "25.825",
        "location.lng": "114.955",
        "reporter.name": REPORTER_NAME,
        "reporter.phone": REPORTER_PHONE,
        "photos": [png_file("a.png"), png_file("b.png", color=(0, 90, 200))],
    }
    response = client_for(resident).post(ISSUES, body, format="multipart")

    assert response.status_code == HTTPStatus.CREATED, response.json()
    data = response.json()
    assert data["location"] == {"lat": 25.825, "lng": 114.955}
    assert data["reporter"] == {"name": REPORTER_NAME, "phone": REPORTER_PHONE}
    assert len(data["photos"]) == 2
    assert all(url.startswith("http://testserver/media/issues/") for url in data["photos"])
    assert Photo.objects.filter(issue_id=data["id"]).count() == 2


def test_multipart_submit_with_a_file_that_is_no_photo_creates_nothing(territory, resident):
    fake = png_file("virus.png")
    fake.seek(0)
    fake.write(b"MZ this is not an image at all")
    fake.seek(0)
    body = {"description": DESCRIPTION, "grid": territory["grid"].code, "photos": [fake]}
    response = client_for(resident).post(ISSUES, body, format="multipart")

    assert response.status_code == HTTPStatus.BAD_REQUEST
    assert "photos" in response.json()["error"]["fields"]
    assert Issue.objects.count() == 0
    assert Event.objects.count() == 0


def test_photos_are_decoded_before_the_submission_starts(territory, resident, monkeypatch, settings, tmp_path):
    # The submit transaction holds the issue-number row lock: no slow photo decoding may run inside it.
    settings.MEDIA_ROOT = tmp_path
    calls = []
    clean, submit = views.photos_clean, workflow.issue_submit
    monkeypatch.setattr(views, "photos_clean", lambda **kwargs: calls.append("photos_clean") or clean(**kwargs))
    monkeypatch.setattr(workflow, "issue_submit", lambda **kwargs: calls.append("issue_submit") or submit(**kwargs))
    body = {"description": DESCRIPTION, "grid": territory["grid"].code, "photos": [png_file()]}

    response = client_for(resident).post(ISSUES, body, format="multipart")

    assert response.status_code == HTTPStatus.CREATED
    assert calls == ["photos_clean", "issue_submit"]
    assert Photo.objects.filter(issue_id=response.json()["id"]).count() == 1


def test_more_than_six_photos_is_400_and_creates_nothing(territory, resident):
    body = {
        "description": DESCRIPTION,
        "grid": territory["grid"].code,
        "photos": [png_file(f"{i}.png") for i in range(7)],
    }
    response = client_for(resident).post(ISSUES, body, format="multipart")

    assert response.status_code == HTTPStatus.BAD_REQUEST
    assert "photos" in response.json()["error"]["fields"]
    assert Issue.objects.count() == 0


def test_categories_are_public_with_codes_for_parent_and_department(territory, category, shuiwu):
    CategoryFactory(code="pipe-burst", name="水管爆裂", parent=category, department=shuiwu, resolution_workdays=1)
    response = client_for().get("/api/v1/categories/")

    assert response.status_code == HTTPStatus.OK
    assert response.json() == [
        {
            "code": "pipe-burst",
            "name": "水管爆裂",
            "parent": "stairwell",
            "kind": "complaint",
            "department": "shuiwu",
            "response_hours": 24,
            "resolution_workdays": 1,
        },
        {
            "code": "stairwell",
            "name": "楼道堆物",
            "parent": None,
            "kind": "complaint",
            "department": "chengguan",
            "response_hours": 24,
            "resolution_workdays": 5,
        },
    ]
