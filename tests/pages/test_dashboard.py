"""The staff dashboard: who may open it, which area and period it charts, its figures, its SVG and its queries."""

import re
from http import HTTPStatus

import pytest
from django.test import Client

from issues.charts import TRACK, Rate, bar_length, count_bars_svg, grouped_rates_svg, rate_gauges_svg
from orgs.models import PartnerApp
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db

DASHBOARD = "/dashboard/"


def signed_in(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def text_of(html: str, element_id: str) -> str:
    """Return the text of the element with `element_id`."""
    match = re.search(rf'id="{element_id}"[^>]*>([^<]*)<', html)
    assert match, element_id
    return match.group(1).strip()


def bars(svg: str) -> list[tuple[str, str]]:
    """Return (data-value, width) of every bar of an SVG, in order."""
    return re.findall(r'<rect class="bar"[^>]*width="([^"]+)"[^>]*data-value="([^"]+)"', svg)


@pytest.fixture
def hand_built(make):
    """Return one issue in each of six statuses under the community of `territory`."""
    return {status: make(status) for status in ["submitted", "dispatched", "in_progress", "resolved", "closed"]} | {
        "rejected": make("rejected")
    }


# --- Who may open it ----------------------------------------------------------------------------------------------


def test_anonymous_is_sent_to_sign_in(client):
    response = client.get(DASHBOARD)
    assert response.status_code == HTTPStatus.FOUND
    assert response.url == f"/accounts/login/?next={DASHBOARD}"


@pytest.mark.parametrize("who", ["resident", "chengguan_staff", "partner"])
def test_residents_department_staff_and_partners_get_the_friendly_403(who, request, territory):
    if who == "partner":
        user = UserFactory(username="partner-demo")
        PartnerApp.objects.create(slug="demo", name="Demo", user=user, area=territory["district"])
    else:
        user = request.getfixturevalue(who)
    response = signed_in(user).get(DASHBOARD)
    assert response.status_code == HTTPStatus.FORBIDDEN
    html = response.content.decode()
    assert 'id="forbidden"' in html
    assert 'id="dashboard-link"' not in html
    assert "chart" not in html


def test_header_links_the_dashboard_once_for_staff_with_territory_roles(community_staff, territory):
    from orgs.models import Role
    from tests.factories import member

    member(community_staff, Role.GRID_WORKER, area=territory["grid"])
    html = signed_in(community_staff).get("/my/").content.decode()
    assert html.count('id="dashboard-link"') == 1


def test_header_has_no_dashboard_link_for_residents_or_department_staff(resident, chengguan_staff):
    for user in (resident, chengguan_staff):
        assert 'id="dashboard-link"' not in signed_in(user).get("/my/").content.decode()


# --- Area and period ----------------------------------------------------------------------------------------------


def test_staff_see_their_own_node_this_month_by_default(community_staff, territory):
    response = signed_in(community_staff).get(DASHBOARD)
    assert response.status_code == HTTPStatus.OK
    assert response.context["area"] == territory["community"]
    stats = response.context["stats"]
    assert stats["area"]["code"] == territory["community"].code
    assert stats["date_from"][8:] == "01"
    assert stats["date_from"][:7] == stats["date_to"][:7]


def test_an_area_below_the_callers_node_is_charted_and_offered_in_the_picker(street_officer, territory):
    response = signed_in(street_officer).get(DASHBOARD, {"area": territory["grid"].code})
    assert response.status_code == HTTPStatus.OK
    assert response.context["stats"]["area"]["code"] == territory["grid"].code
    codes = [code for code, _name in response.context["form"].fields["area"].choices]
    assert codes == [territory["street"].code, territory["grid"].code]


@pytest.mark.parametrize("code", ["360702091001", "360702", "nonexistent"])
def test_an_area_outside_the_callers_scope_is_404(code, community_staff, other_territory):
    response = signed_in(community_staff).get(DASHBOARD, {"area": code})
    assert response.status_code == HTTPStatus.NOT_FOUND


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ({"from": "2026-13-40"}, "from"),
        ({"to": "yesterday"}, "to"),
        ({"from": "2026-11-20", "to": "2026-11-01"}, "from"),
    ],
)
def test_bad_dates_show_the_form_error_and_no_charts(query, field, community_staff):
    response = signed_in(community_staff).get(DASHBOARD, query)
    assert response.status_code == HTTPStatus.OK
    html = response.content.decode()
    assert f'id="error-{field}"' in html
    assert "stats" not in response.context
    assert "<svg" not in html


# --- Figures ------------------------------------------------------------------------------------------------------


