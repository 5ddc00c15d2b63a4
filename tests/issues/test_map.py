"""The map's GeoJSON (/api/v1/map/grids/, /api/v1/map/issues/): scoping, counts, constant queries, valid GeoJSON,
no reporter data."""

import gzip
import json
from datetime import timedelta
from http import HTTPStatus

import pytest
import shapely
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from rest_framework.test import APIClient

from grids.maps import (
    decimals_for_tolerance,
    map_drawings_refresh,
    map_layers_forget,
    tier_for_zoom,
    tolerance_for_zoom,
    zoom_to_fit,
)
from grids.models import Area, MapDrawing
from issues.api import map as map_api
from issues.api.map import map_answers_forget
from issues.models import Issue
from tests.factories import AreaFactory, issue_in_status
from triage.models import HotSpot

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _fresh_layers():
    map_layers_forget()
    map_answers_forget()
    yield
    map_layers_forget()
    map_answers_forget()


def api(user) -> APIClient:
    client = APIClient()
    client.force_authenticate(user)
    return client


def grids_of(user, area: Area, **params) -> dict:
    response = api(user).get("/api/v1/map/grids/", {"area": area.code, **params})
    assert response.status_code == HTTPStatus.OK, response.content
    assert response["Content-Type"] == "application/geo+json"
    return json.loads(response.content)


def issues_of(user, area: Area, **params) -> dict:
    response = api(user).get("/api/v1/map/issues/", {"area": area.code, **params})
    assert response.status_code == HTTPStatus.OK, response.content
    return json.loads(response.content)


def grid_features(collection: dict) -> dict[str, dict]:
    return {f["id"]: f for f in collection["features"] if f["properties"]["kind"] == "grid"}


def add_grid(community: Area, seq: int, *, lng: float, lat: float = 25.82, size: float = 0.01) -> Area:
    ring = [[lng, lat], [lng + size, lat], [lng + size, lat + size], [lng, lat + size], [lng, lat]]
    return AreaFactory(
        code=f"{community.code}{seq:03d}",
        level=Area.Level.GRID,
        parent=community,
        name=f"第{seq}网格",
        boundary={"type": "Polygon", "coordinates": [ring]},
    )


def overdue(issue: Issue) -> Issue:
    """Move the issue's running deadlines into the past (time passing, not a change of state)."""
    past = timezone.now() - timedelta(days=1)
    Issue.objects.filter(pk=issue.pk).update(response_due_at=past, resolution_due_at=past)
    return issue


@pytest.fixture
def two_communities(territory, other_territory, make, resident, other_community_staff, category, chengguan_staff):
    """Issues in both communities of the street: 3 open (1 overdue) and 1 closed in 005, 1 open in 001."""
    mine = [make("submitted"), make("dispatched"), overdue(make("in_progress")), make("closed")]
    theirs = issue_in_status(
        "classified",
        reporter=resident,
        place=other_territory["building"],
        triage=other_community_staff,
        category=category,
        handler=chengguan_staff,
    )
    return {"mine": mine, "theirs": theirs}


def test_community_staff_get_their_grids_only_with_open_and_overdue_counts(
    territory, other_territory, two_communities, community_staff
):
    collection = grids_of(community_staff, territory["community"])

    grids = grid_features(collection)
    assert set(grids) == {territory["grid"].code}
    assert other_territory["grid"].code not in json.dumps(collection)
    assert grids[territory["grid"].code]["properties"] == {
        "kind": "grid",
        "code": territory["grid"].code,
        "name": territory["grid"].name,
        "community": territory["community"].code,
        "open": 3,
        "overdue": 1,
    }
    assert collection["totals"] == {"open": 3, "overdue": 1}
    outlines = {f["id"] for f in collection["features"] if f["properties"]["kind"] != "grid"}
    assert outlines == {f"community-{territory['community'].code}"}  # never their street's extent


