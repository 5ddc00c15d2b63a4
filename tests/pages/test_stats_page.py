"""The statistics page /stats/ (grown from /dashboard/): who may open it, which area and period it shows, its
figures, the comparison with the previous period, the weekly trend, the rankings, the tables behind every chart and
its queries."""

import re
from datetime import timedelta
from http import HTTPStatus

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from issues import workflow
from issues.charts import TRACK, bar_length, count_bars_svg
from issues.models import Issue
from issues.rollups import rollup_fold, rollup_refresh
from orgs.models import PartnerApp
from tests.factories import AreaFactory, UserFactory, issue_in_status, territory_chain

pytestmark = pytest.mark.django_db

STATS = "/stats/"


def signed_in(user, language=None) -> Client:
    client = Client()
    client.force_login(user)
    if language:
        client.cookies["django_language"] = language
    return client


def text_of(html: str, element_id: str) -> str:
    """Return the text of the element with `element_id` (up to its first child element)."""
    match = re.search(rf'id="{element_id}"[^>]*>([^<]*)<', html)
    assert match, element_id
    return match.group(1).strip()


def squash(html: str) -> str:
    """Return `html` without tags and with runs of white space as one space."""
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", html)).strip()


def element(html: str, element_id: str, tag: str) -> str:
    """Return the element `<tag id="element_id">…</tag>` (no nesting of the same tag inside)."""
    match = re.search(rf'<{tag}[^>]*id="{element_id}"[^>]*>.*?</{tag}>', html, re.S)
    assert match, element_id
    return match.group(0)


def tile(html: str, key: str) -> str:
    """Return the text of the tile of `key` (a rate, or "total")."""
    match = re.search(rf'<div class="tile" id="tile-{key}">(.*?)(?=<div class="tile"|</section>)', html, re.S)
    assert match, key
    return squash(match.group(1))


def bars(svg: str) -> list[tuple[str, str]]:
    """Return (width, data-value) of every bar of an SVG, in order."""
    return re.findall(r'<rect class="bar"[^>]*width="([^"]+)"[^>]*data-value="([^"]+)"', svg)


def backdate(issue, days: int) -> None:
    """Move an issue's creation `days` back (the period counts issues by their creation)."""
    Issue.objects.filter(pk=issue.pk).update(created_at=timezone.now() - timedelta(days=days))
    rollup_refresh([issue.pk])  # a direct write, not through the event seam that keeps the rollup current


@pytest.fixture
def hand_built(make):
    """Return one issue in each of six statuses under the community of `territory`."""
    return {status: make(status) for status in ["submitted", "dispatched", "in_progress", "resolved", "closed"]} | {
        "rejected": make("rejected")
    }


# --- Who may open it ----------------------------------------------------------------------------------------------


def test_anonymous_is_sent_to_sign_in(client):
    response = client.get(STATS)
    assert response.status_code == HTTPStatus.FOUND
    assert response.url == f"/accounts/login/?next={STATS}"


@pytest.mark.parametrize("who", ["resident", "chengguan_staff", "partner"])
def test_residents_department_staff_and_partners_get_the_friendly_403(who, request, territory):
    if who == "partner":
        user = UserFactory(username="partner-demo")
        PartnerApp.objects.create(slug="demo", name="Demo", user=user, area=territory["district"])
    else:
        user = request.getfixturevalue(who)
    response = signed_in(user).get(STATS)
    assert response.status_code == HTTPStatus.FORBIDDEN
    html = response.content.decode()
    assert 'id="forbidden"' in html
    assert 'id="stats-link"' not in html
    assert "chart" not in html


def test_header_links_the_statistics_once_for_staff_with_territory_roles(community_staff, territory):
    from orgs.models import Role
    from tests.factories import member

    member(community_staff, Role.GRID_WORKER, area=territory["grid"])
    html = signed_in(community_staff).get("/my/").content.decode()
    assert html.count('id="stats-link"') == 1
    assert 'href="/stats/"' in html


def test_header_has_no_statistics_link_for_residents_or_department_staff(resident, chengguan_staff):
    for user in (resident, chengguan_staff):
        assert 'id="stats-link"' not in signed_in(user).get("/my/").content.decode()


@pytest.mark.parametrize("query", ["", "?area=360702091005&from=2026-11-01&to=2026-11-30&rank=satisfaction_rate"])
def test_the_old_dashboard_address_redirects_here_with_its_query_string(query, community_staff):
    response = signed_in(community_staff).get(f"/dashboard/{query}")
    assert response.status_code == HTTPStatus.FOUND
    assert response.url == f"{STATS}{query}"


# --- Area and period ----------------------------------------------------------------------------------------------


