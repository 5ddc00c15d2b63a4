"""The weekly meeting in headless Chromium at 1280 px: open this week's meeting (last week's items carried with
what became of them), record a decision by label, mark an item, add one; the print view; axe-core on both (no
serious or critical violation); screenshots of both in Chinese and English."""

import os
from datetime import timedelta
from pathlib import Path

import pytest
from django.utils import timezone

from issues import workflow
from issues.sla import LOCAL_TZ
from meetings import services
from meetings.agenda import monday_of
from meetings.models import Item, Meeting, week_label
from tests.desks.test_desk_browser import Desk, serious_violations
from tests.pages.test_browser import CHROMIUM, CHROMIUM_ARGS

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not Path(CHROMIUM).exists(), reason=f"{CHROMIUM} is absent (apt-get install -y chromium)"),
]


def test_the_weekly_meeting_and_its_paper_in_chromium(
    live_server, make, territory, community_staff, street_officer, resident, chengguan, tmp_path
):
    from playwright.sync_api import expect, sync_playwright

    community = territory["community"]
    this_monday = monday_of(timezone.now().astimezone(LOCAL_TZ).date())
    # Last week's meeting: a street lamp decided and carried, a stairwell done; finalised.
    lamp = make("in_progress", description="3栋门口路灯不亮已经两周，晚上老人出行不便。")
    last = services.meeting_open(area=community, week=this_monday - timedelta(days=7), actor=community_staff)
    lamp_item = services.item_add(
        meeting=last, actor=community_staff, title="3栋路灯长期不亮", issue_numbers=[lamp.number]
    )
    services.item_decide(
        item=lamp_item,
        actor=community_staff,
        decision="联系市政本周内更换灯具，社区跟进回访。",
        assignee="department:chengguan",
        due_date=this_monday - timedelta(days=2),
    )
    done = services.item_add(meeting=last, actor=community_staff, title="楼道堆物清理")
    services.item_review(item=done, actor=community_staff, outcome="done")
    services.meeting_finalise(meeting=last, actor=community_staff)
    # This week's hard cases: escalated, rated 1 (reopened), overdue; and a category on the rise.
    escalated = make("in_progress", description="消防通道被私家车长期占用，多次劝离无果。")
    workflow.issue_escalate(issue=escalated, actor=community_staff, note="一周无进展，请街道协调。")
    low = make("resolved", description="小区垃圾清运不及时，夏天气味很大。")
    workflow.issue_rate(issue=low, actor=resident, score=1, comment="只清了一次，又堆满了。")
    make("classified", description="电动车在楼道里充电，存在火灾隐患。")
    path = f"/meetings/{community.code}/{week_label(this_monday)}/"

    shots = Path(os.environ.get("GRIDDESK_SCREENSHOT_DIR") or tmp_path)
    problems = {}
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        desk = Desk(browser, live_server, shots)
        try:
            page = desk.open("community_staff", "/meetings/")
            page.get_by_role("button", name="Go to the meeting").click()
            expect(page).to_have_url(f"{live_server.url}{path}")
            page.get_by_role("button", name="Open the meeting").click()
            expect(page.locator("#meeting-status")).to_have_text("open")
            carried = page.locator("#section-carried .meeting-item")
            expect(carried).to_have_count(1)
            expect(carried.first).to_contain_text("3栋路灯长期不亮")
            expect(carried.first).to_contain_text(lamp.number)
            expect(carried.first.locator(".mi-carried")).to_contain_text("联系市政本周内更换灯具")
            expect(page.locator("#section-hard_case .meeting-item")).to_have_count(2)
            expect(page.locator("#section-category .meeting-item")).to_have_count(1)

            # 议: a decision on the escalated case, by the labels a screen reader reads.
            item = page.locator(".meeting-item", has_text=escalated.number)
            item.get_by_label("Decision").fill("街道协调城管、交警联合整治，社区每日巡查。")
            item.get_by_label("Who does it").select_option(label="城管")
            item.get_by_label("Due date").fill((this_monday + timedelta(days=4)).isoformat())
            item.get_by_role("button", name="Save the decision").click()
            item = page.locator(".meeting-item", has_text=escalated.number)
            expect(item.get_by_label("Decision")).to_have_value("街道协调城管、交警联合整治，社区每日巡查。")
            # 评: last week's lamp carried once more.
            page.locator("#section-carried .meeting-item").get_by_role("button", name="Carry forward").click()
            expect(page.locator("#section-carried .tag.outcome-carried")).to_have_count(1)
            # Staff's own item, linked to an issue.
            form = page.locator("#add-item")
            form.get_by_label("New item").fill("电动车楼道充电隐患排查")
            form.get_by_label("Linked issues").fill(low.number)
            form.get_by_role("button", name="Add the item").click()
            expect(page.locator("#section-staff .meeting-item")).to_have_count(1)
            problems["meeting"] = serious_violations(page)
            page.evaluate("window.scrollTo(0, 0)")
            desk.shoot(page, "meeting")

            page.get_by_role("link", name="Print view").click()
            expect(page.locator("#print-status")).to_have_text("draft")
            expect(page.locator(".site-header")).to_have_count(0)
            expect(page.locator("table tbody tr")).to_have_count(5)
            problems["print"] = serious_violations(page)
            desk.shoot(page, "meeting-print")
            pdf = page.pdf(path=str(tmp_path / "minutes.pdf"), prefer_css_page_size=True)
            assert pdf[:4] == b"%PDF"
            # On paper: the print CSS drops the screen tools and the sheet's frame.
            page.emulate_media(media="print")
            expect(page.locator(".tools")).to_be_hidden()
            page.set_viewport_size({"width": 794, "height": 1123})  # A4 at 96 dpi
            page.screenshot(path=str(tmp_path / "minutes-print-media.png"), full_page=True)
            page.emulate_media(media="screen")
            page.set_viewport_size({"width": 1280, "height": 900})
            page.get_by_role("link", name="Back to the meeting").click()

            # Finalise: the minutes are read-only for everyone, the street officer included.
            page.get_by_role("button", name="Finalise the minutes").click()
            expect(page.locator("#final-note")).to_be_visible()
            street = desk.open("street_officer", path)
            expect(street.locator("#meeting-status")).to_have_text("finalised")
            expect(street.get_by_role("button", name="Save the decision")).to_have_count(0)
        finally:
            browser.close()

    assert problems == {"meeting": [], "print": []}
    meeting = Meeting.objects.get(area=community, week=this_monday)
    assert meeting.status == Meeting.Status.FINAL
    assert meeting.items.get(issues=escalated).assignee_department == chengguan
    assert meeting.items.get(source=Item.Source.CARRIED).outcome == Item.Outcome.CARRIED
    for name in ("meeting", "meeting-print"):
        for language in ("zh", "en"):
            assert (shots / f"{name}-{language}.png").stat().st_size > 0
