"""Routing a point to its grid: inside, outside, shared edges and vertices, buildings, and index refresh."""

import pytest

from grids.models import Area
from grids.routing import grid_for_building, locate_grid, locate_grids
from grids.services import area_create, area_path_for


def box(lng_min, lat_min, lng_max, lat_max) -> dict:
    ring = [[lng_min, lat_min], [lng_max, lat_min], [lng_max, lat_max], [lng_min, lat_max], [lng_min, lat_min]]
    return {"type": "Polygon", "coordinates": [ring]}


def add_grid(community: Area, seq: int, boundary: dict | None) -> Area:
    return area_create(
        code=f"{community.code}{seq:03d}",
        name=f"第{seq}网格",
        level=Area.Level.GRID,
        parent=community,
        households=400,
        boundary=boundary,
    )


def test_point_inside_a_grid_routes_to_that_grid(territory):
    assert locate_grid(lat=25.825, lng=114.955) == territory["grid"]


def test_point_outside_every_grid_routes_nowhere(territory):
    assert locate_grid(lat=25.9, lng=115.1) is None
    assert locate_grid(lat=25.825, lng=114.9601) is None


def test_no_grids_at_all_routes_nowhere(db):
    assert locate_grid(lat=25.825, lng=114.955) is None


def test_point_on_the_outer_edge_counts_as_inside(territory):
    assert locate_grid(lat=25.82, lng=114.955) == territory["grid"]


def test_point_on_a_shared_edge_goes_to_the_lowest_code_whatever_the_creation_order(territory):
    community = territory["community"]
    # Created after grid 001, east of it, but with a lower code.
    east = add_grid(community, 0, box(114.96, 25.82, 114.97, 25.83))
    west = territory["grid"]
    assert east.code < west.code
    assert locate_grid(lat=25.825, lng=114.96) == east
    assert locate_grid(lat=25.825, lng=114.9599) == west
    assert locate_grid(lat=25.825, lng=114.9601) == east


def test_point_on_a_vertex_shared_by_four_grids_goes_to_the_lowest_code(territory):
    community = territory["community"]
    # Grid 001 is 114.95–114.96 × 25.82–25.83; add its three neighbours around the corner (114.96, 25.83).
    ne = add_grid(community, 2, box(114.96, 25.83, 114.97, 25.84))
    nw = add_grid(community, 3, box(114.95, 25.83, 114.96, 25.84))
    se = add_grid(community, 4, box(114.96, 25.82, 114.97, 25.83))
    assert locate_grid(lat=25.83, lng=114.96) == territory["grid"]
    assert locate_grid(lat=25.835, lng=114.965) == ne
    assert locate_grid(lat=25.835, lng=114.955) == nw
    assert locate_grid(lat=25.825, lng=114.965) == se


def test_building_belongs_to_its_grid_and_its_point_routes_there(territory):
    building = territory["building"]
    assert grid_for_building(building) == territory["grid"]
    assert locate_grid(lat=building.lat, lng=building.lng) == territory["grid"]


def test_grid_for_a_grid_is_itself_and_a_community_is_refused(territory):
    assert grid_for_building(territory["grid"]) == territory["grid"]
    with pytest.raises(ValueError):
        grid_for_building(territory["community"])


def test_new_grid_is_routed_to_at_once_after_it_is_saved(territory):
    assert locate_grid(lat=25.855, lng=114.985) is None
    new = add_grid(territory["community"], 9, box(114.98, 25.85, 114.99, 25.86))
    assert locate_grid(lat=25.855, lng=114.985) == new


def test_moved_boundary_is_routed_to_its_new_place(territory):
    grid = territory["grid"]
    assert locate_grid(lat=25.825, lng=114.955) == grid
    grid.boundary = box(114.98, 25.85, 114.99, 25.86)
    grid.save()
    assert locate_grid(lat=25.825, lng=114.955) is None
    assert locate_grid(lat=25.855, lng=114.985) == grid


def test_deleted_grid_is_no_longer_routed_to(territory):
    territory["building"].delete()
    territory["grid"].delete()
    assert locate_grid(lat=25.825, lng=114.955) is None


def test_grid_written_by_another_process_is_seen_after_the_check_interval(territory, settings):
    # bulk_create sends no signal, as a write from another process would not: the (count, updated_at) check sees it.
    assert locate_grid(lat=25.855, lng=114.985) is None
    settings.GRIDDESK_ROUTING_CHECK_SECONDS = 0
    community = territory["community"]
    code = f"{community.code}009"
    (new,) = Area.objects.bulk_create(
        [
            Area(
                code=code,
                name="第9网格",
                level=Area.Level.GRID,
                parent=community,
                path=area_path_for(code=code, parent=community),
                boundary=box(114.98, 25.85, 114.99, 25.86),
            )
        ]
    )
    assert locate_grid(lat=25.855, lng=114.985).code == code


def test_grids_without_a_usable_boundary_are_not_routed_to(territory):
    community = territory["community"]
    add_grid(community, 2, None)
    add_grid(community, 3, {"type": "Point", "coordinates": [114.985, 25.855]})
    # A self-intersecting "bow tie" is invalid GeoJSON geometry.
    add_grid(
        community,
        4,
        {
            "type": "Polygon",
            "coordinates": [[[114.98, 25.85], [114.99, 25.86], [114.99, 25.85], [114.98, 25.86], [114.98, 25.85]]],
        },
    )
    add_grid(community, 5, {"type": "Polygon", "coordinates": "nonsense"})
    assert locate_grid(lat=25.855, lng=114.985) is None
    assert locate_grid(lat=25.825, lng=114.955) == territory["grid"]


def test_multipolygon_boundary_routes_both_parts(territory):
    grid = add_grid(
        territory["community"],
        2,
        {
            "type": "MultiPolygon",
            "coordinates": [
                box(114.98, 25.85, 114.99, 25.86)["coordinates"],
                box(115.0, 25.85, 115.01, 25.86)["coordinates"],
            ],
        },
    )
    assert locate_grid(lat=25.855, lng=114.985) == grid
    assert locate_grid(lat=25.855, lng=115.005) == grid
    assert locate_grid(lat=25.855, lng=114.995) is None


def test_changing_the_returned_grid_does_not_change_routing(territory):
    found = locate_grid(lat=25.825, lng=114.955)
    found.code = "changed"
    assert locate_grid(lat=25.825, lng=114.955).code == territory["grid"].code


def test_locate_grids_answers_like_locate_grid_for_each_point(territory):
    community = territory["community"]
    east = add_grid(community, 0, box(114.96, 25.82, 114.97, 25.83))
    points = [(25.825, 114.955), (25.825, 114.96), (25.825, 114.965), (25.9, 115.1), (25.82, 114.95)]
    found = locate_grids(points=points)
    assert found == [territory["grid"], east, east, None, territory["grid"]]
    assert found == [locate_grid(lat=lat, lng=lng) for lat, lng in points]
    assert locate_grids(points=[]) == []