def test_staff_see_their_own_node_this_month_by_default(community_staff, territory):
    response = signed_in(community_staff).get(STATS)
    assert response.status_code == HTTPStatus.OK
    assert response.context["area"] == territory["community"]
    report = response.context["report"]
    assert report["area"]["code"] == territory["community"].code
    assert report["date_from"][8:] == "01"
    assert report["date_from"][:7] == report["date_to"][:7]


def test_the_picker_offers_the_callers_nodes_those_just_under_them_and_the_area_shown(
    street_officer, territory, other_territory
):
    response = signed_in(street_officer).get(STATS, {"area": territory["grid"].code})
    assert response.status_code == HTTPStatus.OK
    assert response.context["report"]["area"]["code"] == territory["grid"].code
    codes = [code for code, _name in response.context["form"].fields["area"].choices]
    assert codes == [
        territory["street"].code,
        other_territory["community"].code,
        territory["community"].code,
        territory["grid"].code,
    ]


def test_the_picker_of_community_staff_holds_nothing_outside_their_community(
    community_staff, territory, other_territory
):
    response = signed_in(community_staff).get(STATS)
    codes = {code for code, _name in response.context["form"].fields["area"].choices}
    assert codes == {territory["community"].code, territory["grid"].code}


@pytest.mark.parametrize("code", ["360702091001", "360702", "nonexistent"])
def test_an_area_outside_the_callers_scope_is_404(code, community_staff, other_territory):
    response = signed_in(community_staff).get(STATS, {"area": code})
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
    response = signed_in(community_staff).get(STATS, query)
    assert response.status_code == HTTPStatus.OK
    html = response.content.decode()
    assert f'id="error-{field}"' in html
    assert "report" not in response.context
    assert "<svg" not in html and "chart-trend" not in html


# --- Figures ------------------------------------------------------------------------------------------------------


def test_staff_see_the_right_figures_for_a_hand_built_set(community_staff, territory, hand_built):
    response = signed_in(community_staff).get(STATS)
    assert response.status_code == HTTPStatus.OK
    html = response.content.decode()
    # Responded on time 3 of 4 dispatched, resolved 2 of 3 accepted, on time 2 of 2 due, satisfied 1 of 1 rating.
    tiles = {key: tile(html, key) for key in ["response_rate", "satisfaction_rate"]}
    assert "响应率 75% 3 / 4" in tiles["response_rate"]
    assert "满意率 100% 1 / 1" in tiles["satisfaction_rate"]
    assert "67% 2 / 3" in tile(html, "resolution_rate")
    assert "100% 2 / 2" in tile(html, "on_time_resolution_rate")
    # Volume by status: one of each status but classified, the longest bar the full track; its table says the same.
    volume = response.context["volumes"][0]
    assert [value for _width, value in bars(volume["svg"])] == ["1", "0", "1", "1", "1", "1", "1"]
    table = squash(element(html, "table-chart-status", "table"))
    assert "已提交 1" in table and "已分类 0" in table
    # By kind and by channel: all six are complaints sent through the web form.
    assert dict(response.context["report"]["by_kind"])["complaint"] == 6
    assert "投诉 6" in squash(element(html, "table-chart-kind", "table"))
    assert "网页 6" in squash(element(html, "table-chart-channel", "table"))
    assert squash(element(html, "table-chart-category", "table")) == "各类别件数 楼道堆物 4 尚未分类 2"
    # Overdue and escalated, with the total.
    assert tile(html, "total") == "诉求 6 0 件超期 · 0 件升级 较上期 +6 件"
    # Chinese by default.
    assert "响应率" in html


def test_english_by_the_language_cookie(community_staff, hand_built):
    html = signed_in(community_staff, "en").get(STATS).content.decode()
    assert "Response rate" in html
    assert "Statistics" in html
    assert "75% 3 / 4" in tile(html, "response_rate")


def test_an_empty_period_shows_no_data_rather_than_zero(community_staff, hand_built):
    response = signed_in(community_staff, "en").get(STATS, {"from": "2020-01-01", "to": "2020-01-31"})
    html = response.content.decode()
    assert response.context["report"]["total"] == 0
    for key in ["response_rate", "resolution_rate", "on_time_resolution_rate", "satisfaction_rate"]:
        text = tile(html, key)
        assert "— no data nothing to compare" in text, text


def test_the_previous_period_of_the_same_length_is_compared(community_staff, make):
    today = timezone.localdate()
    # This period: the last 10 days, 2 issues, 1 of 2 dispatched accepted on time. Previous: 10 days before, 1 issue.
    make("in_progress")
    late = make("classified")
    Issue.objects.filter(pk=late.pk).update(response_due_at=timezone.now() - timedelta(hours=1))
    late = Issue.objects.get(pk=late.pk)
    workflow.issue_dispatch(issue=late, actor=community_staff, departments=["chengguan"])
    before = make("in_progress")
    backdate(before, 12)
    query = {"from": (today - timedelta(days=9)).isoformat(), "to": today.isoformat()}
    response = signed_in(community_staff, "en").get(STATS, query)
    html = response.content.decode()
    report = response.context["report"]
    assert (report["total"], report["previous"]["total"]) == (2, 1)
    assert report["previous"]["date_from"] == (today - timedelta(days=19)).isoformat()
    assert report["previous"]["date_to"] == (today - timedelta(days=10)).isoformat()
    assert report["deltas"]["response_rate"] == -50.0
    assert "−50 pts on the previous period" in tile(html, "response_rate")
    assert "+1 on the previous period" in tile(html, "total")
    assert f"Compared with {report['previous']['date_from']} to {report['previous']['date_to']}." in html


