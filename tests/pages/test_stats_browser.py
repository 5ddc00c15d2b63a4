"""The statistics page end to end in headless Chromium at 1280 px: a street's eight weeks with rankings, the trend
drawn by the vendored ECharts, no serious or critical axe-core violation, a street with many empty communities kept
short (they collapse into one line), the tables instead of the charts in print; screenshots in Chinese and English."""

import os
from datetime import timedelta
from pathlib import Path

import pytest
from django.utils import timezone

from issues import workflow
from issues.models import Issue
from issues.rollups import rollup_refresh
from tests.desks.test_desk_browser import serious_violations
from tests.factories import CategoryFactory, DepartmentFactory, issue_in_status, territory_chain
from tests.pages.test_browser import CHROMIUM, CHROMIUM_ARGS, PASSWORD

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not Path(CHROMIUM).exists(), reason=f"{CHROMIUM} is absent (apt-get install -y chromium)"),
]

WEEKS = 8
# (community suffix, statuses of its issues): three busy communities, one quiet, twelve without an issue.
BUSY = {
    "005": ["closed"] * 6 + ["resolved", "in_progress", "in_progress", "dispatched", "submitted"],
    "002": ["closed"] * 4 + ["dispatched", "dispatched", "dispatched", "classified"],
    "003": ["closed"] * 3 + ["in_progress", "rejected"],
    "004": ["closed"],
}
EMPTY = [f"{n:03d}" for n in range(10, 22)]


def _street(territory, resident, street_officer, category, chengguan_staff, shuiwu, shuiwu_staff):
    """Build the street: issues spread over the last WEEKS weeks, some resolved late, one returned by 水务."""
    now = timezone.now()
    places = {"005": territory["building"]}
    for suffix in [*BUSY, *EMPTY]:
        if suffix != "005":
            places[suffix] = territory_chain(community=f"360702091{suffix}")[3]
    n = 0
    for suffix, statuses in BUSY.items():
        for status in statuses:
            issue = issue_in_status(
                status,
                reporter=resident,
                place=places[suffix],
                triage=street_officer,
                category=category,
                handler=chengguan_staff,
            )
            created = now - timedelta(days=(n * 37) % (WEEKS * 7 - 1), hours=n)
            late = n % 4 == 0
            Issue.objects.filter(pk=issue.pk).update(
                created_at=created,
                resolved_at=created + timedelta(days=9 if late else 2) if issue.resolved_at else None,
                resolution_due_at=created + timedelta(days=7) if issue.resolution_due_at else None,
            )
            rollup_refresh([issue.pk])  # a direct write: bring the statistics rollup up to date
            n += 1
    returned = issue_in_status(
        "classified", reporter=resident, place=places["002"], triage=street_officer, category=category
    )
    workflow.issue_dispatch(issue=returned, actor=street_officer, departments=[shuiwu])
    workflow.issue_return(issue=returned, actor=shuiwu_staff, reason="不属于水务职责。")


def test_statistics_of_a_street_in_chromium(
    live_server,
    territory,
    resident,
    street_officer,
    chengguan,
    chengguan_staff,
    shuiwu,
    shuiwu_staff,
    settings,
    tmp_path,
):
    from playwright.sync_api import expect, sync_playwright

    settings.GRIDDESK_STATS_RANK_MIN_VOLUME = 4
    category = CategoryFactory(code="stairwell", name="楼道堆物", department=chengguan)
    CategoryFactory(code="streetlight", name="路灯不亮", department=DepartmentFactory(code="shizheng", name="市政"))
    _street(territory, resident, street_officer, category, chengguan_staff, shuiwu, shuiwu_staff)
    today = timezone.localdate()
    start = today - timedelta(days=WEEKS * 7 - 1)
    path = f"/stats/?from={start.isoformat()}&to={today.isoformat()}&rank=on_time_resolution_rate"

    shots = Path(os.environ.get("GRIDDESK_SCREENSHOT_DIR") or tmp_path)
    problems, heights = {}, {}
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            for language, name in [("zh-hans", "stats-zh"), ("en", "stats-en")]:
                context = browser.new_context(viewport={"width": 1280, "height": 900}, locale="zh-CN")
                context.add_cookies([{"name": "django_language", "value": language, "url": live_server.url}])
                page = context.new_page()
                page.goto(f"{live_server.url}/accounts/login/?next={path.replace('&', '%26')}")
                page.fill("#id_username", "street_officer")
                page.fill("#id_password", PASSWORD)
                page.click("button[type=submit].primary")
                page.wait_for_url(f"{live_server.url}/stats/**")

                expect(page.locator("#stats-area")).to_have_text("黄金岭街道")
                # ECharts drew the trend (SVG renderer) from the page's figures, one point per week.
                expect(page.locator("#chart-trend.drawn svg")).to_have_count(1)
                expect(page.locator("#table-trend tbody tr")).to_have_count(
                    len(page.evaluate("JSON.parse(document.getElementById('trend-data').textContent).weeks"))
                )
                # Four busy communities ranked or listed; the twelve empty ones in one line.
                expect(page.locator("#rank-areas tbody tr")).to_have_count(4)
                expect(page.locator("#empty-areas")).to_contain_text("12")
                expect(page.locator("#rank-departments tbody tr")).to_have_count(2)
                expect(page.locator("#rank-on_time_resolution_rate")).to_have_attribute("aria-current", "true")
                if language == "en":
                    # Statuses and kinds read as labels, in sentence case (locale/en), not as lower-case API names.
                    expect(page.locator("#table-chart-status")).to_contain_text("In progress")
                    expect(page.locator("#table-chart-kind")).to_contain_text("Complaint")
                    expect(page.locator("#table-chart-channel")).to_contain_text("Partner app")
                problems[language] = serious_violations(page)
                heights[language] = page.evaluate("document.documentElement.scrollHeight")
                # Nothing runs off the side at 1280 px, in either language.
                assert page.evaluate("document.documentElement.scrollWidth") <= 1280
                page.screenshot(path=str(shots / f"{name}.png"), full_page=True)

                # In print the tables stand in for the charts.
                page.emulate_media(media="print")
                expect(page.locator("#table-trend")).to_be_visible()
                expect(page.locator("#chart-trend")).to_be_hidden()
                assert page.locator("#table-chart-status").bounding_box()["width"] > 100
                page.emulate_media(media="screen")
                context.close()
        finally:
            browser.close()

    assert problems == {"zh-hans": [], "en": []}
    # Sixteen communities under the street; the empty ones used to draw four grey bars each (past 3,300 px).
    assert max(heights.values()) < 2600, heights
