"""Hostile input answers 400 in API.md's error body, never 500: deep JSON, far dates, forged cursors, invisible text."""

import json
from http import HTTPStatus

import pytest
from rest_framework.test import APIClient

from issues.models import Issue
from tests.api.test_errors import assert_error

DEEP = "[" * 1000 + "]" * 1000


@pytest.fixture
def client():
    return APIClient(HTTP_ACCEPT_LANGUAGE="en")  # the messages asserted are the English ones


@pytest.mark.parametrize("url", ["/api/v1/issues/", "/api/v1/auth/token/"])
def test_json_nested_a_thousand_levels_deep_answers_malformed_json(client, resident, territory, url):
    client.force_authenticate(resident)
    body = '{"description": ' + DEEP + ', "grid": "' + territory["grid"].code + '"}'

    response = client.post(url, body, content_type="application/json")

    error = assert_error(response, HTTPStatus.BAD_REQUEST, "malformed_json")
    assert "nest" in error["message"]
    assert Issue.objects.count() == 0


def test_json_nested_within_the_bound_is_parsed_as_usual(client, resident, territory):
    client.force_authenticate(resident)
    body = {"description": [[["楼道堆满杂物"]]], "grid": territory["grid"].code}

    response = client.post("/api/v1/issues/", json.dumps(body), content_type="application/json")

    assert_error(response, HTTPStatus.BAD_REQUEST, "validation_error")


@pytest.mark.parametrize(
    "query", ["to=9999-12-31", "from=0001-01-01", "from=9999-12-31&to=9999-12-31", "to=0001-01-01"]
)
def test_stats_with_a_date_out_of_range_answers_validation_error(client, street_officer, territory, query):
    client.force_authenticate(street_officer)

    response = client.get(f"/api/v1/stats/?area={territory['street'].code}&{query}")

    error = assert_error(response, HTTPStatus.BAD_REQUEST, "validation_error")
    assert set(error["fields"]) <= {"from", "to"}


@pytest.mark.parametrize("cursor", ["x", "!!!", "cD0yMDI2", "cD1ub3RhZGF0ZQ==", "bz0xJnA9eA==", "%00", "a" * 300])
def test_a_malformed_cursor_answers_validation_error_on_cursor(client, community_staff, territory, cursor):
    client.force_authenticate(community_staff)

    response = client.get("/api/v1/issues/", {"cursor": cursor})

    error = assert_error(response, HTTPStatus.BAD_REQUEST, "validation_error")
    assert list(error["fields"]) == ["cursor"]


def test_the_cursors_of_next_and_previous_links_still_page(client, community_staff, make):
    for _ in range(3):
        make("submitted")
    client.force_authenticate(community_staff)

    first = client.get("/api/v1/issues/", {"page_size": 2}).json()
    second = client.get(first["next"]).json()
    back = client.get(second["previous"]).json()

    assert len(second["results"]) == 1
    assert [i["id"] for i in back["results"]] == [i["id"] for i in first["results"]]


@pytest.mark.parametrize("text", ["\u200b" * 10, "\u200b \u200c\u200d\ufeff\u2060 \u3000", "\u00a0\u2003\u200b"])
def test_a_description_of_invisible_characters_is_refused_as_empty(client, resident, territory, text):
    client.force_authenticate(resident)

    response = client.post("/api/v1/issues/", {"description": text, "grid": territory["grid"].code}, format="json")

    error = assert_error(response, HTTPStatus.BAD_REQUEST, "validation_error")
    assert list(error["fields"]) == ["description"]
    assert Issue.objects.count() == 0


def test_the_minimum_length_counts_visible_characters(client, resident, territory):
    client.force_authenticate(resident)
    body = {"description": "楼道\u200b\u200b\u200b\u200b", "grid": territory["grid"].code}

    response = client.post("/api/v1/issues/", body, format="json")

    error = assert_error(response, HTTPStatus.BAD_REQUEST, "validation_error")
    assert list(error["fields"]) == ["description"]
