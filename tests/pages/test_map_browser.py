"""/map/ end to end in headless Chromium at 1280 px: the grids drawn from the GeoJSON, a grid clicked for its numbers
and issues, the colour toggle, a hot spot's grid outlined with its popup, the view reloaded when zoomed in, an issue's
point opening its page; axe-core; screenshots in Chinese and English."""

import os
from pathlib import Path

import pytest

from tests.desks.test_desk_browser import serious_violations
from tests.factories import issue_in_status
from tests.issues.test_map import add_grid, hotspot_of, overdue
from tests.pages.test_browser import CHROMIUM, CHROMIUM_ARGS, PASSWORD

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not Path(CHROMIUM).exists(), reason=f"{CHROMIUM} is absent (apt-get install -y chromium)"),
]


def test_the_map_in_chromium(
    live_server, territory, other_territory, make, category, street_officer, community_staff, tmp_path
):
    from playwright.sync_api import expect, sync_playwright

    # Two communities of the street, a row of grids in each; a busy grid, a quiet one, one lone issue far away.
    community, other = territory["community"], other_territory["community"]
    # The factory gives both communities' first grids the same box: the other's is left undrawn (no boundary).
    type(other_territory["grid"]).objects.filter(pk=other_territory["grid"].pk).update(boundary=None)
    grids = [territory["grid"]] + [add_grid(community, seq, lng=114.95 + 0.01 * (seq - 1)) for seq in range(2, 6)]
    grids += [add_grid(other, seq, lng=114.95 + 0.01 * (seq - 1), lat=25.83) for seq in range(2, 6)]
    busy = grids[0]
    burst = [make("submitted") for _ in range(2)]
    late = overdue(make("dispatched"))
    spot = hotspot_of([*burst, late], busy, category)
    for seq, grid in enumerate(grids[1:], start=1):
        for _ in range(seq % 4):
            issue_in_status("submitted", reporter=community_staff, place=grid, description="路灯不亮，晚上很黑。")
    lone_grid = grids[-1]
    lone = issue_in_status(
        "submitted", reporter=street_officer, place=lone_grid, description="井盖缺失。", lat=25.835, lng=114.995
    )

    shots = Path(os.environ.get("GRIDDESK_SCREENSHOT_DIR") or tmp_path)
    problems, errors = {}, []
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            for language in ("en", "zh-hans"):
                context = browser.new_context(viewport={"width": 1280, "height": 900}, locale="zh-CN")
                context.add_cookies([{"name": "django_language", "value": language, "url": live_server.url}])
                page = context.new_page()
                page.on("pageerror", lambda error: errors.append(str(error)))
                external = []
                page.on(
                    "request",
                    lambda request, external=external: (
                        external.append(request.url) if not request.url.startswith(live_server.url) else None
                    ),
                )
                page.goto(f"{live_server.url}/accounts/login/?next=/map/")
                page.fill("#id_username", "street_officer")
                page.fill("#id_password", PASSWORD)
                page.click("button[type=submit].primary")
                page.wait_for_url(f"{live_server.url}/map/")
                expect(page.locator("#map")).to_have_attribute("data-loaded", "grids")
                expect(page.locator("path[data-grid]")).to_have_count(len(grids))
                # The hot spot's grid is outlined (and pulses), with its legend entry.
                expect(page.locator("path.hotspot-grid")).to_have_count(1)
                expect(page.locator(f'path.hotspot-grid[data-hotspot="{busy.code}"]')).to_have_count(1)
                hot_label = "Open hot-spot alert" if language == "en" else "未关闭的热点预警"
                expect(page.locator("#map-legend")).to_contain_text(hot_label)
                lang = "en" if language == "en" else "zh"
                page.screenshot(path=str(shots / f"map-{lang}.png"), full_page=True)

                # Near a corner: its issues' cluster sits in the middle, above the grid.
                page.locator(f'path[data-grid="{busy.code}"]').click(position={"x": 6, "y": 6})
                expect(page.locator("#grid-panel-title")).to_contain_text(busy.code)
                expect(page.locator("#grid-open")).to_have_text("3")
                expect(page.locator("#grid-overdue")).to_have_text("1")
                expect(page.locator("#grid-issues li a")).to_have_count(3)
                expect(page.locator(f'#grid-issues a[href="/issues/{late.number}/"]')).to_be_visible()
                expect(page.locator("#grid-issues .late-badge")).to_have_count(1)
                # Its popup names the alert and links to its section of the escalation desk.
                popup = page.locator(".leaflet-popup-content")
                expect(popup).to_contain_text(category.name)
                expect(popup.locator(f'a[href="/desk/escalations/#hotspot-{spot.pk}"]')).to_be_visible()
                page.locator(".map-layout").screenshot(path=str(shots / f"map-hotspot-{lang}.png"))

                overdue_label = "Overdue issues" if language == "en" else "超期问题"
                page.get_by_role("radio", name=overdue_label).check()
                expect(page.locator("#map-legend")).to_contain_text(overdue_label)
                busy_fill = page.locator(f'path[data-grid="{busy.code}"]').get_attribute("fill")
                quiet_fill = page.locator(f'path[data-grid="{grids[4].code}"]').get_attribute("fill")
                assert busy_fill != quiet_fill  # 1 overdue against none
                page.get_by_role("radio", name="Open issues" if language == "en" else "未办结问题").check()

                problems[language] = serious_violations(page)
                assert external == []  # no tiles, fonts or scripts from anywhere else

                if language == "en":
                    # Zoomed in three steps, the view comes again, finer and only what is in it; the pick stays.
                    page.locator(".leaflet-popup-close-button").click()
                    fitted = page.locator("#map").get_attribute("data-zoom")

                    def zoom(button, page=page):
                        before = page.locator("#map").get_attribute("data-view")
                        page.get_by_role("button", name=button).click()
                        page.wait_for_function(
                            "(before) => document.getElementById('map').dataset.view !== before", arg=before
                        )

                    for _ in range(3):
                        zoom("Zoom in")
                    expect(page.locator("#map")).not_to_have_attribute("data-zoom", fitted, timeout=15_000)
                    assert int(page.locator("#map").get_attribute("data-zoom")) > int(fitted)
                    assert 0 < page.locator("path[data-grid]").count() < len(grids)  # the view, not the node
                    expect(page.locator("#grid-open")).to_have_text("3")
                    for _ in range(3):
                        zoom("Zoom out")
                    expect(page.locator("#map")).to_have_attribute("data-zoom", fitted)
                    expect(page.locator("path[data-grid]")).to_have_count(len(grids))  # the whole node again
                    # The lone issue is a point of its own: clicking it opens its page.
                    page.locator(f'.issue-point[title^="{lone.number}"]').click()
                    page.wait_for_url(f"{live_server.url}/issues/{lone.number}/")
                context.close()
        finally:
            browser.close()

    assert errors == []
    assert problems == {"en": [], "zh-hans": []}
    for name in ("map-en", "map-zh", "map-hotspot-en", "map-hotspot-zh"):
        assert (shots / f"{name}.png").stat().st_size > 0
