"""In headless Chromium: a hotline operator takes a call by keyboard alone; a new resident signs up with a code.

Each page is checked with axe-core (no serious or critical violation) and photographed in Chinese and in English
(GRIDDESK_SCREENSHOT_DIR=docs/screenshots refreshes the committed pictures; otherwise they go to tmp_path).
"""

import os
import re
from pathlib import Path

import pytest

from issues.models import Issue
from notifications import sms
from orgs.models import Role
from tests.factories import UserFactory, member
from tests.pages.test_browser import CHROMIUM, CHROMIUM_ARGS, PASSWORD

AXE = Path(__file__).resolve().parent.parent / "vendor" / "axe-core-4.14.1.min.js"

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not Path(CHROMIUM).exists(), reason=f"{CHROMIUM} is absent (apt-get install -y chromium)"),
]


def serious_violations(page) -> list[dict]:
    """Return axe-core's serious and critical violations on the page as it is now."""
    page.add_script_tag(path=str(AXE))
    violations = page.evaluate("async () => (await axe.run()).violations")
    return [
        {"id": v["id"], "impact": v["impact"], "nodes": [n["target"] for n in v["nodes"]]}
        for v in violations
        if v["impact"] in ("serious", "critical")
    ]


def focused_id(page) -> str:
    return page.evaluate("() => document.activeElement && document.activeElement.id")


def in_english(page, live_server) -> None:
    page.context.add_cookies([{"name": "django_language", "value": "en", "url": live_server.url}])


def sign_in(page, live_server, username: str, next_url: str) -> None:
    page.goto(f"{live_server.url}/accounts/login/?next={next_url}")
    page.fill("#id_username", username)
    page.fill("#id_password", PASSWORD)
    page.click("button[type=submit].primary")
    page.wait_for_url(f"{live_server.url}{next_url}")


def test_a_hotline_operator_takes_a_call_by_keyboard_alone(live_server, territory, other_territory, category, tmp_path):
    from playwright.sync_api import expect, sync_playwright

    member(UserFactory(username="hotline_seat"), Role.HOTLINE_OPERATOR, area=territory["street"])
    shots = Path(os.environ.get("GRIDDESK_SCREENSHOT_DIR") or tmp_path)
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": 1280, "height": 900}, locale="zh-CN")
            sign_in(page, live_server, "hotline_seat", "/hotline/")
            assert serious_violations(page) == []

            # The call, typed in the order it is taken; nothing but the keyboard from here on.
            assert focused_id(page) == "id_phone"
            page.keyboard.type("13812345678")
            page.keyboard.press("Tab")
            page.keyboard.type("刘洋")
            page.keyboard.press("Tab")
            assert focused_id(page) == "id_kind"
            page.keyboard.press("ArrowDown")  # complaint → report
            page.keyboard.press("Tab")
            assert focused_id(page) == "id_category"
            page.keyboard.press("ArrowDown")  # the first category
            page.keyboard.press("Tab")
            page.keyboard.type("楼道里堆满了旧家具，挡住了消防通道")
            page.keyboard.press("Tab")
            assert focused_id(page) == "id_grid"
            page.keyboard.press("ArrowDown")  # 社区001 · 第1网格
            page.keyboard.press("ArrowDown")  # 社区005 · 第1网格
            page.keyboard.press("Tab")
            assert focused_id(page) == "id_address"
            page.keyboard.type("金东南路 12 号 3 栋")
            page.keyboard.press("Enter")

            page.wait_for_url(f"{live_server.url}/hotline/")
            expect(page.locator("#last-recorded")).to_contain_text("已登记")
            number = page.locator("#last-recorded a").inner_text()
            assert re.fullmatch(r"GD-\d{8}-\d{5}", number)
            assert page.locator("#last-recorded a").get_attribute("href") == f"/issues/{number}/"
            # Blank again, ready for the next call.
            assert focused_id(page) == "id_phone"
            for field in ("phone", "name", "description", "address", "grid"):
                assert page.locator(f"#id_{field}").input_value() == "", field
            assert serious_violations(page) == []
            page.screenshot(path=str(shots / "hotline.png"), full_page=True)

            # A typo in the next call: the message stands beside the phone, what was typed stays.
            page.keyboard.type("call me back")
            page.keyboard.press("Tab")
            page.keyboard.type("王芳")
            page.keyboard.press("Enter")
            page.wait_for_load_state()
            expect(page.locator("#id_phone-error")).to_be_visible()
            assert page.locator("#id_name").input_value() == "王芳"
            assert page.locator("#id_phone").get_attribute("aria-describedby") == "id_phone-error"
            assert serious_violations(page) == []

            in_english(page, live_server)
            page.goto(f"{live_server.url}/hotline/")
            expect(page.locator("label[for=id_phone]")).to_have_text("Phone")
            expect(page.locator("#last-recorded")).to_contain_text(f"{number} recorded")
            assert serious_violations(page) == []
            page.screenshot(path=str(shots / "hotline-en.png"), full_page=True)
        finally:
            browser.close()

    issue = Issue.objects.get(number=number)
    assert (issue.channel, issue.kind, issue.grid_code, issue.reporter_phone, issue.reporter_name) == (
        "hotline",
        "report",
        territory["grid"].code,
        "13812345678",
        "刘洋",
    )
    assert issue.category == category
    assert issue.address == "金东南路 12 号 3 栋"