def test_the_weekly_trend_counts_new_and_resolved_issues_per_week_with_its_table(community_staff, make):
    today = timezone.localdate()
    make("resolved")
    make("submitted")
    old = make("closed")
    backdate(old, 8)  # the week before (created then, resolved now)
    query = {"from": (today - timedelta(days=13)).isoformat(), "to": today.isoformat()}
    response = signed_in(community_staff, "en").get(STATS, query)
    trend = response.context["report"]["trend"]
    monday = today - timedelta(days=today.weekday())
    assert trend[-1] == {"week": monday, "intake": 2, "resolved": 2}
    assert sum(w["intake"] for w in trend) == 3
    assert all(w["week"].weekday() == 0 for w in trend)
    html = response.content.decode()
    table = squash(element(html, "table-trend", "table"))
    assert f"{monday.isoformat()} 2 2" in table
    # The chart reads the same figures (json_script), drawn by the vendored ECharts, no CDN.
    assert 'id="trend-data"' in html and '"intake": [' in html
    assert "/static/vendor/echarts-6.1.0/echarts.min.js" in html
    # Every script and stylesheet comes from this site (a page-relative or root path, never a host).
    loaded = re.findall(r'<(?:script|link)\b[^>]*\b(?:src|href)="([^"]*)"', html)
    assert loaded and all(url.startswith("/") and not url.startswith("//") for url in loaded), loaded


# --- Rankings -----------------------------------------------------------------------------------------------------


@pytest.fixture
def five_communities(territory, resident, community_staff, category, chengguan_staff):
    """Return five communities of the street: three with issues (4, 3 and 1), two without."""
    communities = {"a": territory}
    for suffix in ["002", "003", "004", "006"]:
        d, s, c, g, b = territory_chain(community=f"360702091{suffix}")
        communities[suffix] = {"community": c, "grid": g, "building": b}
    from orgs.models import Role
    from tests.factories import member

    def build(place, statuses):
        for status in statuses:
            issue_in_status(
                status,
                reporter=resident,
                place=place,
                triage=community_staff,
                category=category,
                handler=chengguan_staff,
            )

    member(community_staff, Role.COMMUNITY_STAFF, area=communities["002"]["community"])
    member(community_staff, Role.COMMUNITY_STAFF, area=communities["003"]["community"])
    build(territory["building"], ["closed", "closed", "in_progress", "dispatched"])  # 社区005: 3 of 4 on time
    build(communities["002"]["grid"], ["closed", "closed", "closed"])  # 社区002: 3 of 3
    build(communities["003"]["grid"], ["dispatched"])  # 社区003: 1 dispatched, none accepted
    return communities


def test_child_areas_are_ranked_by_the_chosen_rate_marked_and_the_empty_ones_collapse_into_one_line(
    street_officer, five_communities, settings
):
    settings.GRIDDESK_STATS_RANK_MIN_VOLUME = 2
    settings.GRIDDESK_STATS_RANK_MARKED = 1
    response = signed_in(street_officer, "en").get(STATS, {"rank": "response_rate"})
    html = response.content.decode()
    table = element(html, "rank-areas", "table")
    rows = re.findall(r'<tr class="([^"]*)" data-code="(\d+)"', table)
    # 社区002 100 % (3/3) first, red list; 社区005 75 % (3/4) last ranked, yellow list; 社区003 (1 case) unranked.
    assert rows == [("mark-top", "360702091002"), ("mark-bottom", "360702091005"), ("", "360702091003")]
    text = squash(table)
    assert "1 社区002 3" in text and "red list" in text and "yellow list" in text and "not ranked" in text
    # The two communities without an issue: one line naming both, not a row (nor four bars) each.
    empty = squash(element(html, "empty-areas", "p"))
    assert empty == "No issues in this period in 2 areas: 社区004、社区006"
    assert "360702091004" not in table and "360702091006" not in table
    # Each name links the drill-down into that community, keeping the period and the ranking.
    assert 'href="?area=360702091002&amp;from=' in table and "rank=response_rate" in table