def test_a_street_officer_gets_every_community_s_grids_and_outlines(
    territory, other_territory, two_communities, street_officer
):
    collection = grids_of(street_officer, territory["street"])

    grids = grid_features(collection)
    assert {code: (f["properties"]["open"], f["properties"]["overdue"]) for code, f in grids.items()} == {
        territory["grid"].code: (3, 1),
        other_territory["grid"].code: (1, 0),
    }
    outlines = {f["id"] for f in collection["features"] if f["properties"]["kind"] != "grid"}
    assert outlines == {
        f"community-{territory['community'].code}",
        f"community-{other_territory['community'].code}",
        f"street-{territory['street'].code}",
    }


def test_a_node_out_of_scope_answers_404_for_grids_and_issues(other_territory, two_communities, community_staff):
    for path in ("/api/v1/map/grids/", "/api/v1/map/issues/"):
        for node in ("community", "grid", "street"):
            response = api(community_staff).get(path, {"area": other_territory[node].code})
            assert response.status_code == HTTPStatus.NOT_FOUND, (path, node)
            assert response.json()["error"]["code"] == "not_found"


def test_residents_and_department_staff_are_refused(territory, resident, chengguan_staff):
    for user in (resident, chengguan_staff):
        response = api(user).get("/api/v1/map/grids/", {"area": territory["community"].code})
        assert response.status_code == HTTPStatus.FORBIDDEN
    assert APIClient().get("/api/v1/map/grids/", {"area": territory["community"].code}).status_code == 401


def test_issue_points_are_the_open_issues_in_scope_without_reporter_data(
    territory, other_territory, two_communities, street_officer, community_staff, resident
):
    secret = issue_in_status(
        "submitted",
        reporter=resident,
        place=territory["grid"],
        description="我的电话 13912345678，住3单元402。",
        reporter_name="刘伟",
        reporter_phone="13800138000",
        lat=25.8261234567,
        lng=114.9561234567,
        address="金东南路88号3单元402",
    )
    collection = issues_of(community_staff, territory["community"])

    numbers = {f["properties"]["number"] for f in collection["features"]}
    open_mine = {i.number for i in two_communities["mine"] if i.status in Issue.OPEN_STATUSES}
    assert numbers == open_mine | {secret.number}
    assert two_communities["theirs"].number not in json.dumps(collection)
    point = next(f for f in collection["features"] if f["id"] == secret.number)
    assert point["geometry"] == {"type": "Point", "coordinates": [114.956123, 25.826123]}  # exact for staff
    assert point["properties"] == {
        "kind": "issue",
        "number": secret.number,
        "status": "submitted",
        "status_label": "已提交",  # the default language
        "overdue": False,
        "category": None,
        "grid": territory["grid"].code,
        "url": f"/issues/{secret.number}/",
    }
    body = json.dumps(collection, ensure_ascii=False)
    for personal in ("刘伟", "13800138000", "13912345678", "金东南路88号", resident.username, "电话"):
        assert personal not in body
    overdue_flags = {f["id"]: f["properties"]["overdue"] for f in collection["features"]}
    assert overdue_flags[two_communities["mine"][2].number] is True

    street = issues_of(street_officer, territory["street"])
    assert two_communities["theirs"].number in {f["id"] for f in street["features"]}


def test_an_issue_at_a_building_is_drawn_at_the_building(territory, make, community_staff):
    issue = make("submitted")  # at the building, no coordinates of its own
    [point] = issues_of(community_staff, territory["grid"])["features"]
    assert point["id"] == issue.number
    assert point["geometry"]["coordinates"] == [territory["building"].lng, territory["building"].lat]