def test_staff_see_the_right_figures_for_a_hand_built_set(community_staff, territory, hand_built):
    response = signed_in(community_staff).get(DASHBOARD)
    assert response.status_code == HTTPStatus.OK
    html = response.content.decode()
    charts = response.context["charts"]
    # Responded on time 3 of 4 dispatched, resolved 2 of 3 accepted, on time 2 of 2 due, satisfied 1 of 1 rating.
    assert bars(charts["rates"]) == [("142.5", "0.75"), ("126.7", "0.6667"), ("190.0", "1.0"), ("190.0", "1.0")]
    for text in ["75% (3/4)", "67% (2/3)", "100% (2/2)", "100% (1/1)"]:
        assert text in charts["rates"]
    # Volume: one of each status but classified, the longest bar the full track.
    volume = [value for _width, value in bars(charts["volume"])]
    assert volume == ["1", "0", "1", "1", "1", "1", "1"]
    assert text_of(html, "overdue-count") == "0"
    assert text_of(html, "escalated-count") == "0"
    # By child area: the community's one grid holds all six issues, named, linked for the drill-down.
    assert f"{territory['grid'].name} (6)" in charts["children"]
    assert f"area={territory['grid'].code}" in charts["children"]
    # Chinese by default.
    assert "响应率" in html
    assert "暂无数据" not in charts["rates"]


def test_english_by_the_language_switch(community_staff, hand_built):
    client = signed_in(community_staff)
    client.post("/i18n/setlang/", {"language": "en", "next": DASHBOARD})
    html = client.get(DASHBOARD).content.decode()
    assert "Response rate" in html
    assert "Dashboard" in html


def test_an_empty_period_shows_no_data_rather_than_zero(community_staff, hand_built):
    response = signed_in(community_staff).get(DASHBOARD, {"from": "2020-01-01", "to": "2020-01-31"})
    charts = response.context["charts"]
    assert response.context["stats"]["total"] == 0
    assert bars(charts["rates"]) == []
    assert charts["rates"].count("— 暂无数据") == 4


@pytest.mark.parametrize("extra", [0, 12])
def test_the_page_runs_a_fixed_number_of_queries(extra, make, community_staff, django_assert_max_num_queries):
    for _ in range(extra):
        make("closed")
    client = signed_in(community_staff)
    with django_assert_max_num_queries(12):
        response = client.get(DASHBOARD)
    assert response.status_code == HTTPStatus.OK


# --- The SVG helper -----------------------------------------------------------------------------------------------


def test_rate_gauges_draw_bars_proportional_to_the_rate_and_text_for_none():
    svg = rate_gauges_svg(
        chart_id="c",
        title="Rates <of> A&B",
        desc="Each rate.",
        rates=[Rate("half", 0.5, 1, 2), Rate("full", 1.0, 3, 3), Rate("none", None)],
        no_data="no data",
    )
    assert bars(svg) == [(str(TRACK / 2), "0.5"), (f"{float(TRACK)}", "1.0")]
    assert "50% (1/2)" in svg and "100% (3/3)" in svg
    assert "— no data" in svg
    assert '<title id="c-title">Rates &lt;of&gt; A&amp;B</title>' in svg
    assert '<desc id="c-desc">Each rate.</desc>' in svg
    assert 'role="img" aria-labelledby="c-title c-desc"' in svg


def test_count_bars_are_proportional_to_the_largest_count_and_zero_for_no_issues():
    svg = count_bars_svg(chart_id="v", title="t", desc="d", counts=[("a", "A", 4), ("b", "B", 1), ("c", "C", 0)])
    assert bars(svg) == [(f"{float(TRACK)}", "4"), (str(TRACK / 4), "1"), ("0.0", "0")]
    empty = count_bars_svg(chart_id="v", title="t", desc="d", counts=[("a", "A", 0)])
    assert bars(empty) == [("0.0", "0")]


def test_grouped_rates_name_every_group_and_series_and_escape_names():
    svg = grouped_rates_svg(
        chart_id="g",
        title="t",
        desc="d",
        series=["resp", "sat"],
        groups=[("<Grid 1>", "?area=1&from=x", [Rate("resp", 0.25, 1, 4), Rate("sat", None)])],
        no_data="no data",
    )
    assert "&lt;Grid 1&gt;" in svg and "<Grid 1>" not in svg
    assert '<a href="?area=1&amp;from=x">' in svg
    assert bars(svg) == [(str((TRACK - 12) / 4), "0.25")]  # indented under the group name
    assert svg.count(">resp<") == 2  # in the legend and beside its bar
    assert "— no data" in svg


def test_bar_length_clamps_to_the_track():
    assert bar_length(2, 1) == TRACK
    assert bar_length(-1, 1) == 0
    assert bar_length(1, 0) == 0
