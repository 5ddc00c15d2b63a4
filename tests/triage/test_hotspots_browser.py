"""In headless Chromium at 1280 px, in Chinese and English: the escalation desk's hot-spot section, and linking the
cluster as duplicates in one press. Screenshots: hotspots-desk*.png."""

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