def test_the_geojson_is_valid_rfc_7946_with_rounded_closed_rings(territory, two_communities, street_officer):
    add_grid(territory["community"], 2, lng=114.96)
    collection = grids_of(street_officer, territory["street"], zoom=12)

    assert collection["type"] == "FeatureCollection"
    assert collection["zoom"] == 12
    west, south, east, north = collection["bbox"]
    assert (west, south, east, north) == pytest.approx((114.95, 25.82, 114.97, 25.83))  # both communities' grids
    decimals = decimals_for_tolerance(tolerance_for_zoom(12))
    for feature in collection["features"]:
        assert feature["type"] == "Feature" and isinstance(feature["id"], str)
        geometry = feature["geometry"]
        shape = shapely.from_geojson(json.dumps(geometry))
        assert shape.is_valid and not shape.is_empty
        rings = geometry["coordinates"] if geometry["type"] == "Polygon" else [geometry["coordinates"]]
        if geometry["type"] == "Polygon":
            assert all(ring[0] == ring[-1] and len(ring) >= 4 for ring in rings)
            assert shapely.is_ccw(shapely.LinearRing(rings[0]))  # RFC 7946: exterior rings counter-clockwise
        for position in shapely.get_coordinates(shape):
            assert all(round(x, decimals) == pytest.approx(x, abs=1e-12) for x in position)
            assert west - 1e-9 <= position[0] <= east + 1e-9 and south - 1e-9 <= position[1] <= north + 1e-9
    kinds = [f["properties"]["kind"] for f in collection["features"]]
    assert kinds == ["grid", "grid", "grid", "community", "community", "street"]
    # Two grids of one community: its outline is their union's boundary, not two boxes.
    community = next(f for f in collection["features"] if f["id"] == f"community-{territory['community'].code}")
    assert shapely.from_geojson(json.dumps(community["geometry"])).length == pytest.approx(0.06, abs=1e-6)


def test_geometry_is_simplified_to_the_zoom(territory, street_officer):
    # A wiggly edge: 200 vertices within 1 m of a straight line, which no screen pixel at zoom 10 can show.
    lats = [25.84 + 0.00001 * (i % 2) for i in range(200)]
    ring = [[114.95 + 0.01 * i / 199, lat] for i, lat in enumerate(lats)] + [[114.96, 25.85], [114.95, 25.85]]
    ring.append(ring[0])
    AreaFactory(
        code=f"{territory['community'].code}009",
        level=Area.Level.GRID,
        parent=territory["community"],
        name="第9网格",
        boundary={"type": "Polygon", "coordinates": [ring]},
    )
    coarse = grid_features(grids_of(street_officer, territory["community"], zoom=10))
    fine = grid_features(grids_of(street_officer, territory["community"], zoom=19))
    code = f"{territory['community'].code}009"
    assert len(coarse[code]["geometry"]["coordinates"][0]) <= 6
    assert len(fine[code]["geometry"]["coordinates"][0]) > 100


def test_a_grid_without_a_drawable_boundary_is_not_drawn_but_its_issues_are_counted(
    territory, community_staff, street_officer
):
    bowtie = [[114.96, 25.82], [114.97, 25.83], [114.97, 25.82], [114.96, 25.83], [114.96, 25.82]]
    broken = AreaFactory(
        code=f"{territory['community'].code}002",
        level=Area.Level.GRID,
        parent=territory["community"],
        name="第2网格",
        boundary={"type": "Polygon", "coordinates": [bowtie]},  # crosses itself: invalid
    )
    bare = AreaFactory(
        code=f"{territory['community'].code}003", level=Area.Level.GRID, parent=territory["community"], name="第3网格"
    )
    for grid in (broken, bare):
        issue_in_status("submitted", reporter=community_staff, place=grid, description="楼道灯坏了，一直不亮。")

    collection = grids_of(street_officer, territory["community"])

    assert set(grid_features(collection)) == {territory["grid"].code}
    assert collection["without_boundary"] == 2
    assert collection["totals"] == {"open": 2, "overdue": 0}


def test_the_zoom_that_fits_a_node_and_the_rounding_it_needs():
    assert zoom_to_fit((114.0, 25.0, 115.0, 26.0)) == 9  # a 1° street in about 600 × 600 px
    assert zoom_to_fit((114.95, 25.82, 114.96, 25.83)) == 16  # one grid
    assert decimals_for_tolerance(tolerance_for_zoom(9)) == 3
    assert decimals_for_tolerance(tolerance_for_zoom(15)) == 5