@pytest.mark.parametrize("language", ["zh-hans", "en"])
def test_a_resident_signs_up_with_the_code_sent_by_sms(live_server, settings, tmp_path, language):
    from playwright.sync_api import expect, sync_playwright

    settings.GRIDDESK_SMS_BACKEND = "notifications.sms.LocmemSmsBackend"
    sms.outbox.clear()
    shots = Path(os.environ.get("GRIDDESK_SCREENSHOT_DIR") or tmp_path)
    suffix = "" if language == "zh-hans" else "-en"
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": 390, "height": 760}, locale="zh-CN")
            if language == "en":
                in_english(page, live_server)
            page.goto(f"{live_server.url}/signup/")
            assert serious_violations(page) == []
            page.screenshot(path=str(shots / f"signup{suffix}.png"), full_page=True)
            page.get_by_label("手机号" if language == "zh-hans" else "Phone").fill("138 1234 5678")
            page.keyboard.press("Enter")
            page.wait_for_url(f"{live_server.url}/signup/verify/")
            expect(page.locator(".sent")).to_contain_text("138****5678")

            code = re.search(r"\b(\d{6})\b", sms.outbox[-1]["text"]).group(1)
            assert sms.outbox[-1]["to"] == "13812345678"
            wrong = f"{(int(code) + 1) % 1000000:06d}"
            page.fill("#id_code", wrong)
            page.fill("#id_username", f"newcomer_{language[:2]}")
            page.fill("#id_password1", "lanterns-by-the-river-42")
            page.fill("#id_password2", "lanterns-by-the-river-42")
            page.locator("form[action='/signup/verify/'] button[type=submit]").click()
            page.wait_for_load_state()
            expect(page.locator("#id_code-error")).to_be_visible()
            assert page.locator("#id_username").input_value() == f"newcomer_{language[:2]}"
            assert serious_violations(page) == []
            page.screenshot(path=str(shots / f"signup-verify{suffix}.png"), full_page=True)

            page.fill("#id_code", code)
            page.fill("#id_password1", "lanterns-by-the-river-42")
            page.fill("#id_password2", "lanterns-by-the-river-42")
            page.locator("form[action='/signup/verify/'] button[type=submit]").click()
            page.wait_for_url(f"{live_server.url}/my/")
            expect(page.locator("#current-user")).to_have_text(f"newcomer_{language[:2]}")
        finally:
            browser.close()
