"""The public territory and department endpoints (API.md "Territory")."""

from http import HTTPStatus

import pytest
from rest_framework.test import APIClient

from tests.api.test_errors import assert_error
from tests.factories import DepartmentFactory


@pytest.fixture
def client():
    return APIClient(HTTP_ACCEPT_LANGUAGE="en")  # the messages asserted are the English ones


def test_areas_without_parent_lists_districts_only(client, territory):
    response = client.get("/api/v1/areas/")

    assert response.status_code == HTTPStatus.OK
    assert response.json() == [
        {"code": "360702", "name": "章贡区", "level": "district", "parent": None, "path": "360702"}
    ]


def test_areas_with_parent_lists_its_children_in_code_order(client, territory, other_territory):
    response = client.get("/api/v1/areas/?parent=360702091")

    assert [a["code"] for a in response.json()] == ["360702091001", "360702091005"]
    assert {a["level"] for a in response.json()} == {"community"}
    assert {a["parent"] for a in response.json()} == {"360702091"}


def test_areas_children_cost_two_queries_however_many(client, territory, other_territory, django_assert_num_queries):
    with django_assert_num_queries(2):  # the parent, then its children with their parent joined
        client.get("/api/v1/areas/?parent=360702091")


def test_areas_with_unknown_parent_is_not_found(client, territory):
    assert_error(client.get("/api/v1/areas/?parent=123"), HTTPStatus.NOT_FOUND, "not_found")


def test_area_detail_has_code_name_level_parent_and_path(client, territory):
    grid = territory["grid"]

    response = client.get(f"/api/v1/areas/{grid.code}/")

    assert response.json() == {
        "code": "360702091005001",
        "name": "第1网格",
        "level": "grid",
        "parent": "360702091005",
        "path": "360702/360702091/360702091005/360702091005001",
    }


def test_unknown_area_is_not_found(client, territory):
    assert_error(client.get("/api/v1/areas/360702999/"), HTTPStatus.NOT_FOUND, "not_found")


def test_locate_names_the_grid_and_its_ancestors(client, territory):
    response = client.get("/api/v1/areas/locate/?lat=25.825&lng=114.955")

    assert response.status_code == HTTPStatus.OK
    assert response.json() == {
        "grid": {"code": "360702091005001", "name": "第1网格"},
        "community": {"code": "360702091005", "name": territory["community"].name},
        "street": {"code": "360702091", "name": "黄金岭街道"},
        "district": {"code": "360702", "name": "章贡区"},
    }


def test_locate_outside_every_grid_is_a_validation_error_on_location(client, territory):
    response = client.get("/api/v1/areas/locate/?lat=39.9&lng=116.4")

    assert_error(response, HTTPStatus.BAD_REQUEST, "validation_error", {"location": ["No grid covers this point."]})


@pytest.mark.parametrize("query", ["", "lat=25.8", "lat=north&lng=114.9", "lat=95&lng=114.9", "lat=25.8&lng=nan"])
def test_locate_with_missing_or_invalid_coordinates_is_a_validation_error_on_location(client, territory, query):
    response = client.get(f"/api/v1/areas/locate/?{query}")

    error = assert_error(response, HTTPStatus.BAD_REQUEST, "validation_error")
    assert list(error["fields"]) == ["location"]


def test_departments_lists_the_active_ones(client, territory, chengguan, shuiwu):
    DepartmentFactory(code="closed", name="已撤销", district=territory["district"], is_active=False)

    response = client.get("/api/v1/departments/")

    assert response.json() == [
        {"code": "chengguan", "name": "城管", "kind": "functional"},
        {"code": "shuiwu", "name": "水务", "kind": "functional"},
    ]


def test_territory_is_public_but_a_bad_credential_is_still_refused(client, territory):
    assert client.get("/api/v1/areas/", HTTP_AUTHORIZATION="").status_code == HTTPStatus.OK

    response = client.get("/api/v1/areas/", HTTP_AUTHORIZATION="Token wrong")

    assert_error(response, HTTPStatus.UNAUTHORIZED, "not_authenticated")
