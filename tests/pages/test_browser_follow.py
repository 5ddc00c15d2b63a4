"""In headless Chromium at 390 px: follow by number and phone and rate (4 closes, 2 reopens), the neutral answer to a
wrong pair, the reporter's issue page and /my/; no serious or critical axe-core violations; screenshots in Chinese
and English (GRIDDESK_SCREENSHOT_DIR=docs/screenshots refreshes the committed ones)."""

import io
import os
from pathlib import Path

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from PIL import Image

from issues import workflow
from issues.models import Issue
from issues.photos import photos_store
from tests.pages.test_browser import CHROMIUM, CHROMIUM_ARGS, PASSWORD

AXE = Path(__file__).resolve().parents[1] / "vendor" / "axe-core-4.14.1.min.js"
PHONE = "13800138000"

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not Path(CHROMIUM).exists(), reason=f"{CHROMIUM} is absent (apt-get install -y chromium)"),
]


def _jpeg(color) -> SimpleUploadedFile:
    buffer = io.BytesIO()
    Image.new("RGB", (480, 360), color).save(buffer, "JPEG")
    return SimpleUploadedFile("p.jpg", buffer.getvalue(), content_type="image/jpeg")


@pytest.fixture
def media_root(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "media"
    return settings.MEDIA_ROOT


@pytest.fixture
def resolved(territory, community_staff, category, chengguan_staff, media_root):
    """Return a function building a resolved issue, by `reporter` (None: by phone only), with before/after photos."""

    def build(reporter=None):
        issue = workflow.issue_submit(
            actor=reporter,
            description="3栋楼道里堆满了纸箱和旧家具，堵住了消防通道，晚上出入很不方便。",
            building=territory["building"].code,
            address="金东南路 12 号 3 栋 1 单元",
            reporter_name="刘阿姨",
            reporter_phone=PHONE,
        )
        photos_store(issue=issue, actor=reporter, files=[_jpeg((170, 120, 80)), _jpeg((150, 110, 90))])
        issue = workflow.issue_classify(issue=issue, actor=community_staff, category=category)
        issue = workflow.issue_dispatch(issue=issue, actor=community_staff, departments=["chengguan"])
        issue = workflow.issue_accept(issue=issue, actor=chengguan_staff)
        workflow.issue_comment(issue=issue, actor=community_staff, text="已联系物业协助。")
        return workflow.issue_resolve(
            issue=issue, actor=chengguan_staff, note="杂物已全部清运，消防通道已畅通。", photos=[_jpeg((90, 160, 90))]
        )

    return build


def shots_dir(tmp_path) -> Path:
    return Path(os.environ.get("GRIDDESK_SCREENSHOT_DIR") or tmp_path)


def assert_accessible(page) -> None:
    page.add_script_tag(path=str(AXE))
    violations = page.evaluate("async () => (await axe.run()).violations")
    bad = [(v["id"], v["impact"], [n["target"] for n in v["nodes"]]) for v in violations]
    assert not [v for v in bad if v[1] in ("serious", "critical")], bad


def assert_fits(page) -> None:
    """Nothing wider than the 390 px viewport (no sideways scrolling)."""
    assert page.evaluate("document.documentElement.scrollWidth") <= 390


def new_page(browser, live_server, language):
    context = browser.new_context(viewport={"width": 390, "height": 844}, locale="zh-CN")
    if language == "en":
        context.add_cookies([{"name": "django_language", "value": "en", "url": live_server.url}])
    return context.new_page()


@pytest.mark.parametrize("score, status", [(4, Issue.Status.CLOSED), (2, Issue.Status.DISPATCHED)])
def test_an_anonymous_reporter_follows_by_number_and_phone_and_rates(live_server, resolved, tmp_path, score, status):
    from playwright.sync_api import expect, sync_playwright

    issue = resolved()
    shots = shots_dir(tmp_path)
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            for language in ("zh", "en") if score == 4 else ("en",):
                page = new_page(browser, live_server, language)
                page.goto(f"{live_server.url}/follow/")
                assert_accessible(page)
                if score == 4:
                    page.screenshot(path=str(shots / f"follow-{language}.png"), full_page=True)
                if language == "zh":
                    continue
                # Keyboard only: type into the labelled fields, submit with Enter.
                page.get_by_label("Number").fill(issue.number)
                page.get_by_label("Phone").fill(PHONE)
                page.get_by_label("Phone").press("Enter")
                page.wait_for_url(f"{live_server.url}/follow/{issue.number}/")
                expect(page.locator("#issue-status")).to_have_text("Resolved")
                expect(page.locator("#photos-before img")).to_have_count(2)
                expect(page.locator("#photos-after img")).to_have_count(1)
                expect(page.locator("#reporter")).to_contain_text(PHONE)
                assert_accessible(page)
                assert_fits(page)
                if score == 4:
                    page.screenshot(path=str(shots / "follow-issue-en.png"), full_page=True)
                page.get_by_label("Rating").select_option(str(score))
                page.get_by_label("Comment").fill("Thank you" if score == 4 else "Still blocked")
                page.get_by_role("button", name="Rate").click()
                page.wait_for_url(f"{live_server.url}/follow/{issue.number}/")
                expect(page.locator("#issue-status")).to_have_text("Closed" if score == 4 else "Dispatched")
                expect(page.locator("#id_rating")).to_have_count(0)
            if score == 4:
                # The anonymous follower's page in Chinese (a second follow, same session grant style).
                page = new_page(browser, live_server, "zh")
                page.goto(f"{live_server.url}/follow/")
                page.get_by_label("编号").fill(issue.number)
                page.get_by_label("手机号").fill(PHONE)
                page.get_by_role("button", name="查询").click()
                page.wait_for_url(f"{live_server.url}/follow/{issue.number}/")
                assert_fits(page)
                page.screenshot(path=str(shots / "follow-issue-zh.png"), full_page=True)
        finally:
            browser.close()
    assert Issue.objects.get(pk=issue.pk).status == status


def test_a_wrong_pair_gets_the_neutral_answer(live_server, resolved, tmp_path):
    from playwright.sync_api import expect, sync_playwright

    issue = resolved()
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            page = new_page(browser, live_server, "en")
            page.goto(f"{live_server.url}/follow/")
            page.get_by_label("Number").fill(issue.number)
            page.get_by_label("Phone").fill("13912345678")
            page.get_by_role("button", name="Follow").click()
            alert = page.get_by_role("alert")
            expect(alert).to_have_text("No report matches this number and phone. Check both and try again.")
            expect(page.get_by_label("Number")).to_have_value(issue.number)
            assert_accessible(page)
            page.get_by_label("Number").fill("GD-20991231-99999")
            page.get_by_label("Phone").fill(PHONE)
            page.get_by_role("button", name="Follow").click()
            expect(page.get_by_role("alert")).to_have_text(
                "No report matches this number and phone. Check both and try again."
            )
            page.screenshot(path=str(tmp_path / "follow-wrong.png"), full_page=True)
        finally:
            browser.close()


def test_the_reporter_reads_my_issues_and_the_issue_page(live_server, resolved, resident, make, tmp_path):
    from playwright.sync_api import expect, sync_playwright

    issue = resolved(reporter=resident)
    make("submitted", title="小区路灯不亮")
    shots = shots_dir(tmp_path)
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            for language in ("zh", "en"):
                page = new_page(browser, live_server, language)
                page.goto(f"{live_server.url}/accounts/login/")
                page.fill("#id_username", "resident")
                page.fill("#id_password", PASSWORD)
                page.click("button[type=submit].primary")
                page.wait_for_url(f"{live_server.url}/my/")
                expect(page.locator(".issues .item")).to_have_count(2)
                assert_accessible(page)
                assert_fits(page)
                page.screenshot(path=str(shots / f"my-{language}.png"), full_page=True)
                page.locator(f'a.number[href="/issues/{issue.number}/"]').click()
                page.wait_for_url(f"{live_server.url}/issues/{issue.number}/")
                expect(page.locator("#photos-after img")).to_have_count(1)
                assert_accessible(page)
                assert_fits(page)
                page.screenshot(path=str(shots / f"issue-{language}.png"), full_page=True)
        finally:
            browser.close()


def test_community_staff_record_a_return_visit_on_the_issue_page(live_server, resolved, community_staff, tmp_path):
    from playwright.sync_api import expect, sync_playwright

    issue = resolved()
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            context = browser.new_context(viewport={"width": 1280, "height": 900}, locale="zh-CN")
            context.add_cookies([{"name": "django_language", "value": "en", "url": live_server.url}])
            page = context.new_page()
            page.goto(f"{live_server.url}/accounts/login/?next=/issues/{issue.number}/")
            page.fill("#id_username", "community_staff")
            page.fill("#id_password", PASSWORD)
            page.click("button[type=submit].primary")
            page.wait_for_url(f"{live_server.url}/issues/{issue.number}/")
            expect(page.locator('#actions [data-action="return_visit"]')).to_have_count(1)
            assert_accessible(page)
            page.screenshot(path=str(tmp_path / "issue-staff.png"), full_page=True)
            form = page.locator("#return-visit")
            form.get_by_label("Rating").select_option("3")
            form.get_by_label("What the reporter said").fill("Basically satisfied on the phone")
            form.get_by_role("button", name="Record rating").click()
            page.wait_for_url(f"{live_server.url}/issues/{issue.number}/")
            expect(page.locator("#issue-status")).to_have_text("Closed")
            expect(page.locator("#timeline .event-rate .event-detail")).to_contain_text("recorded from a return visit")
            page.screenshot(path=str(tmp_path / "issue-staff-after.png"), full_page=True)
        finally:
            browser.close()
    print(tmp_path)
