"""The desk pages: each role lands on its queue; queues list, filter and count; the staff forms act on the issue
page with the version they read; a stale form says who changed the issue and keeps the typed text."""

from http import HTTPStatus

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext

from issues import workflow
from issues.models import Dispatch, ExtensionRequest, Issue
from tests.factories import issue_state

pytestmark = pytest.mark.django_db


def signed_in(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def page(issue, action="") -> str:
    return f"/issues/{issue.number}/{action + '/' if action else ''}"


def test_each_role_lands_on_its_queue(community_staff, chengguan_staff, street_officer, grid_worker, resident):
    assert signed_in(street_officer).get("/desk/")["Location"] == "/desk/escalations/"
    assert signed_in(grid_worker).get("/desk/")["Location"] == "/desk/triage/"
    assert signed_in(resident).get("/desk/").status_code == HTTPStatus.NOT_FOUND
    assert signed_in(resident).get("/desk/triage/").status_code == HTTPStatus.NOT_FOUND
    # Each queue is for its roles only: a department has no triage, a community no escalation queue.
    assert signed_in(chengguan_staff).get("/desk/triage/").status_code == HTTPStatus.NOT_FOUND
    assert signed_in(community_staff).get("/desk/escalations/").status_code == HTTPStatus.NOT_FOUND
    assert signed_in(community_staff).get("/desk/triage/").status_code == HTTPStatus.OK


def test_triage_queue_lists_new_issues_with_counts_filters_and_export_links(make, community_staff):
    new = make("submitted", description="A burst pipe floods the road.")
    make("classified")
    body = signed_in(community_staff).get("/desk/triage/").content.decode()
    assert new.number in body
    assert 'id="tab-new"' in body and '<span class="count">1</span>' in body and '<span class="count">2</span>' in body
    assert "/api/v1/issues/export/?status=submitted&amp;format=xlsx" in body
    filtered = signed_in(community_staff).get("/desk/triage/", {"q": "stairwell"}).content.decode()
    assert new.number not in filtered
    bad = signed_in(community_staff).get("/desk/triage/", {"overdue": "maybe"})
    assert bad.status_code == HTTPStatus.BAD_REQUEST and "overdue" in bad.content.decode()


@pytest.mark.parametrize(
    ("url", "actor"),
    [
        ("/desk/triage/", "community_staff"),
        ("/desk/department/", "chengguan_staff"),
        ("/desk/escalations/", "street_officer"),
    ],
)
def test_each_queue_page_renders_in_the_same_number_of_queries_for_few_or_many_rows(request, make, url, actor):
    user = request.getfixturevalue(actor)
    community_staff = request.getfixturevalue("community_staff")

    def add(n):
        for _ in range(n):
            issue = make("submitted" if "triage" in url else "dispatched")
            if "escalations" in url:
                workflow.issue_escalate(issue=issue, actor=community_staff)

    def count():
        with CaptureQueriesContext(connection) as captured:
            assert signed_in(user).get(url).status_code == HTTPStatus.OK
        return len(captured.captured_queries)

    add(2)
    count()  # the user's scope is read once, then remembered (orgs.auth_cache): not counted
    few = count()
    add(6)
    count()  # the triage queue reads its counts and rows again once after issues change (issues.desks)
    assert count() == few


def test_classify_then_dispatch_with_a_lead_and_a_second_department(make, community_staff, shuiwu):
    issue = make("submitted")
    client = signed_in(community_staff)
    form = client.get(page(issue)).content.decode()
    assert f'action="/issues/{issue.number}/classify/"' in form
    response = client.post(
        page(issue, "classify"),
        {"classify-version": issue.version, "classify-kind": "complaint", "classify-category": "stairwell"},
    )
    assert response.status_code == HTTPStatus.FOUND
    issue.refresh_from_db()
    form = client.get(page(issue)).content.decode()
    # The category's department is preselected as lead: one click dispatches the usual case.
    assert 'value="chengguan" id="id_dispatch-departments_0" checked' in form or (
        'name="dispatch-departments" value="chengguan"' in form and "checked" in form
    )
    response = client.post(
        page(issue, "dispatch"),
        {
            "dispatch-version": issue.version,
            "dispatch-departments": ["chengguan", "shuiwu"],
            "dispatch-lead": "chengguan",
        },
    )
    assert response.status_code == HTTPStatus.FOUND
    issue.refresh_from_db()
    assert issue.status == Issue.Status.DISPATCHED
    rows = {(d.department.code, d.lead) for d in Dispatch.objects.filter(issue=issue)}
    assert rows == {("chengguan", True), ("shuiwu", False)}


def test_a_stale_form_names_who_changed_the_issue_keeps_the_text_and_applies_nothing(
    make, community_staff, street_officer
):
    issue = make("in_progress")
    stale_version = issue.version
    workflow.issue_supervise(issue=issue, actor=street_officer, note="Hurry.")
    before = issue_state(issue)
    response = signed_in(community_staff).post(
        page(issue, "escalate"),
        {"escalate-version": stale_version, "escalate-note": "Needs the street."},
    )
    assert response.status_code == HTTPStatus.CONFLICT
    body = response.content.decode()
    assert "Needs the street." in body
    assert "街道工作人员" in body or "street officer" in body.lower() or "黄金岭街道" in body
    assert issue_state(issue) == before
    # The form now carries the current version: pressing again acts on the issue as it is now.
    assert f'name="escalate-version" value="{before["issue"]["version"]}"' in body


def test_department_accepts_resolves_with_a_photo_and_another_returns(
    make, chengguan_staff, shuiwu_staff, category, shuiwu, png_bytes
):
    from django.core.files.uploadedfile import SimpleUploadedFile

    issue = make("dispatched")
    client = signed_in(chengguan_staff)
    assert client.post(page(issue, "accept"), {"accept-version": issue.version}).status_code == HTTPStatus.FOUND
    issue.refresh_from_db()
    photo = SimpleUploadedFile("after.png", png_bytes, content_type="image/png")
    response = client.post(
        page(issue, "resolve"), {"resolve-version": issue.version, "resolve-note": "Cleared.", "resolve-photos": photo}
    )
    assert response.status_code == HTTPStatus.FOUND, response.content.decode()[:2000]
    issue.refresh_from_db()
    assert issue.status == Issue.Status.RESOLVED
    assert [p.stage for p in issue.photos.all()] == ["resolution"]


def test_a_resolve_with_a_bad_photo_applies_nothing_and_keeps_the_note(make, chengguan_staff):
    from django.core.files.uploadedfile import SimpleUploadedFile

    issue = make("in_progress")
    before = issue_state(issue)
    bad = SimpleUploadedFile("after.png", b"not an image", content_type="image/png")
    response = signed_in(chengguan_staff).post(
        page(issue, "resolve"), {"resolve-version": issue.version, "resolve-note": "Cleared.", "resolve-photos": bad}
    )
    assert response.status_code == HTTPStatus.BAD_REQUEST
    assert "Cleared." in response.content.decode()
    assert issue_state(issue) == before


def test_street_approves_refuses_and_supervises_from_the_issue_page(make, street_officer, chengguan_staff):
    issue = make("in_progress")
    workflow.issue_extend(issue=issue, actor=chengguan_staff, workdays=3, reason="Parts.")
    issue.refresh_from_db()
    client = signed_in(street_officer)
    client.cookies["django_language"] = "en"
    body = client.get(page(issue)).content.decode()
    for button in ("Approve", "Refuse", "Supervise", "Escalate", "Extend", "Resolve", "Comment"):
        assert f'class="secondary">{button}</button>' in body or f'class="primary">{button}</button>' in body
    response = client.post(page(issue, "refuse-extension"), {"refuse_extension-version": issue.version})
    assert response.status_code == HTTPStatus.FOUND
    assert ExtensionRequest.objects.get(issue=issue).status == "rejected"
    issue.refresh_from_db()
    response = client.post(page(issue, "supervise"), {"supervise-version": issue.version, "supervise-note": "Today."})
    assert response.status_code == HTTPStatus.FOUND
    assert "Today." in client.get(page(issue)).content.decode()


def test_bulk_classify_and_dispatch_sends_each_to_its_usual_department(make, community_staff):
    first, second = make("submitted"), make("submitted")
    response = signed_in(community_staff).post(
        "/desk/triage/dispatch/", {"issues": [str(first.pk), str(second.pk)], "category": "stairwell"}
    )
    assert response.status_code == HTTPStatus.FOUND
    for issue in (first, second):
        issue.refresh_from_db()
        assert issue.status == Issue.Status.DISPATCHED
        assert issue.dispatches.get().department.code == "chengguan"


@pytest.mark.parametrize(("language", "level"), [("en", "Community"), ("zh-hans", "社区")])
def test_the_level_column_reads_like_the_other_labels_in_each_language(make, community_staff, language, level):
    make("submitted")
    client = signed_in(community_staff)
    client.cookies["django_language"] = language
    body = client.get("/desk/triage/").content.decode()
    assert f'<td class="nowrap">{level}</td>' in body


@pytest.mark.parametrize(
    ("language", "reasons"),
    [("en", ["Invalid", "Duplicate", "Out of scope"]), ("zh-hans", ["无效诉求", "重复诉求", "不属受理范围"])],
)
def test_the_reject_reasons_start_with_a_capital_in_the_menu(make, community_staff, language, reasons):
    issue = make("submitted")
    client = signed_in(community_staff)
    client.cookies["django_language"] = language
    body = client.get(page(issue)).content.decode()
    for value, label in zip(["invalid", "duplicate", "out_of_scope"], reasons, strict=True):
        assert f'<option value="{value}">{label}</option>' in body


@pytest.mark.parametrize(("language", "channel"), [("en", "Web form"), ("zh-hans", "网页")])
def test_the_channel_on_the_issue_page_starts_with_a_capital_like_the_other_values(
    make, community_staff, language, channel
):
    issue = make("submitted")
    client = signed_in(community_staff)
    client.cookies["django_language"] = language
    assert f'<dd id="channel">{channel}</dd>' in client.get(page(issue)).content.decode()
