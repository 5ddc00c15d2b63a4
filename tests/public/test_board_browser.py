"""In headless Chromium at 390 px (and 1280 px): the public board without signing in, following from it, and the
subscriptions page; no serious or critical axe-core violations; screenshots in Chinese and English
(GRIDDESK_SCREENSHOT_DIR=docs/screenshots refreshes the committed ones)."""

from pathlib import Path

import pytest

from tests.factories import UserFactory
from tests.pages.test_browser import CHROMIUM, CHROMIUM_ARGS, PASSWORD
from tests.pages.test_browser_follow import assert_accessible, assert_fits, new_page, shots_dir

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not Path(CHROMIUM).exists(), reason=f"{CHROMIUM} is absent (apt-get install -y chromium)"),
]

NOTES = ["纸箱和旧家具已全部清运，消防通道已畅通。", "路灯已更换，晚上照明恢复正常。", "井盖已复位加固。"]


@pytest.fixture
def board(build, territory, other_territory):
    """Three resolved public issues, one private and one report (never shown), in the community of the territory."""
    build("resolved", description="3栋楼道里堆满了纸箱和旧家具，堵住了消防通道。电话 138 1234 5678", note=NOTES[0])
    build("resolved", description="小区东门的路灯坏了一个星期，晚上很黑。", note=NOTES[1])
    build("resolved", description="5栋门口的井盖松动，踩上去会响。", note=NOTES[2])
    build("in_progress", description="垃圾站周边异味严重。")
    build("resolved", private=True, description="邻里纠纷：楼上噪音扰民", note="已调解。")
    build("resolved", kind="report", description="举报：楼顶有人私搭乱建", note="已拆除。")
    return f"/public/{territory['community'].code}/"


def test_the_public_board_at_390_px_in_chinese_and_english_then_follow(live_server, board, tmp_path):
    from playwright.sync_api import expect, sync_playwright

    UserFactory(username="board_follower", email="follower@example.test")
    shots = shots_dir(tmp_path)
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            for language in ("zh", "en"):
                page = new_page(browser, live_server, language)
                page.goto(f"{live_server.url}{board}")
                expect(page.locator("#resolved-list .item")).to_have_count(3)
                expect(page.locator("#board-rates .rate")).to_have_count(3)
                expect(page.locator("#resolved-list")).not_to_contain_text("138 1234 5678")
                expect(page.locator("#resolved-list")).not_to_contain_text("噪音")
                expect(page.locator("#resolved-list")).not_to_contain_text("楼顶")
                expect(page.locator("#follow-login")).to_be_visible()
                assert_accessible(page)
                assert_fits(page)
                page.screenshot(path=str(shots / f"public-board-{language}.png"), full_page=True)
                if language == "zh":
                    expect(page.locator("#board-title")).to_contain_text("公示栏")
                    page.set_viewport_size({"width": 1280, "height": 900})
                    assert_accessible(page)
                    page.screenshot(path=str(shots / "public-board-1280-zh.png"), full_page=True)
                page.context.close()

            # Sign in from the board, follow the first grid by email, daily; see it on the subscriptions page.
            page = new_page(browser, live_server, "en")
            page.goto(f"{live_server.url}{board}")
            page.locator("#follow-login").click()
            page.fill("#id_username", "board_follower")
            page.fill("#id_password", PASSWORD)
            page.click("button[type=submit].primary")
            page.wait_for_url(f"{live_server.url}{board}")
            page.get_by_label("Area", exact=True).select_option(label="第1网格")
            page.get_by_label("Through").select_option("email")
            page.get_by_label("How often").select_option("daily")
            page.get_by_role("button", name="Follow", exact=True).click()
            page.wait_for_url(f"{live_server.url}{board}")
            expect(page.locator("#following")).to_contain_text("第1网格")
            assert_accessible(page)
            assert_fits(page)
            page.screenshot(path=str(shots / "public-board-follow-en.png"), full_page=True)

            page.goto(f"{live_server.url}/alerts/")
            expect(page.locator("#subscription-list .subscription")).to_have_count(1)
            assert_accessible(page)
            assert_fits(page)
            page.screenshot(path=str(shots / "alerts-en.png"), full_page=True)
            page.context.add_cookies([{"name": "django_language", "value": "zh-hans", "url": live_server.url}])
            page.goto(f"{live_server.url}/alerts/")
            expect(page.locator("#alerts-title")).to_have_text("我的关注")
            assert_fits(page)
            page.screenshot(path=str(shots / "alerts-zh.png"), full_page=True)
            page.get_by_role("button", name="取消关注第1网格").click()
            expect(page.locator("#subscription-list")).to_have_count(0)
        finally:
            browser.close()
