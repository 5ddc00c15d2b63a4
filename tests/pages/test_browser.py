"""End to end in headless Chromium: sign in, see the unread count in the header, mark one read, see it drop."""

import os
from pathlib import Path

import pytest
from django.utils import timezone

from tests.factories import UserFactory

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
PASSWORD = "pw-for-tests-2026"  # tests.factories.UserFactory

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not Path(CHROMIUM).exists(), reason=f"{CHROMIUM} is absent (apt-get install -y chromium)"),
]


def test_inbox_in_chromium_marks_one_read_and_the_header_count_drops(live_server, inbox_row, tmp_path):
    from playwright.sync_api import expect, sync_playwright

    # Data first: Playwright's sync API runs an event loop, in which Django refuses database calls.
    resident = UserFactory(username="resident_browser")
    first = inbox_row(resident, number="GD-20261122-00001", kind="issue.accepted")
    inbox_row(resident, number="GD-20261122-00002", kind="issue.resolved")
    inbox_row(resident, number="GD-20261121-00007", kind="issue.closed", read_at=timezone.now())

    # GRIDDESK_SCREENSHOT_DIR=docs/screenshots refreshes the committed picture; otherwise it goes to tmp_path.
    screenshot = Path(os.environ.get("GRIDDESK_SCREENSHOT_DIR") or tmp_path) / "inbox.png"
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": 390, "height": 760}, locale="zh-CN")
            page.goto(f"{live_server.url}/accounts/login/?next=/inbox/")
            page.fill("#id_username", "resident_browser")
            page.fill("#id_password", PASSWORD)
            page.click("button[type=submit].primary")
            page.wait_for_url(f"{live_server.url}/inbox/")

            expect(page.locator("#unread-count")).to_have_text("2")
            expect(page.locator("#current-user")).to_have_text("resident_browser")
            expect(page.locator(".item.unread")).to_have_count(2)
            expect(page.locator(".item.read")).to_have_count(1)
            page.screenshot(path=str(screenshot), full_page=True)

            page.locator(f'.item.unread[data-id="{first.pk}"] button').click()
            page.wait_for_load_state()
            expect(page.locator("#unread-count")).to_have_text("1")
            expect(page.locator(".item.unread")).to_have_count(1)
            expect(page.locator(".item.read")).to_have_count(2)
        finally:
            browser.close()

    first.refresh_from_db()
    assert first.read_at is not None
    assert screenshot.stat().st_size > 0
