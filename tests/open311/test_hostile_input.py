"""Hostile input to Open311 answers 400 in GeoReport's error shape (JSON or XML as asked), never an HTML 500."""

import json
from http import HTTPStatus

import pytest

from issues.models import Issue

from .test_api import BASE, assert_error, post_fields, xml_of


@pytest.mark.parametrize(
    "query",
    [
        "start_date=9999-12-31",
        "end_date=0001-01-01",
        "start_date=0001-01-01&end_date=0001-01-02",
        "end_date=9999-12-31",
        "start_date=2026-11-01T00:00:00%2B99:00",
        "end_date=2026-11-01T00:00:00-99:00",
        "start_date=2026-11-01T00:00:00%2B23:59",
    ],
)
def test_far_dates_and_impossible_offsets_answer_400_in_georeport_shape(client, db, query):
    response = client.get(f"{BASE}/requests.json?{query}")

    assert_error(response, HTTPStatus.BAD_REQUEST, "_date")


def test_far_dates_answer_400_in_xml_when_xml_is_asked(client, db):
    response = client.get(f"{BASE}/requests.xml?start_date=9999-12-31")

    assert response.status_code == HTTPStatus.BAD_REQUEST
    assert xml_of(response).findtext("error/code") == "400"


def test_a_json_body_with_numbers_for_lat_and_long_is_accepted_as_the_form_would_be(
    client, api_key, territory, leak_service
):
    fields = post_fields(api_key, territory, address_id=None, lat=25.825, long=114.955, address_string="3栋")

    response = client.post(f"{BASE}/requests.json", json.dumps(fields), content_type="application/json")

    assert response.status_code == HTTPStatus.CREATED, response.content
    issue = Issue.objects.get()
    assert (float(issue.lat), float(issue.lng)) == (25.825, 114.955)


@pytest.mark.parametrize("name", ["description", "service_code", "phone", "first_name", "address_id", "lat"])
@pytest.mark.parametrize("value", [{"a": 1}, ["x", "y"], True])
def test_a_json_body_with_a_structure_where_text_belongs_answers_400(
    client, api_key, territory, leak_service, name, value
):
    fields = post_fields(api_key, territory, **{name: value})

    response = client.post(f"{BASE}/requests.json", json.dumps(fields), content_type="application/json")

    assert_error(response, HTTPStatus.BAD_REQUEST, name if name != "lat" else "lat")
    assert not Issue.objects.exists()


def test_json_nested_a_thousand_levels_deep_answers_400_in_georeport_shape(client, api_key, territory, leak_service):
    body = json.dumps(post_fields(api_key, territory))[:-1] + ', "deep": ' + "[" * 1000 + "]" * 1000 + "}"

    response = client.post(f"{BASE}/requests.json", body, content_type="application/json")

    assert_error(response, HTTPStatus.BAD_REQUEST, "nested")
    assert not Issue.objects.exists()