def test_another_rate_reorders_the_rankings(street_officer, five_communities, settings):
    settings.GRIDDESK_STATS_RANK_MIN_VOLUME = 1
    response = signed_in(street_officer, "en").get(STATS, {"rank": "satisfaction_rate"})
    html = response.content.decode()
    assert 'id="rank-satisfaction_rate" aria-current="true"' in html
    rows = re.findall(r'data-code="(\d+)"', element(html, "rank-areas", "table"))
    # Satisfaction: 社区005 2/2 and 社区002 3/3 share rank 1 (the larger volume first); 社区003 has no rating.
    assert rows == ["360702091002", "360702091005", "360702091003"]
    ranks = re.findall(r'<td class="rank">(\d+)', element(html, "rank-areas", "table"))
    assert ranks == ["1", "1"]


def test_a_department_row_counts_dispatched_accepted_on_time_returned_resolved_on_time_and_satisfaction(
    community_staff, make, shuiwu, shuiwu_staff, chengguan_staff
):
    make("closed")
    make("closed")
    make("in_progress")
    returned = make("classified")
    workflow.issue_dispatch(issue=returned, actor=community_staff, departments=["shuiwu"])
    workflow.issue_return(issue=returned, actor=shuiwu_staff, reason="不属于水务职责。")
    late = make("classified")
    Issue.objects.filter(pk=late.pk).update(response_due_at=timezone.now() - timedelta(hours=1))
    workflow.issue_dispatch(issue=Issue.objects.get(pk=late.pk), actor=community_staff, departments=["chengguan"])
    workflow.issue_accept(issue=Issue.objects.get(pk=late.pk), actor=chengguan_staff)

    response = signed_in(community_staff, "en").get(STATS)
    departments = {row["code"]: row for row in response.context["report"]["departments"]}
    assert departments["chengguan"]["counts"] == {
        "dispatched": 4,
        "accepted_on_time": 3,
        "returned": 0,
        "accepted": 4,
        "resolved": 2,
        "due": 2,
        "resolved_on_time": 2,
        "ratings": 2,
        "satisfied": 2,
    }
    assert departments["shuiwu"]["counts"]["dispatched"] == 1
    assert departments["shuiwu"]["counts"]["returned"] == 1
    html = response.content.decode()
    row = squash(re.search(r'<tr[^>]*data-code="chengguan".*?</tr>', html, re.S).group(0))
    # Not ranked: 4 cases is under the default minimum of 10.
    assert row == "not ranked 城管 4 3 75% 0 50% 2/4 2 100% · 2/2 100% 2/2"
    assert "不属于水务职责" not in html


# --- Queries ------------------------------------------------------------------------------------------------------


def _queries(client, **query) -> int:
    rollup_fold()  # what a Celery beat counts every few seconds: the page's own look for more is one query
    with CaptureQueriesContext(connection) as captured:
        response = client.get(STATS, query)
    assert response.status_code == HTTPStatus.OK
    return len(captured)


def test_the_page_runs_the_same_number_of_queries_whatever_the_data(
    street_officer, territory, resident, community_staff, category, chengguan_staff, settings
):
    settings.GRIDDESK_AUTH_CACHE_SECONDS = 0  # each request reads the caller's scope, as without orgs.auth_cache
    client = signed_in(street_officer)
    empty = _queries(client)

    def fill(communities):
        for n in communities:
            d, s, c, g, b = territory_chain(community=f"3607020910{n + 10}")
            for status in ["closed", "in_progress", "dispatched"]:
                issue_in_status(
                    status,
                    reporter=resident,
                    place=g,
                    triage=street_officer,
                    category=category,
                    handler=chengguan_staff,
                )

    fill(range(1))
    some = _queries(client)
    fill(range(1, 4))
    AreaFactory(code="360702091099", level="community", parent=territory["street"], name="空社区")
    full = _queries(client)
    # More issues, areas and categories cost no more queries; with no rollup rows at all, one lookup is skipped.
    assert some == full
    # Sign-in and scope 6, the picker 2, issue_stats twice 9 (each with its look for submissions to fold), kinds and
    # trend 3 (the same look), depts 2, hot spots 1.
    assert empty <= full <= 23


# --- The SVG helper -----------------------------------------------------------------------------------------------


def test_count_bars_are_proportional_to_the_largest_count_and_zero_for_no_issues():
    svg = count_bars_svg(chart_id="v", title="t", desc="d", counts=[("a", "A", 4), ("b", "B", 1), ("c", "C", 0)])
    assert bars(svg) == [(f"{float(TRACK)}", "4"), (str(TRACK / 4), "1"), ("0.0", "0")]
    empty = count_bars_svg(chart_id="v", title="t", desc="d", counts=[("a", "A", 0)])
    assert bars(empty) == [("0.0", "0")]


def test_bar_length_clamps_to_the_track():
    assert bar_length(2, 1) == TRACK
    assert bar_length(-1, 1) == 0
    assert bar_length(1, 0) == 0
