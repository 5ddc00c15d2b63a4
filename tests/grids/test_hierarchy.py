"""Hierarchy invariants of the territory tree, and "everything under X" as one indexed query."""

import pytest
from django.core.exceptions import ValidationError
from django.db import IntegrityError, connection, transaction

from grids.models import Area
from grids.services import area_create


@pytest.fixture
def district(db):
    return area_create(code="360702", name="章贡区", level=Area.Level.DISTRICT)


@pytest.fixture
def street(district):
    return area_create(code="360702091", name="黄金岭街道", level=Area.Level.STREET, parent=district)


def test_path_is_the_chain_of_codes_from_the_district(street):
    community = area_create(code="360702091005", name="金东南路社区", level=Area.Level.COMMUNITY, parent=street)
    grid = area_create(code="360702091005001", name="第1网格", level=Area.Level.GRID, parent=community)
    assert grid.path == "360702/360702091/360702091005/360702091005001"
    assert grid.ancestor_code(Area.Level.STREET) == "360702091"
    assert grid.ancestor_code(Area.Level.BUILDING) is None


@pytest.mark.parametrize(
    ("code", "level", "parent_key", "field"),
    [
        ("360702091005", Area.Level.COMMUNITY, "district", "level"),  # skips the street level
        ("360702092", Area.Level.STREET, None, "parent"),  # a street needs a parent
        ("360703091", Area.Level.STREET, "district", "code"),  # code outside its parent's code
        ("36070209", Area.Level.STREET, "district", "code"),  # 8 digits for a street
        ("36070209X", Area.Level.STREET, "district", "code"),  # not digits
        ("360703", Area.Level.DISTRICT, "district", "parent"),  # a district has no parent
    ],
)
def test_a_node_that_does_not_fit_the_tree_is_refused_and_nothing_is_written(district, code, level, parent_key, field):
    parent = {"district": district, None: None}[parent_key]
    before = Area.objects.count()
    with pytest.raises(ValidationError) as refused:
        area_create(code=code, name="x", level=level, parent=parent)
    assert field in refused.value.message_dict
    assert Area.objects.count() == before


def test_the_database_refuses_a_root_that_is_not_a_district(db):
    with pytest.raises(IntegrityError), transaction.atomic():
        Area.objects.create(code="360702091", name="x", level=Area.Level.STREET, path="360702091")


def test_the_database_refuses_two_nodes_with_one_code(district):
    with pytest.raises(IntegrityError), transaction.atomic():
        Area.objects.create(code="360702", name="again", level=Area.Level.DISTRICT, path="360702x")


def test_under_returns_the_subtree_and_not_a_sibling_sharing_a_prefix(street, district):
    mine = area_create(code="360702091005", name="a", level=Area.Level.COMMUNITY, parent=street)
    grid = area_create(code="360702091005001", name="g", level=Area.Level.GRID, parent=mine)
    sibling = area_create(code="360702091001", name="b", level=Area.Level.COMMUNITY, parent=street)
    assert set(Area.objects.under(mine)) == {mine, grid}
    assert set(Area.objects.under(street)) == {street, mine, grid, sibling}


@pytest.mark.skipif(connection.vendor != "postgresql", reason="query plans are PostgreSQL's")
def test_everything_under_a_street_is_one_query_served_by_an_index(street, django_assert_num_queries):
    for i in range(1, 30):
        area_create(code=f"360702091{i:03d}", name=str(i), level=Area.Level.COMMUNITY, parent=street)
    qs = Area.objects.under(street)
    with connection.cursor() as cursor:
        cursor.execute("SET LOCAL enable_seqscan = off")
        plan = qs.explain()
    assert "Index" in plan and "Seq Scan" not in plan
    with django_assert_num_queries(1):
        assert len(list(qs)) == 30
