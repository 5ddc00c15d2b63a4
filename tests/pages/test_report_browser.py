"""/report/ in headless Chromium at 390 px: "use my location" with a photo, a visitor by grid, a typo that keeps
the photo; no serious or critical axe-core violation, nothing wider than the phone; screenshots in zh and en."""

import io
import os
import re
from pathlib import Path

import pytest
from PIL import Image

from issues.models import Issue, Photo
from tests.factories import UserFactory
from tests.pages.test_browser import CHROMIUM, CHROMIUM_ARGS, PASSWORD

AXE = Path(__file__).resolve().parent.parent / "vendor" / "axe-core-4.14.1.min.js"
INSIDE_THE_GRID = {"latitude": 25.8253, "longitude": 114.9552}  # tests.factories.territory_chain's grid box
DESCRIPTION = "楼道里堆满了旧家具，挡住了消防通道"
NUMBER = re.compile(r"^GD-\d{8}-\d{5}$")

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not Path(CHROMIUM).exists(), reason=f"{CHROMIUM} is absent (apt-get install -y chromium)"),
]


@pytest.fixture
def shots(tmp_path) -> Path:
    # GRIDDESK_SCREENSHOT_DIR=docs/screenshots refreshes the committed pictures; otherwise they go to tmp_path.
    return Path(os.environ.get("GRIDDESK_SCREENSHOT_DIR") or tmp_path)


@pytest.fixture
def photo(tmp_path) -> Path:
    path = tmp_path / "stairwell.png"
    out = io.BytesIO()
    Image.new("RGB", (64, 48), (200, 120, 40)).save(out, "PNG")
    path.write_bytes(out.getvalue())
    return path


@pytest.fixture
def browser(monkeypatch):
    from playwright.sync_api import sync_playwright

    # Playwright's sync API runs an event loop in this thread; the test reads the database between page steps,
    # which Django then refuses unless told that this thread does no async work of its own.
    monkeypatch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")

    with sync_playwright() as pw:
        chromium = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            yield chromium
        finally:
            chromium.close()


def phone_page(browser, live_server, *, language="zh-hans", geolocation=None):
    options = {"viewport": {"width": 390, "height": 844}, "locale": "zh-CN" if language == "zh-hans" else "en-US"}
    if geolocation:
        options.update(geolocation=geolocation, permissions=["geolocation"])
    context = browser.new_context(**options)
    if language != "zh-hans":
        context.add_cookies([{"name": "django_language", "value": language, "url": live_server.url}])
    return context.new_page()


# The fields of a visitor's form, in the order a keyboard reaches them.
FIELD_ORDER = ["id_kind", "id_category", "id_description", "id_photos", "id_urgent", "id_lat", "id_lng", "id_grid"]
FIELD_ORDER += ["id_building", "id_address", "id_name", "id_phone"]


def assert_fits_and_accessible(page):
    assert page.evaluate("document.documentElement.scrollWidth") <= 390
    page.add_script_tag(path=str(AXE))
    violations = page.evaluate("async () => (await axe.run()).violations")
    bad = [(v["id"], v["impact"], [n["target"] for n in v["nodes"]]) for v in violations]
    assert [v for v in bad if v[1] in ("serious", "critical")] == []


def test_a_resident_reports_with_a_photo_and_their_location_and_gets_a_number(
    live_server, browser, territory, category, photo, shots, settings, tmp_path
):
    from playwright.sync_api import expect

    settings.MEDIA_ROOT = tmp_path / "media"
    UserFactory(username="resident_report")
    page = phone_page(browser, live_server, geolocation=INSIDE_THE_GRID)
    page.goto(f"{live_server.url}/accounts/login/?next=/report/")
    page.fill("#id_username", "resident_report")
    page.fill("#id_password", PASSWORD)
    page.click("button[type=submit].primary")
    page.wait_for_url(f"{live_server.url}/report/")

    assert_fits_and_accessible(page)
    page.screenshot(path=str(tmp_path / "report-signed-in.png"))
    page.get_by_label("类别").select_option(category.code)
    page.get_by_label("描述").fill(DESCRIPTION)
    page.get_by_label("照片").set_input_files(str(photo))
    expect(page.locator("#photo-previews img")).to_have_count(1)
    page.get_by_role("button", name="使用我的位置").click()
    expect(page.locator("#locate-status")).to_contain_text(territory["grid"].name)
    expect(page.get_by_label("纬度")).to_have_value("25.825300")
    page.get_by_role("button", name="提交").click()

    page.wait_for_url(f"{live_server.url}/report/sent/")
    number = page.locator("#report-number").inner_text()
    assert NUMBER.match(number)
    assert page.get_by_role("link", name="查看诉求进展").get_attribute("href") == f"/issues/{number}/"
    issue = Issue.objects.get(number=number)
    assert (issue.reporter_user.username, issue.grid, issue.lat) == ("resident_report", territory["grid"], 25.8253)
    assert Photo.objects.filter(issue=issue).count() == 1


