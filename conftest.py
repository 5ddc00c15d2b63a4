"""Root fixtures: actors named by role on one territory chain (黄金岭街道 → 金东南路社区 → its first grid)."""

import pytest
from django.core.cache import caches
from django.core.cache.backends.locmem import LocMemCache

from config.api.throttling import throttle_cache
from orgs.models import Role
from tests.factories import CategoryFactory, DepartmentFactory, UserFactory, issue_in_status, member, territory_chain


@pytest.fixture(autouse=True)
def _fresh_local_cache():
    """Start every test with empty in-memory caches, so API throttle counters never leak between tests.

    Only process-local caches are cleared: a shared Redis (REDIS_URL / CACHE_URL) is never flushed.
    """
    for cache in caches.all(initialized_only=True):
        if isinstance(cache, LocMemCache):
            cache.clear()
    throttle_cache.clear_local()
    yield


@pytest.fixture(autouse=True)
def _fresh_routing_index():
    """Start every test with an empty routing index: a rolled-back grid sends no signal to drop it."""
    from grids.routing import routing_invalidate

    routing_invalidate()
    yield


@pytest.fixture(autouse=True)
def _fresh_calendar_overrides():
    """Start every test with no cached CalendarDay rows: a rolled-back row sends no signal to drop it."""
    from issues.sla import calendar_invalidate

    calendar_invalidate()
    yield


@pytest.fixture(autouse=True)
def _fresh_triage_model():
    """Start every test asking for the newest triage model, with no fragment rendered in this process: a rolled-back
    model or row sends no signal to drop it."""
    from config.fragments import fragments_clear
    from triage.suggest import model_forget

    model_forget()
    fragments_clear()
    yield


@pytest.fixture
def territory(db):
    """Return a dict of district, street, community, grid and building nodes."""
    d, s, c, g, b = territory_chain()
    return {"district": d, "street": s, "community": c, "grid": g, "building": b}


@pytest.fixture
def other_territory(territory):
    """Return a second community (金岭路社区) under the same street, with its own grid."""
    d, s, c, g, b = territory_chain(community="360702091001")
    return {"district": d, "street": s, "community": c, "grid": g, "building": b}


@pytest.fixture
def chengguan(territory):
    return DepartmentFactory(code="chengguan", name="城管", district=territory["district"])


@pytest.fixture
def shuiwu(territory):
    return DepartmentFactory(code="shuiwu", name="水务", district=territory["district"])


@pytest.fixture
def category(chengguan):
    return CategoryFactory(code="stairwell", name="楼道堆物", department=chengguan)


@pytest.fixture
def resident(db):
    return UserFactory(username="resident")


@pytest.fixture
def other_resident(db):
    return UserFactory(username="other_resident")


@pytest.fixture
def grid_worker(territory):
    return member(UserFactory(username="grid_worker"), Role.GRID_WORKER, area=territory["grid"])


@pytest.fixture
def community_staff(territory):
    return member(UserFactory(username="community_staff"), Role.COMMUNITY_STAFF, area=territory["community"])


@pytest.fixture
def other_community_staff(other_territory):
    return member(
        UserFactory(username="other_community_staff"), Role.COMMUNITY_STAFF, area=other_territory["community"]
    )


@pytest.fixture
def street_officer(territory):
    return member(UserFactory(username="street_officer"), Role.STREET_OFFICER, area=territory["street"])


@pytest.fixture
def district_admin(territory):
    return member(UserFactory(username="district_admin"), Role.DISTRICT_ADMIN, area=territory["district"])


@pytest.fixture
def chengguan_staff(chengguan):
    return member(UserFactory(username="chengguan_staff"), Role.DEPARTMENT_STAFF, department=chengguan)


@pytest.fixture
def shuiwu_staff(shuiwu):
    return member(UserFactory(username="shuiwu_staff"), Role.DEPARTMENT_STAFF, department=shuiwu)


@pytest.fixture
def make(territory, resident, community_staff, category, chengguan_staff):
    """Return a function building an issue of `resident` in a status (at the building unless `place` is given)."""

    def make(status, *, place=None, **fields):
        return issue_in_status(
            status,
            reporter=resident,
            place=place or territory["building"],
            triage=community_staff,
            category=category,
            handler=chengguan_staff,
            **fields,
        )

    return make
