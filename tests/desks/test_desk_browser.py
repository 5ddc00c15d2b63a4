"""The desks end to end in headless Chromium at 1280 px: triage, department work, the street's escalations, a stale
form; axe-core on the three queues and the staff issue page; screenshots of each desk in Chinese and English."""

import io
import os
from pathlib import Path

import pytest
from PIL import Image

from issues import workflow
from issues.models import Dispatch, Event, ExtensionRequest, Issue
from tests.factories import DepartmentFactory
from tests.pages.test_browser import CHROMIUM, CHROMIUM_ARGS, PASSWORD

AXE = Path(__file__).resolve().parents[1] / "vendor" / "axe-core-4.14.1.min.js"

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not Path(CHROMIUM).exists(), reason=f"{CHROMIUM} is absent (apt-get install -y chromium)"),
]


def serious_violations(page) -> list:
    page.add_script_tag(path=str(AXE))
    violations = page.evaluate("async () => (await axe.run()).violations")
    return [
        (v["id"], v["impact"], [n["target"] for n in v["nodes"]][:3])
        for v in violations
        if v["impact"] in ("serious", "critical")
    ]


class Desk:
    """One signed-in browser page per person, in English unless asked otherwise; screenshots in both languages."""

    def __init__(self, browser, live_server, shots: Path):
        self.browser, self.url, self.shots = browser, live_server.url, shots

    def open(self, username: str, path: str, *, language="en"):
        context = self.browser.new_context(viewport={"width": 1280, "height": 900}, locale="zh-CN")
        context.add_cookies([{"name": "django_language", "value": language, "url": self.url}])
        page = context.new_page()
        page.goto(f"{self.url}/accounts/login/?next={path}")
        page.fill("#id_username", username)
        page.fill("#id_password", PASSWORD)
        page.click("button[type=submit].primary")
        page.wait_for_load_state()
        return page

    def shoot(self, page, name: str):
        """Save the page in English and in Chinese (django_language cookie), then leave it in English."""
        page.screenshot(path=str(self.shots / f"{name}-en.png"), full_page=True)
        page.context.add_cookies([{"name": "django_language", "value": "zh-hans", "url": self.url}])
        page.reload()
        page.screenshot(path=str(self.shots / f"{name}-zh.png"), full_page=True)
        page.context.add_cookies([{"name": "django_language", "value": "en", "url": self.url}])
        page.reload()


