"""In headless Chromium at 1280 px, in Chinese and English: the triage queue's suggestion accepted in one click, the
classify form preselected, the hotline form suggesting as the operator types. Screenshots: triage-*.png."""

import os
from pathlib import Path

import pytest

from issues import workflow
from issues.demo import demo_categories, demo_departments
from issues.models import Issue
from orgs.models import Role
from tests.factories import UserFactory, member
from tests.pages.test_browser import CHROMIUM, CHROMIUM_ARGS
from tests.pages.test_browser_hotline_signup import in_english, serious_violations, sign_in
from triage.training import triage_train

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not Path(CHROMIUM).exists(), reason=f"{CHROMIUM} is absent (apt-get install -y chromium)"),
]

CALLS = [
    "您好，我是金东南小区的，我们单元的电梯又坏了，停在五楼不动，老人下不了楼",
    "小区东门的消防通道被几辆私家车长期占着，消防车根本进不来",
    "喂，你好，楼下路灯一个多星期都不亮了，晚上走路很危险",
]


@pytest.mark.parametrize("language", ["zh-hans", "en"])
def test_suggestions_in_the_queue_the_issue_page_and_the_hotline(
    live_server, territory, resident, community_staff, tmp_path, language
):
    from playwright.sync_api import expect, sync_playwright

    demo_categories(departments=demo_departments(district=territory["district"]))
    triage_train(measure=False)
    issues = [workflow.issue_submit(actor=resident, grid=territory["grid"].code, description=d) for d in CALLS]
    member(UserFactory(username="hotline_seat"), Role.HOTLINE_OPERATOR, area=territory["street"])
    shots = Path(os.environ.get("GRIDDESK_SCREENSHOT_DIR") or tmp_path)
    suffix = "" if language == "zh-hans" else "-en"
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": 1280, "height": 900}, locale="zh-CN")
            if language == "en":
                in_english(page, live_server)
            sign_in(page, live_server, "community_staff", "/desk/triage/")
            row = page.locator(f"#suggestion-{issues[0].number}")
            expect(row).to_contain_text("电梯故障")
            expect(row.locator(".confidence")).to_have_text(__import__("re").compile(r"\d+%"))
            assert serious_violations(page) == []
            page.screenshot(path=str(shots / f"triage-queue{suffix}.png"), full_page=True)

            # The issue page of the second: its classify form holds the suggestion, preselected.
            page.goto(f"{live_server.url}/issues/{issues[1].number}/")
            expect(page.locator("#triage-suggestions")).to_contain_text("消防通道占用")
            assert page.locator("#id_classify-category").input_value() == "fire-lane-blocked"
            assert serious_violations(page) == []
            page.locator("#form-classify").screenshot(path=str(shots / f"triage-classify{suffix}.png"))

            # One click in the queue classifies the first.
            page.goto(f"{live_server.url}/desk/triage/")
            page.locator(f"#suggestion-{issues[0].number} button").click()
            page.wait_for_url(f"{live_server.url}/issues/{issues[0].number}/")
            page.context.clear_cookies()

            if language == "en":
                in_english(page, live_server)
            sign_in(page, live_server, "hotline_seat", "/hotline/")
            page.locator("#id_description").fill("")
            page.locator("#id_description").type("小区门口的水管爆了，水一直往外冒")
            live = page.locator("#triage-live")
            expect(live).to_be_visible()
            expect(live.locator("li").first).to_contain_text("管道破裂")
            expect(page.locator("#id_category")).to_have_value("burst-pipe")
            assert serious_violations(page) == []
            page.screenshot(path=str(shots / f"triage-hotline{suffix}.png"), full_page=True)
        finally:
            browser.close()
    first = Issue.objects.get(pk=issues[0].pk)
    assert (first.status, first.category.code) == ("classified", "elevator-fault")