def test_a_visitor_reports_by_grid_choice(live_server, browser, territory, category, shots):
    from playwright.sync_api import expect

    page = phone_page(browser, live_server)
    page.goto(f"{live_server.url}/report/")
    page.screenshot(path=str(shots / "report.png"), full_page=True)
    # Keyboard only, one pass of Tab from the top: every field reached in reading order, filled without a pointer.
    reached = []
    while len(reached) < 60 and (not reached or reached[-1] != "id_phone"):
        page.keyboard.press("Tab")
        reached.append(page.evaluate("document.activeElement.id"))
        if reached[-1] == "id_description":
            page.keyboard.type(DESCRIPTION)
        elif reached[-1] == "id_grid":
            page.keyboard.press("ArrowDown")
    page.keyboard.type("13812345678")
    assert [r for r in reached if r in FIELD_ORDER] == FIELD_ORDER
    expect(page.locator("#id_grid")).to_have_value(territory["grid"].code)
    page.keyboard.press("Enter")

    page.wait_for_url(f"{live_server.url}/report/sent/")
    expect(page.locator("#report-number")).to_have_text(NUMBER)
    assert_fits_and_accessible(page)
    page.screenshot(path=str(shots / "report-sent.png"), full_page=True)
    issue = Issue.objects.get()
    assert (issue.grid, issue.reporter_user, issue.reporter_phone) == (territory["grid"], None, "13812345678")


@pytest.mark.parametrize("language", ["zh-hans", "en"])
def test_a_typo_in_the_phone_keeps_the_photo_and_the_other_fields(
    live_server, browser, territory, category, photo, shots, settings, tmp_path, language
):
    from playwright.sync_api import expect

    settings.MEDIA_ROOT = tmp_path / "media"
    words = {
        "zh-hans": ("描述", "网格", "电话", "照片", "提交"),
        "en": ("Description", "Grid", "Phone", "Photos", "Submit"),
    }[language]
    description, grid, phone, photos, submit = words
    suffix = "" if language == "zh-hans" else "-en"
    page = phone_page(browser, live_server, language=language)
    page.goto(f"{live_server.url}/report/")
    if suffix:
        page.screenshot(path=str(shots / f"report{suffix}.png"), full_page=True)
    page.get_by_label(description).fill(DESCRIPTION)
    page.get_by_label(grid).select_option(territory["grid"].code)
    page.get_by_label(photos).set_input_files(str(photo))
    page.get_by_label(phone).fill("1381234567x")
    page.get_by_role("button", name=submit).click()

    expect(page.locator("#id_phone-error")).to_be_visible()
    expect(page.get_by_label(phone)).to_have_attribute("aria-describedby", re.compile("id_phone-error"))
    expect(page.get_by_label(description)).to_have_value(DESCRIPTION)
    expect(page.get_by_label(grid)).to_have_value(territory["grid"].code)
    expect(page.locator(".kept-photos img")).to_have_count(1)
    assert_fits_and_accessible(page)
    page.screenshot(path=str(shots / f"report-errors{suffix}.png"), full_page=True)

    page.get_by_label(phone).fill("13812345678")
    page.get_by_role("button", name=submit).click()
    page.wait_for_url(f"{live_server.url}/report/sent/")
    if suffix:
        page.screenshot(path=str(shots / f"report-sent{suffix}.png"), full_page=True)
    issue = Issue.objects.get(number=page.locator("#report-number").inner_text())
    assert Photo.objects.filter(issue=issue).count() == 1