def _count_queries(user, path, area, **params):
    """Return the queries of a cold call (the layer is built) and of a warm one (it is kept)."""
    map_layers_forget()
    counted = []
    for _ in range(2):
        # A fresh user object each time, as each request has: its scope is read, not cached from before.
        client = api(type(user).objects.get(pk=user.pk))
        with CaptureQueriesContext(connection) as queries:
            assert client.get(path, {"area": area.code, **params}).status_code == HTTPStatus.OK
        counted.append(len(queries))
    return tuple(counted)


PATHS = ("/api/v1/map/grids/", "/api/v1/map/issues/")


def test_queries_stay_constant_whatever_the_number_of_grids_and_issues(
    territory, make, street_officer, community_staff, settings
):
    settings.GRIDDESK_AUTH_CACHE_SECONDS = 0  # each request reads the caller's scope, as without orgs.auth_cache

    def count(**params):
        map_drawings_refresh(area=territory["district"])  # as grids.generation and grids.services leave them
        return {p: _count_queries(street_officer, p, territory["street"], **params) for p in PATHS}

    make("submitted")
    small, small_view = count(), count(bbox="114.0,25.0,116.0,26.0", zoom=15)
    for seq in range(2, 22):
        grid = add_grid(territory["community"], seq, lng=114.96 + 0.01 * seq)
        issue_in_status("submitted", reporter=street_officer, place=grid, description="井盖缺失，夜里危险。")
    large, large_view = count(), count(bbox="114.0,25.0,116.0,26.0", zoom=15)

    assert small == large and small_view == large_view
    # The caller's scope (memberships, partner app), the node, the layer's signature, then the layer when it is
    # built (the grids' drawings and their texts at the fitting tier, the outlines with their names), the counts and
    # the hot spots.
    assert large["/api/v1/map/grids/"] == (9, 6)
    assert large_view["/api/v1/map/grids/"] == (8, 6)  # a named zoom: its tier's texts come with the grids
    assert large["/api/v1/map/issues/"] == (4, 4) == large_view["/api/v1/map/issues/"]  # scope (2), node, points


def test_grids_drawn_at_their_first_read_cost_the_same_queries_for_one_or_twenty(territory, street_officer, settings):
    """Grids written around grids.services (factories, SQL) are drawn in batches by the read that finds them."""
    settings.GRIDDESK_AUTH_CACHE_SECONDS = 0
    small = _count_queries(street_officer, PATHS[0], territory["street"])
    for seq in range(2, 22):
        add_grid(territory["community"], seq, lng=114.96 + 0.01 * seq)
    MapDrawing.objects.all().delete()  # nothing drawn, as for the first count
    assert _count_queries(street_officer, PATHS[0], territory["street"]) == small


def test_an_unchanged_answer_is_304_by_its_etag_and_a_changed_one_is_not(territory, make, community_staff):
    make("submitted")
    client = api(community_staff)
    first = client.get("/api/v1/map/grids/", {"area": territory["community"].code})
    etag = first["ETag"]
    assert first["Cache-Control"] == "private, no-cache"

    again = client.get("/api/v1/map/grids/", {"area": territory["community"].code}, HTTP_IF_NONE_MATCH=etag)
    assert again.status_code == HTTPStatus.NOT_MODIFIED and again.content == b""

    make("submitted")
    moved = client.get("/api/v1/map/grids/", {"area": territory["community"].code}, HTTP_IF_NONE_MATCH=etag)
    assert moved.status_code == HTTPStatus.OK and moved["ETag"] != etag
    assert grid_features(json.loads(moved.content))[territory["grid"].code]["properties"]["open"] == 2


