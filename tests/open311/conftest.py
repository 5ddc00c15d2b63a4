"""Open311 fixtures: a partner app with a key, services (categories) with attributes, issues to read back."""

import pytest
from django.core.cache import cache
from django.core.cache.backends.locmem import LocMemCache
from django.test import Client

from issues.workflow import issue_submit
from orgs.models import ApiKey, PartnerApp
from tests.factories import CategoryFactory, UserFactory

REPORTER_PHONE = "13812345678"


@pytest.fixture
def client():
    """Return a test client asking for English: the error descriptions these tests read are the English ones.

    Without Accept-Language the answer is in the site's language, Chinese (tests/api/test_error_language.py).
    """
    return Client(HTTP_ACCEPT_LANGUAGE="en")


@pytest.fixture(autouse=True)
def fresh_throttle_counters():
    """Start each test with no throttle counts (only this process's memory cache; never a shared Redis)."""
    if isinstance(cache, LocMemCache) or isinstance(getattr(cache, "_cache", None), dict):
        cache.clear()


@pytest.fixture
def partner(territory):
    """Return (partner app, raw api key): partner app `demo-partner`, scope the district."""
    user = UserFactory(username="partner_demo")
    app = PartnerApp.objects.create(slug="demo-partner", name="Demo partner", user=user, area=territory["district"])
    _, raw = ApiKey.issue(partner=app, name="tests")
    return app, raw


@pytest.fixture
def api_key(partner):
    return partner[1]


@pytest.fixture
def leak_service(shuiwu):
    """A service with attributes: floor (number, required) and severity (a list, optional), under a group."""
    group = CategoryFactory(code="utilities", name="水电气", department=None)
    return CategoryFactory(
        code="water-leak",
        name="漏水",
        parent=group,
        department=shuiwu,
        attributes=[
            {"code": "floor", "datatype": "number", "description": "楼层", "required": True},
            {
                "code": "severity",
                "datatype": "singlevaluelist",
                "description": "严重程度",
                "required": False,
                "values": [{"key": "minor", "name": "轻微"}, {"key": "major", "name": "严重"}],
            },
        ],
    )


@pytest.fixture
def partner_issue(partner, territory, category):
    """An issue the partner app submitted, with the reporter's name and phone."""
    return issue_submit(
        actor=partner[0].user,
        description="三单元楼道堆满纸箱，堵住了消防通道",
        building=territory["building"].code,
        category=category,
        reporter_name="刘德华",
        reporter_phone=REPORTER_PHONE,
    )


@pytest.fixture
def resident_issue(resident, territory, category):
    """An issue a resident submitted in person; it is public but not the partner's."""
    return issue_submit(
        actor=resident,
        description="路灯坏了，请联系我 139 8765 4321",
        building=territory["building"].code,
        category=category,
        reporter_name="张三",
        reporter_phone="13987654321",
    )
