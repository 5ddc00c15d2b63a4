"""In headless Chromium at 1280 px, in Chinese and English: the escalation desk's hot-spot section (a grid's burst of
one category, and a building's burst of near-identical reports with no category), linking a cluster as duplicates
in one press, and the hot-spot block of /stats/. Screenshots: hotspots-desk*.png, hotspots-stats*.png."""

import os
from datetime import timedelta
from pathlib import Path

import pytest
from django.utils import timezone

from issues import workflow
from issues.models import Issue
from tests.pages.test_browser import CHROMIUM, CHROMIUM_ARGS
from tests.pages.test_browser_hotline_signup import in_english, serious_violations, sign_in
from triage import hotspots
from triage.models import HotSpot

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not Path(CHROMIUM).exists(), reason=f"{CHROMIUM} is absent (apt-get install -y chromium)"),
]

REPORTS = [
    "3栋楼道里堆满了纸箱和旧家具，消防通道走不过去",
    "楼道堆放杂物，晚上看不见容易绊倒",
    "三单元一楼楼道被电动车和箱子堵住了",
    "楼道里有人堆了很多泡沫箱，味道很大",
    "楼梯间堆满旧沙发，老人上下楼很困难",
]
# One call forwarded and retyped by neighbours of one building: near-identical, no category given.
RETYPED = [
    "1栋2单元电梯卡在5楼，里面有人被困",
    "1栋2单元电梯卡在5楼了，里面有人被困！",
    "【转】1栋2单元电梯卡在5楼，里面有人被困",
    "1栋2单元电梯卡在5楼 里面有人被困 快来",
    "1栋2单元的电梯卡在5楼，里面有人被困",
]


@pytest.mark.parametrize("language", ["zh-hans", "en"])
def test_the_hot_spot_section_and_linking_duplicates(
    live_server, territory, resident, community_staff, street_officer, category, tmp_path, language
):
    from playwright.sync_api import expect, sync_playwright

    now = timezone.now()
    issues = []
    for i, text in enumerate(REPORTS):
        issue = workflow.issue_submit(actor=resident, grid=territory["grid"].code, description=text)
        issue = workflow.issue_classify(issue=issue, actor=community_staff, category=category)
        Issue.objects.filter(pk=issue.pk).update(created_at=now - timedelta(minutes=50 - 10 * i))
        hotspots.hotspot_detect(issue_id=issue.pk)
        issues.append(issue)
    spot = HotSpot.objects.get()
    for i, text in enumerate(RETYPED):
        issue = workflow.issue_submit(actor=resident, building=territory["building"].code, description=text)
        Issue.objects.filter(pk=issue.pk).update(created_at=now - timedelta(minutes=45 - 10 * i))
        hotspots.hotspot_detect(issue_id=issue.pk)
    lift = HotSpot.objects.exclude(pk=spot.pk).get()
    assert (lift.building_id, lift.category_id, lift.observed) == (territory["building"].pk, None, len(RETYPED))
    shots = Path(os.environ.get("GRIDDESK_SCREENSHOT_DIR") or tmp_path)
    suffix = "" if language == "zh-hans" else "-en"
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": 1280, "height": 900}, locale="zh-CN")
            if language == "en":
                in_english(page, live_server)
            sign_in(page, live_server, "street_officer", "/desk/escalations/")
            card = page.locator(f"#hotspot-{spot.pk}")
            expect(card).to_contain_text(issues[0].number)
            expect(card).to_contain_text("5")
            lift_card = page.locator(f"#hotspot-{lift.pk}")
            expect(lift_card).to_contain_text(f"{territory['grid'].name} · {territory['building'].name}")
            expect(lift_card).to_contain_text("近乎相同" if language == "zh-hans" else "near-identical")
            assert page.evaluate("document.documentElement.scrollWidth") <= 1280
            assert serious_violations(page) == []
            page.screenshot(path=str(shots / f"hotspots-desk{suffix}.png"), full_page=True)
            card.get_by_role(
                "button",
                name="全部关联为第一条的重复件" if language == "zh-hans" else "Link as duplicates of the first",
            ).click()
            page.wait_for_url(f"{live_server.url}/desk/escalations/")
            expect(page.locator(".messages, [role=status], .message").first).to_contain_text(issues[1].number)
        finally:
            browser.close()
    assert Issue.objects.filter(duplicate_of=issues[0].pk).count() == len(REPORTS) - 1


@pytest.mark.parametrize("language", ["zh-hans", "en"])
def test_the_hot_spot_block_of_the_statistics_page(live_server, territory, street_officer, tmp_path, language):
    from playwright.sync_api import expect, sync_playwright

    noon = timezone.localtime().replace(hour=12, minute=0, second=0, microsecond=0) - timedelta(days=1)
    for hours in (3, 8, None):
        spot = HotSpot.objects.create(
            street_code=territory["street"].code,
            grid_code=territory["grid"].code,
            area=territory["grid"],
            first_at=noon,
            last_at=noon,
            observed=5,
            expected=0.2,
            p_value=1e-5,
        )
        closed = {"status": "closed", "closed_at": noon + timedelta(hours=hours)} if hours else {}
        HotSpot.objects.filter(pk=spot.pk).update(created_at=noon, **closed)
    day = noon.date().isoformat()
    shots = Path(os.environ.get("GRIDDESK_SCREENSHOT_DIR") or tmp_path)
    suffix = "" if language == "zh-hans" else "-en"
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": 1280, "height": 900}, locale="zh-CN")
            if language == "en":
                in_english(page, live_server)
            sign_in(page, live_server, "street_officer", "/stats/")
            page.goto(f"{live_server.url}/stats/?area={territory['street'].code}&from={day}&to={day}")
            block = page.locator("#hotspot-stats")
            expect(block.locator("#hotspots-raised .tile-value")).to_have_text("3")
            expect(block.locator("#hotspots-closed .tile-value")).to_have_text("2")
            expect(block.locator("#hotspots-open .tile-value")).to_have_text("1")
            expect(block.locator("#hotspots-median .tile-value")).to_have_text(
                "5.5 小时" if language == "zh-hans" else "5.5 h"
            )
            assert serious_violations(page) == []
            assert page.evaluate("document.documentElement.scrollWidth") <= 1280
            block.screenshot(path=str(shots / f"hotspots-stats{suffix}.png"))
        finally:
            browser.close()