def test_the_answer_is_gzipped_for_clients_that_accept_it_and_its_weak_etag_still_matches(
    territory, make, community_staff
):
    make("submitted")
    client = api(community_staff)
    query = {"area": territory["community"].code}
    response = client.get("/api/v1/map/grids/", query, HTTP_ACCEPT_ENCODING="gzip")
    assert response["Content-Encoding"] == "gzip"
    assert json.loads(gzip.decompress(response.content))["type"] == "FeatureCollection"
    assert response["ETag"].startswith('W/"')

    again = client.get("/api/v1/map/grids/", query, HTTP_ACCEPT_ENCODING="gzip", HTTP_IF_NONE_MATCH=response["ETag"])
    assert again.status_code == HTTPStatus.NOT_MODIFIED


def test_a_bad_zoom_is_a_validation_error(territory, community_staff):
    response = api(community_staff).get("/api/v1/map/grids/", {"area": territory["community"].code, "zoom": 40})
    assert response.status_code == HTTPStatus.BAD_REQUEST
    assert response.json()["error"]["code"] == "validation_error"


def test_the_schema_documents_both_endpoints_as_geojson(client):
    paths = APIClient().get("/api/schema/?format=json").json()["paths"]
    for path in ("/api/v1/map/grids/", "/api/v1/map/issues/"):
        content = paths[path]["get"]["responses"]["200"]["content"]
        assert "application/geo+json" in content, path
    grids = paths["/api/v1/map/grids/"]["get"]
    assert {"area", "zoom", "bbox"} <= {p["name"] for p in grids["parameters"]}
    assert "bbox" in {p["name"] for p in paths["/api/v1/map/issues/"]["get"]["parameters"]}


# --- views (bbox) and zoom tiers ------------------------------------------------------------------------------------


def test_a_bbox_writes_only_the_grids_outlines_and_points_in_view_and_the_totals_of_the_whole_node(
    territory, other_territory, make, street_officer
):
    # A row of grids going east in the first community; the other community's grid is 0.5° further east.
    row = [add_grid(territory["community"], seq, lng=114.95 + 0.01 * (seq - 1)) for seq in range(2, 6)]
    Area.objects.filter(pk=other_territory["grid"].pk).update(
        boundary={
            "type": "Polygon",
            "coordinates": [[[115.5, 25.82], [115.51, 25.82], [115.51, 25.83], [115.5, 25.82]]],
        }
    )
    near = issue_in_status(
        "submitted", reporter=street_officer, place=row[1], description="路灯不亮。", lat=25.825, lng=114.975
    )
    far = issue_in_status(
        "submitted",
        reporter=street_officer,
        place=other_territory["grid"],
        description="井盖缺失。",
        lat=25.822,
        lng=115.505,
    )
    view = "114.965,25.81,114.985,25.84"  # meets the grids at 114.96–114.97, 114.97–114.98 and 114.98–114.99

    whole = grids_of(street_officer, territory["street"], zoom=15)
    seen = grids_of(street_officer, territory["street"], zoom=15, bbox=view)

    assert set(grid_features(seen)) == {row[0].code, row[1].code, row[2].code}
    outlines = {f["id"] for f in seen["features"] if f["properties"]["kind"] != "grid"}
    assert outlines == {f"community-{territory['community'].code}", f"street-{territory['street'].code}"}
    assert seen["totals"] == whole["totals"] == {"open": 2, "overdue": 0}  # the node's, whatever the view
    assert seen["bbox"] == whole["bbox"]  # the node's extent, to fit the map to
    assert grid_features(seen)[row[2].code] == grid_features(whole)[row[2].code]  # the same drawing
    points = issues_of(street_officer, territory["street"], bbox=view)
    assert [f["id"] for f in points["features"]] == [near.number]
    assert {f["id"] for f in issues_of(street_officer, territory["street"])["features"]} == {near.number, far.number}


