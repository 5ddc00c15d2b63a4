"""Hot spots in statistics: alerts raised, closed, still open and the median time to handle, on /stats/ and in
`/api/v1/stats/report/` (triage.hotspot_stats)."""

from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from tests.factories import territory_chain
from triage.hotspot_stats import hotspot_stats
from triage.models import HotSpot

pytestmark = pytest.mark.django_db


def alert(area, *, raised, closed_after=None, building=None):
    spot = HotSpot.objects.create(
        street_code=area.ancestor_code("street"),
        grid_code=area.code,
        area=area,
        building=building,
        building_code=building.code if building else "",
        first_at=raised,
        last_at=raised,
        observed=5,
        expected=0.2,
        p_value=1e-5,
    )
    closed = {"status": "closed", "closed_at": raised + closed_after} if closed_after else {}
    HotSpot.objects.filter(pk=spot.pk).update(created_at=raised, **closed)
    return spot


@pytest.fixture
def alerts(territory):
    noon = timezone.localtime().replace(day=1, hour=12, minute=0, second=0, microsecond=0)
    alert(territory["grid"], raised=noon, closed_after=timedelta(hours=3))
    alert(territory["grid"], raised=noon, closed_after=timedelta(hours=8), building=territory["building"])
    alert(territory_chain(grid_seq=2)[3], raised=noon)  # still open
    alert(territory["grid"], raised=noon - timedelta(days=40), closed_after=timedelta(hours=1))  # another period
    other_street = territory_chain(street="360702092", community="360702092001")[3]
    alert(other_street, raised=noon, closed_after=timedelta(hours=1))  # another street
    return noon.date()


def test_counts_the_period_and_the_scope(territory, alerts):
    day = alerts
    assert hotspot_stats(area=territory["street"], date_from=day, date_to=day) == {
        "raised": 3,
        "closed": 2,
        "open": 1,
        "median_hours_to_close": 5.5,
    }
    assert hotspot_stats(area=territory["building"], date_from=day, date_to=day)["raised"] == 1
    later = day + timedelta(days=1)
    nothing = hotspot_stats(area=territory["street"], date_from=later, date_to=later)
    assert nothing == {"raised": 0, "closed": 0, "open": 0, "median_hours_to_close": None}


def test_the_report_api_carries_them(client, street_officer, territory, alerts):
    client.force_login(street_officer)
    day = alerts.isoformat()
    body = client.get("/api/v1/stats/report/", {"area": territory["street"].code, "from": day, "to": day}).json()
    assert body["hotspots"] == {"raised": 3, "closed": 2, "open": 1, "median_hours_to_close": 5.5}


def test_the_statistics_page_shows_them(client, street_officer, territory, alerts):
    client.force_login(street_officer)
    day = alerts.isoformat()
    page = client.get(reverse("stats-page"), {"area": territory["street"].code, "from": day, "to": day})
    html = page.content.decode()
    assert 'id="hotspot-stats"' in html
    assert "5.5 小时" in html
