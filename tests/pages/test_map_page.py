"""The map page (/map/): who may open it, which node it draws, its table of grids and counts, its queries."""

import re
from http import HTTPStatus

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext

from grids.maps import map_layers_forget
from grids.models import MapDrawing
from issues import map_views
from issues.api.map import map_answers_forget
from notifications.inbox import unread_counts_forget
from tests.factories import issue_in_status
from tests.issues.test_map import add_grid, hotspot_of, overdue

pytestmark = pytest.mark.django_db

MAP = "/map/"


@pytest.fixture(autouse=True)
def _fresh_layers():
    map_layers_forget()
    map_answers_forget()
    yield
    map_layers_forget()
    map_answers_forget()


def signed_in(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def table_rows(html: str) -> list[tuple[str, str, str]]:
    """Return (grid code, open, overdue) of each row of the grid table, in order."""
    return re.findall(
        r'<tr id="grid-row-(\d+)">.*?<td class="num">(\d+)</td><td class="num[^"]*">(\d+)</td>', html, re.S
    )


def test_anonymous_is_sent_to_sign_in(client):
    response = client.get(MAP)
    assert response.status_code == HTTPStatus.FOUND
    assert response.url == f"/accounts/login/?next={MAP}"


@pytest.mark.parametrize("who", ["resident", "chengguan_staff"])
def test_residents_and_department_staff_get_the_friendly_403(who, request):
    response = signed_in(request.getfixturevalue(who)).get(MAP)
    assert response.status_code == HTTPStatus.FORBIDDEN
    assert 'id="forbidden"' in response.content.decode()


def test_community_staff_see_their_community_with_its_grids_and_counts(
    territory, other_territory, make, community_staff, resident, other_community_staff, category, chengguan_staff
):
    make("submitted")
    overdue(make("dispatched"))
    make("closed")
    issue_in_status(
        "submitted",
        reporter=resident,
        place=other_territory["grid"],
        triage=other_community_staff,
        category=category,
        handler=chengguan_staff,
    )

    html = signed_in(community_staff).get(MAP).content.decode()

    assert re.search(r'id="map-area">社区005<', html)
    assert table_rows(html) == [(territory["grid"].code, "2", "1")]
    assert other_territory["grid"].code not in html
    assert f'data-grids-url="/api/v1/map/grids/?area={territory["community"].code}"' in html
    for asset in ("leaflet-1.9.4/leaflet.js", "leaflet.markercluster-1.5.3/leaflet.markercluster.js", "js/map.js"):
        assert f"/static/vendor/{asset}" in html or f"/static/{asset}" in html
    assert not re.search(r"""(src|href)=["']?(https?:)?//""", html)  # no CDN, no tiles, no fonts


def test_another_community_is_404_for_community_staff(other_territory, community_staff):
    assert signed_in(community_staff).get(MAP, {"area": other_territory["community"].code}).status_code == 404


def test_a_street_officer_picks_a_community_and_the_table_sorts_by_the_measure(
    territory, make, street_officer, community_staff
):
    quiet = add_grid(territory["community"], 2, lng=114.96)
    busy = add_grid(territory["community"], 3, lng=114.97)
    for _ in range(3):
        issue_in_status("submitted", reporter=community_staff, place=busy, description="路灯不亮，晚上很黑。")
    overdue(make("dispatched"))
    client = signed_in(street_officer)

    html = client.get(MAP, {"area": territory["community"].code}).content.decode()
    assert table_rows(html) == [(busy.code, "3", "0"), (territory["grid"].code, "1", "1"), (quiet.code, "0", "0")]
    html = client.get(MAP, {"area": territory["community"].code, "measure": "overdue"}).content.decode()
    assert table_rows(html) == [(territory["grid"].code, "1", "1"), (busy.code, "3", "0"), (quiet.code, "0", "0")]
    assert re.search(r'value="overdue" checked', html)
    # The street lists its communities to pick from.
    html = client.get(MAP).content.decode()
    assert f'<option value="{territory["community"].code}">' in html


def test_the_table_is_cut_to_the_busiest_grids_and_says_so(territory, make, street_officer, monkeypatch):
    monkeypatch.setattr(map_views, "TABLE_ROWS", 2)
    for seq in range(2, 5):
        add_grid(territory["community"], seq, lng=114.96 + 0.01 * seq)
    make("submitted")

    html = signed_in(street_officer).get(MAP).content.decode()

    assert [row[0] for row in table_rows(html)][0] == territory["grid"].code
    assert len(table_rows(html)) == 2
    assert "4 个网格中问题最多的 2 个" in html


def test_the_page_s_queries_do_not_grow_with_grids_and_issues(territory, make, street_officer, community_staff):
    def page_queries():
        map_layers_forget()
        unread_counts_forget(user_ids=[street_officer.pk])  # the header counts each time, as on the first page
        MapDrawing.objects.all().delete()  # the same state each time: nothing drawn yet
        client = signed_in(street_officer)
        with CaptureQueriesContext(connection) as queries:
            assert client.get(MAP).status_code == HTTPStatus.OK
        return len(queries)

    make("submitted")
    small = page_queries()
    for seq in range(2, 12):
        grid = add_grid(territory["community"], seq, lng=114.96 + 0.01 * seq)
        issue_in_status("submitted", reporter=community_staff, place=grid, description="路面塌陷，需要尽快处理。")
    assert page_queries() == small


def test_open_hot_spots_are_listed_under_the_map_with_the_escalation_desk_for_the_street(
    territory, other_territory, make, category, street_officer, community_staff, other_community_staff
):
    spot = hotspot_of([make("submitted") for _ in range(3)], territory["grid"], category)

    html = signed_in(street_officer).get(MAP).content.decode()
    item = re.search(rf'<li id="map-hotspot-{spot.pk}">(.*?)</li>', html, re.S).group(1)
    assert "第1网格：3 条“楼道堆物”（平时预期约 0.4 条）" in item
    assert f'href="/desk/escalations/#hotspot-{spot.pk}"' in item
    mine = signed_in(community_staff).get(MAP).content.decode()
    assert f'id="map-hotspot-{spot.pk}"' in mine and "/desk/escalations/" not in mine  # theirs, without a desk link
    assert 'id="map-hotspots"' not in signed_in(other_community_staff).get(MAP).content.decode()