def test_a_bbox_never_widens_the_scope(territory, other_territory, make, community_staff):
    make("submitted")
    everywhere = "-180,-90,180,90"
    collection = grids_of(community_staff, territory["community"], bbox=everywhere)
    assert set(grid_features(collection)) == {territory["grid"].code}
    points = issues_of(community_staff, territory["community"], bbox=everywhere)
    assert {f["properties"]["grid"] for f in points["features"]} == {territory["grid"].code}


@pytest.mark.parametrize("bbox", ["1,2,3", "a,b,c,d", "10,0,5,1", "0,80,1,95", "1,2,3,4,5"])
def test_a_bad_bbox_is_a_validation_error(territory, community_staff, bbox):
    for path in PATHS:
        response = api(community_staff).get(path, {"area": territory["community"].code, "bbox": bbox})
        assert response.status_code == HTTPStatus.BAD_REQUEST, (path, bbox)
        assert response.json()["error"]["code"] == "validation_error"


def test_a_zoom_is_served_by_the_nearest_tier_at_or_above_it(territory, community_staff):
    assert [tier_for_zoom(z) for z in (3, 6, 7, 9, 10, 13, 15, 16, 19)] == [6, 6, 9, 9, 12, 15, 15, 19, 19]
    assert grids_of(community_staff, territory["community"], zoom=13)["zoom"] == 15
    assert grids_of(community_staff, territory["community"])["zoom"] == tier_for_zoom(
        zoom_to_fit((114.95, 25.82, 114.96, 25.83))
    )


# --- hot spots ------------------------------------------------------------------------------------------------------


def hotspot_of(issues: list[Issue], grid: Area, category) -> HotSpot:
    now = timezone.now()
    spot = HotSpot.objects.create(
        street_code=grid.ancestor_code(Area.Level.STREET),
        grid_code=grid.code,
        area=grid,
        category=category,
        first_at=now - timedelta(hours=3),
        last_at=now,
        observed=len(issues),
        expected=0.42,
        p_value=1e-6,
    )
    spot.issues.add(*issues)
    return spot


def test_open_hot_spots_come_with_the_grids_scoped_as_their_issues(
    territory, other_territory, make, category, street_officer, community_staff, other_community_staff
):
    spot = hotspot_of([make("submitted") for _ in range(3)], territory["grid"], category)
    closed = hotspot_of([make("submitted")], territory["grid"], category)
    HotSpot.objects.filter(pk=closed.pk).update(status=HotSpot.Status.CLOSED)

    street = grids_of(street_officer, territory["street"])
    assert street["hotspots"] == [
        {
            "id": spot.pk,
            "grid": territory["grid"].code,
            "grid_name": territory["grid"].name,
            "category": category.name,
            "observed": 3,
            "expected": 0.4,
            "url": f"/desk/escalations/#hotspot-{spot.pk}",  # the street officer's escalation desk
        }
    ]
    mine = grids_of(community_staff, territory["community"])
    assert [(s["id"], s["url"]) for s in mine["hotspots"]] == [(spot.pk, None)]  # no escalation desk of theirs
    assert grids_of(other_community_staff, other_territory["community"])["hotspots"] == []
    # The street's view of the other community only: the alert is not under it.
    assert grids_of(street_officer, other_territory["community"])["hotspots"] == []


def test_a_kept_answer_serves_the_same_state_and_a_new_hot_spot_changes_it(territory, make, category, street_officer):
    issues = [make("submitted") for _ in range(3)]
    client, query = api(street_officer), {"area": territory["street"].code}
    first = client.get("/api/v1/map/grids/", query)
    again = client.get("/api/v1/map/grids/", query)
    assert again["ETag"] == first["ETag"] and again.content == first.content
    assert len(map_api._answers) == 1  # written once

    spot = hotspot_of(issues, territory["grid"], category)  # no count moves, the answer still changes
    moved = client.get("/api/v1/map/grids/", query)
    assert moved["ETag"] != first["ETag"]
    assert [s["id"] for s in json.loads(moved.content)["hotspots"]] == [spot.pk]
    assert len(map_api._answers) == 2
