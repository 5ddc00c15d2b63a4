"""The map's stored drawings (grids.maps, grids.models.MapDrawing): drawn when grids are written, redrawn when the grids
they were drawn from change, and never drawn again by a read that finds them current."""

import json

import pytest
import shapely
from django.db import connection
from django.test.utils import CaptureQueriesContext

from grids.maps import ZOOM_TIERS, map_layer, map_layers_forget
from grids.models import Area, MapDrawing
from grids.services import area_create
from tests.grids.test_generation import communities, generate  # noqa: F401 (fixture)

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _fresh_layers():
    map_layers_forget()
    yield
    map_layers_forget()


def box(west: float, south: float, size: float = 0.01) -> dict:
    ring = [[west, south], [west + size, south], [west + size, south + size], [west, south + size], [west, south]]
    return {"type": "Polygon", "coordinates": [ring]}


def outline(layer, kind: str, code: str) -> shapely.Geometry:
    """Return the outline of `code` in `layer` as a shapely line."""
    [text] = [f for f in layer.outlines if f'"id":"{kind}-{code}"' in f]
    return shapely.from_geojson(json.dumps(json.loads(text)["geometry"]))


def writes(queries) -> list[str]:
    return [q["sql"] for q in queries.captured_queries if q["sql"].lstrip().upper().startswith(("INSERT", "UPDATE"))]


def test_generated_grids_and_their_outlines_are_drawn_at_every_tier_when_written(communities):  # noqa: F811
    generate(*(c.code for c in communities), grids=4, buildings=0)
    grids = Area.objects.filter(level=Area.Level.GRID)
    street = Area.objects.get(level=Area.Level.STREET)

    drawings = {d.area_id: d for d in MapDrawing.objects.all()}
    expected = {*grids.values_list("pk", flat=True), *(c.pk for c in communities), street.pk}
    assert set(drawings) == expected
    for grid in grids:
        d = drawings[grid.pk]
        assert (d.grids, d.latest) == (1, grid.updated_at)
        assert all(getattr(d, f"zoom_{tier}") for tier in ZOOM_TIERS)
        feature = json.loads(d.zoom_19 + "}}")  # a Feature up to its properties' last member
        assert feature["properties"] == {
            "kind": "grid",
            "code": grid.code,
            "name": grid.name,
            "community": grid.parent.code,
        }
        shape = shapely.geometry.shape(feature["geometry"])
        assert shape.equals_exact(shapely.geometry.shape(grid.boundary), 1e-6)
    assert drawings[street.pk].grids == 12 and drawings[street.pk].shape  # its area, to union from

    with CaptureQueriesContext(connection) as queries:
        layer = map_layer(area=street)
    assert writes(queries) == []  # the first read draws nothing: it was all drawn at generation
    assert len(layer.grids) == 12 and len(layer.outlines) == 4
    assert len(queries) == 4  # the signature, the street's own bounds (its tier), the grids' drawings, the outlines


def test_a_grid_created_through_the_service_is_drawn_at_once(communities):  # noqa: F811
    grid = area_create(
        code=f"{communities[0].code}001",
        name="第1网格",
        level=Area.Level.GRID,
        parent=communities[0],
        boundary=box(115, 25),
    )
    d = MapDrawing.objects.get(area=grid)
    assert (d.west, d.south, d.east, d.north) == pytest.approx((115, 25, 115.01, 25.01))
    assert (d.grids, d.latest) == (1, grid.updated_at)


def test_a_changed_grid_redraws_itself_and_the_outlines_above_it_and_nothing_else(communities):  # noqa: F811
    generate(*(c.code for c in communities), grids=4, buildings=0)
    street = Area.objects.get(level=Area.Level.STREET)
    before = map_layer(area=street)
    kept = {d.area_id: d.latest for d in MapDrawing.objects.filter(area__in=communities[1:])}
    grid = Area.objects.filter(parent=communities[0], level=Area.Level.GRID).order_by("code").first()
    far = box(116, 26)

    grid.boundary = far  # an edit as the admin makes it (save, updated_at moves)
    grid.save()
    with CaptureQueriesContext(connection) as queries:
        after = map_layer(area=street)

    assert writes(queries)  # redrawn by the read that found it stale
    [drawn] = [g for g in after.grids if g.code == grid.code]
    assert '"coordinates":[[[116.0,26.0]' in drawn.feature.replace(".0,", ".0,")  # the new place, at the street's tier
    assert after.bounds[2:] == pytest.approx((116.01, 26.01))
    community = outline(after, "community", communities[0].code)
    assert shapely.box(116, 26, 116.01, 26.01).boundary.within(community.buffer(1e-6))
    assert not outline(before, "community", communities[0].code).equals(community)
    street_outline = outline(after, "street", street.code)
    assert shapely.box(116, 26, 116.01, 26.01).boundary.within(street_outline.buffer(1e-6))
    # The other communities were not redrawn.
    assert {d.area_id: d.latest for d in MapDrawing.objects.filter(area__in=communities[1:])} == kept


def test_a_grid_added_or_deleted_redraws_its_community_s_outline(communities):  # noqa: F811
    community = communities[0]
    first = area_create(
        code=f"{community.code}001", name="1", level=Area.Level.GRID, parent=community, boundary=box(115, 25)
    )
    assert outline(map_layer(area=community), "community", community.code).length == pytest.approx(0.04)
    second = area_create(
        code=f"{community.code}002", name="2", level=Area.Level.GRID, parent=community, boundary=box(115.01, 25)
    )
    assert outline(map_layer(area=community), "community", community.code).length == pytest.approx(0.06)
    first.delete()
    layer = map_layer(area=community)
    assert [g.code for g in layer.grids] == [second.code]
    shape = shapely.from_geojson(MapDrawing.objects.get(area=community).shape)
    assert shape.symmetric_difference(shapely.box(115.01, 25, 115.02, 25.01)).area == pytest.approx(0, abs=1e-12)


def test_a_grid_retired_by_generation_is_no_longer_drawn(communities):  # noqa: F811
    generate(*(c.code for c in communities), grids=4, buildings=0)
    street = Area.objects.get(level=Area.Level.STREET)
    assert len(map_layer(area=street).grids) == 12
    generate(
        *(c.code for c in communities), grids=3, buildings=0
    )  # one grid fewer per community: the fourth loses its boundary
    layer = map_layer(area=street)
    assert len(layer.grids) == 9 and layer.without_boundary == 3


def test_draw_map_draws_what_a_load_around_the_services_left_undrawn(communities):  # noqa: F811
    from django.core.management import call_command

    generate(*(c.code for c in communities), grids=2, buildings=0)
    MapDrawing.objects.all().delete()  # as after the migration, or an SQL load
    call_command("draw_map", verbosity=0)
    assert MapDrawing.objects.count() == 6 + 3 + 1  # the grids, the communities, the street
    with CaptureQueriesContext(connection) as queries:
        map_layer(area=Area.objects.get(level=Area.Level.STREET))
    assert writes(queries) == []