def test_the_three_desks_in_chromium(
    live_server, make, territory, community_staff, chengguan_staff, shuiwu, shuiwu_staff, street_officer, tmp_path
):
    from playwright.sync_api import expect, sync_playwright

    zhujian = DepartmentFactory(code="zhujian", name="住建", district=territory["district"])
    new = make("submitted", description="楼道里堆满了纸箱和旧家具，挡住了消防通道。", lat=25.825, lng=114.955)
    make("submitted", description="同一楼道纸箱堆积，已经一周没人清理。", lat=25.8251, lng=114.9551)
    to_return = make("classified")
    workflow.issue_dispatch(issue=to_return, actor=community_staff, departments=["shuiwu"])
    escalated = make("in_progress")
    workflow.issue_escalate(issue=escalated, actor=community_staff, note="一周无进展。")
    asks_a = make("in_progress")
    workflow.issue_extend(issue=asks_a, actor=chengguan_staff, workdays=3, reason="等待配件。")
    asks_b = make("in_progress")
    workflow.issue_extend(issue=asks_b, actor=chengguan_staff, workdays=10, reason="人手不足。")
    stale = make("in_progress")
    photo = tmp_path / "after.png"
    out = io.BytesIO()
    Image.new("RGB", (64, 48), (30, 160, 60)).save(out, "PNG")
    photo.write_bytes(out.getvalue())

    shots = Path(os.environ.get("GRIDDESK_SCREENSHOT_DIR") or tmp_path)
    problems = {}
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        desk = Desk(browser, live_server, shots)
        try:
            # Community staff: the new issue in the triage queue; classify; dispatch to a lead and a second department.
            page = desk.open("community_staff", "/desk/")
            expect(page).to_have_url(f"{live_server.url}/desk/triage/")
            expect(page.locator("#tab-new .count")).to_have_text("2")
            expect(page.locator(f"#row-{new.number} .dups")).to_be_visible()
            problems["triage"] = serious_violations(page)
            desk.shoot(page, "desk-triage")
            page.locator(f"#row-{new.number} a.number").click()
            form = page.locator("#form-classify")
            expect(form.get_by_label("Kind")).to_have_value("complaint")
            form.get_by_label("Category").select_option("stairwell")
            form.get_by_role("button", name="Classify").click()
            problems["issue"] = serious_violations(page)
            desk.shoot(page, "desk-issue")
            form = page.locator("#form-dispatch")
            expect(form.get_by_label("城管")).to_be_checked()  # the category's department, preselected as lead
            form.get_by_label("水务").check()
            form.get_by_label("Lead department").select_option("chengguan")
            form.get_by_role("button", name="Dispatch").click()
            expect(page.locator("#issue-status")).to_have_text("Dispatched")

            # Department staff (城管): accept and resolve with a photo, from the department queue.
            page = desk.open("chengguan_staff", "/desk/")
            expect(page).to_have_url(f"{live_server.url}/desk/department/")
            problems["department"] = serious_violations(page)
            desk.shoot(page, "desk-department")
            page.locator(f"#row-{new.number} a.number").click()
            page.locator("#form-accept").get_by_role("button", name="Accept").click()
            expect(page.locator("#issue-status")).to_have_text("In progress")
            form = page.locator("#form-resolve")
            form.get_by_label("Result").fill("纸箱已清运，通道畅通。")
            form.get_by_label("Photos after").set_input_files(str(photo))
            form.get_by_role("button", name="Resolve").click()
            expect(page.locator("#issue-status")).to_have_text("Resolved")
            expect(page.locator("#photos-after img")).to_have_count(1)

            # Department staff (水务): return a misrouted one with a reason.
            page = desk.open("shuiwu_staff", f"/issues/{to_return.number}/")
            form = page.locator("#form-return")
            form.get_by_label("Reason").fill("不属于水务职责，应由城管处理。")
            form.get_by_role("button", name="Return").click()
            expect(page.locator("#issue-status")).to_have_text("Classified")

            # A stale form: the street supervises meanwhile; the community's escalation says who changed it.
            page = desk.open("community_staff", f"/issues/{stale.number}/")
            page.locator("#form-escalate").get_by_label("Note").fill("需要街道协调。")
            workflow_page = desk.open("street_officer", f"/issues/{stale.number}/")
            form = workflow_page.locator("#form-supervise")
            form.get_by_label("Instruction").fill("今天内处理完毕。")
            form.get_by_role("button", name="Supervise").click()
            expect(workflow_page.locator("#open-supervision")).to_contain_text("今天内处理完毕。")
            page.locator("#form-escalate").get_by_role("button", name="Escalate").click()
            expect(page.locator("#form-escalate .error")).to_contain_text("Changed meanwhile by")
            expect(page.locator("#form-escalate").get_by_label("Note")).to_have_value("需要街道协调。")

            # Street officer: the escalated issue, summon two departments; approve one extension, refuse another.
            page = desk.open("street_officer", "/desk/")
            expect(page).to_have_url(f"{live_server.url}/desk/escalations/")
            expect(page.locator("#tab-extensions .count")).to_have_text("2")
            problems["escalations"] = serious_violations(page)
            desk.shoot(page, "desk-escalations")
            page.locator(f"#row-{escalated.number} a.number").click()
            form = page.locator("#form-escalate")
            form.get_by_label("水务").check()
            form.get_by_label("住建").check()
            form.get_by_label("Note").fill("请水务、住建到场会商。")
            form.get_by_role("button", name="Escalate").click()
            expect(page.locator(".messages")).to_be_visible()
            page.goto(f"{live_server.url}/desk/escalations/?tab=extensions")
            page.locator(f"#row-{asks_a.number} a.number").click()
            page.locator("#form-approve_extension").get_by_role("button", name="Approve").click()
            page.goto(f"{live_server.url}/issues/{asks_b.number}/")
            page.locator("#form-refuse_extension").get_by_label("Reason").fill("十个工作日过长。")
            page.locator("#form-refuse_extension").get_by_role("button", name="Refuse").click()
            expect(page.locator("#timeline")).to_contain_text("十个工作日过长。")
        finally:
            browser.close()

    assert problems == {"triage": [], "issue": [], "department": [], "escalations": []}
    new.refresh_from_db()
    assert new.status == Issue.Status.RESOLVED
    assert {(d.department.code, d.lead) for d in Dispatch.objects.filter(issue=new)} == {
        ("chengguan", True),
        ("shuiwu", False),
    }
    assert [p.stage for p in new.photos.all()] == ["resolution"]
    to_return.refresh_from_db()
    assert to_return.status == Issue.Status.CLASSIFIED
    summoned = Event.objects.filter(issue=escalated, action="escalate").order_by("at").last()
    assert set(summoned.data["summoned"]) == {"shuiwu", zhujian.code}
    assert ExtensionRequest.objects.get(issue=asks_a).status == "approved"
    assert ExtensionRequest.objects.get(issue=asks_b).status == "rejected"
    assert Event.objects.filter(issue=stale, action="escalate").count() == 0
    assert Event.objects.filter(issue=stale, action="supervise").count() == 1
