"""generate_grids: deterministic codes and boundaries, an exact tiling of the box, buildings inside their grids."""

import random

import pytest
import shapely
from django.core.management import CommandError, call_command

from grids.models import Area
from grids.routing import locate_grid
from tests.factories import AreaFactory

BBOX = "25.80,25.86,114.93,115.00"
BOX = shapely.box(114.93, 25.80, 115.00, 25.86)


@pytest.fixture
def communities(db):
    d = AreaFactory(code="360702", level=Area.Level.DISTRICT, name="章贡区")
    s = AreaFactory(code="360702091", level=Area.Level.STREET, parent=d, name="黄金岭街道")
    return [
        AreaFactory(code=f"360702091{n:03d}", level=Area.Level.COMMUNITY, parent=s, name=f"社区{n}居委会")
        for n in (1, 5, 7)
    ]


def generate(*codes, grids=5, buildings=3, seed=7, **extra):
    call_command(
        "generate_grids",
        *(["--community", *codes] if codes else []),
        "--bbox",
        extra.pop("bbox", BBOX),
        "--grids-per-community",
        str(grids),
        "--buildings-per-grid",
        str(buildings),
        "--seed",
        str(seed),
        "--no-progress",
        *[str(x) for kv in extra.items() for x in kv],
        verbosity=0,
    )


def snapshot() -> list[tuple]:
    return list(
        Area.objects.filter(level__in=[Area.Level.GRID, Area.Level.BUILDING])
        .order_by("code")
        .values_list("code", "parent__code", "path", "boundary", "lat", "lng", "households", "address")
    )


def grid_shapes() -> dict[str, shapely.Geometry]:
    return {
        a.code: shapely.geometry.shape(a.boundary)
        for a in Area.objects.filter(level=Area.Level.GRID, boundary__isnull=False)
    }


def test_generates_codes_from_the_community_and_paths_from_the_tree(communities):
    generate(*[c.code for c in communities])
    grids = Area.objects.filter(level=Area.Level.GRID)
    assert sorted(grids.values_list("code", flat=True)) == sorted(
        f"{c.code}{g:03d}" for c in communities for g in range(1, 6)
    )
    buildings = Area.objects.filter(level=Area.Level.BUILDING)
    assert buildings.count() == 3 * 5 * 3
    building = buildings.select_related("parent__parent").get(code=f"{communities[1].code}002003")
    assert building.parent.code == f"{communities[1].code}002"
    assert building.path == f"360702/360702091/{communities[1].code}/{communities[1].code}002/{building.code}"
    assert building.address == "社区5第2网格3栋"


def test_same_seed_gives_the_same_codes_and_boundaries_and_a_rerun_writes_nothing(communities):
    codes = [c.code for c in communities]
    generate(*codes)
    first = snapshot()
    stamps = list(Area.objects.order_by("code").values_list("updated_at", flat=True))
    generate(*codes)
    assert snapshot() == first
    assert list(Area.objects.order_by("code").values_list("updated_at", flat=True)) == stamps

    # From scratch, in another order of arguments: the very same territory.
    Area.objects.filter(level=Area.Level.BUILDING).delete()
    Area.objects.filter(level=Area.Level.GRID).delete()
    generate(*reversed(codes))
    assert snapshot() == first


def test_another_seed_moves_the_interior_edges(communities):
    codes = [c.code for c in communities]
    generate(*codes, seed=1)
    first = grid_shapes()
    generate(*codes, seed=2)
    second = grid_shapes()
    assert first.keys() == second.keys()
    assert any(not first[k].equals(second[k]) for k in first)


def test_grids_tile_the_box_without_gap_or_overlap(communities):
    generate(*[c.code for c in communities], grids=7)
    shapes = grid_shapes()
    assert len(shapes) == 21
    union = shapely.union_all(list(shapes.values()))
    assert union.symmetric_difference(BOX).area == pytest.approx(0, abs=1e-12)
    assert sum(s.area for s in shapes.values()) == pytest.approx(BOX.area, rel=1e-9)


def test_every_random_point_in_the_box_routes_to_exactly_one_grid(communities):
    generate(*[c.code for c in communities], grids=7)
    shapes = grid_shapes()
    tree = shapely.STRtree(list(shapes.values()))
    rng = random.Random(42)
    for _ in range(500):
        lat, lng = rng.uniform(25.80, 25.86), rng.uniform(114.93, 115.00)
        point = shapely.Point(lng, lat)
        assert len(tree.query(point, predicate="intersects")) == 1
        grid = locate_grid(lat=lat, lng=lng)
        assert shapes[grid.code].covers(point)
    assert locate_grid(lat=25.79, lng=114.95) is None


def test_buildings_lie_inside_their_grid_and_share_its_households(communities):
    generate(*[c.code for c in communities], buildings=4)
    shapes = grid_shapes()
    for grid in Area.objects.filter(level=Area.Level.GRID).prefetch_related("children"):
        assert 300 <= grid.households <= 500
        buildings = list(grid.children.all())
        assert len(buildings) == 4
        assert sum(b.households for b in buildings) == grid.households
        for b in buildings:
            assert shapes[grid.code].contains(shapely.Point(b.lng, b.lat))
            assert locate_grid(lat=b.lat, lng=b.lng).code == grid.code


def test_under_a_street_takes_all_its_communities(communities):
    generate(grids=2, buildings=0, **{"--under": "360702091"})
    assert Area.objects.filter(level=Area.Level.GRID).count() == 6
    assert not Area.objects.filter(level=Area.Level.BUILDING).exists()


def test_fewer_grids_on_a_rerun_retire_the_extra_boundaries_and_keep_the_tiling(communities):
    codes = [c.code for c in communities]
    generate(*codes, grids=5)
    generate(*codes, grids=3)
    assert Area.objects.filter(level=Area.Level.GRID).count() == 15
    shapes = grid_shapes()
    assert len(shapes) == 9
    assert shapely.union_all(list(shapes.values())).symmetric_difference(BOX).area == pytest.approx(0, abs=1e-12)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ({"codes": ["360702091"]}, "not a community"),
        ({"codes": ["360702091999"]}, "unknown area code"),
        ({"codes": [], "--under": "999999"}, "unknown area code"),
        ({"codes": []}, "name the communities"),
        ({"codes": ["360702091001"], "bbox": "25.86,25.80,114.93,115.00"}, "lat_min < lat_max"),
        ({"codes": ["360702091001"], "bbox": "25.80,25.86"}, "lat_min,lat_max,lng_min,lng_max"),
        ({"codes": ["360702091001"], "grids": 0}, "grids per community"),
    ],
)
def test_bad_arguments_are_refused_and_create_nothing(communities, args, message):
    before = Area.objects.count()
    codes = args.pop("codes")
    with pytest.raises(CommandError, match=message):
        generate(*codes, **args)
    assert Area.objects.count() == before
