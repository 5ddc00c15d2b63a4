"""The reporter's phone never reaches a log, and each viewer reads the reporter as API.md says.

The log test drives a whole lifecycle through the API with every logger at DEBUG, notifications delivered
on commit (Celery eager), and a few refused calls (400, 404, 409) that make django.request log; then it looks
for the phone in every record (message, arguments, exception text) and in whatever reached stdout or stderr.
It runs with the production logging switches (DEBUG off): with DEBUG on, Django logs every SQL statement with
its parameters, the phone among them, which is why DEBUG stays off outside a developer's machine.
"""

import logging
from http import HTTPStatus

import pytest

from config.celery_app import app as celery_app
from issues import workflow
from issues.models import Issue
from issues.personal_data import mask_name, mask_phone
from tests.api.test_issues_support import (
    MASKED_NAME,
    MASKED_PHONE,
    REPORTER_NAME,
    REPORTER_PHONE,
    client_for,
    issue_in,
    make_partner,
    partner_client,
    submit_body,
)

LOGGERS = ("", "django", "django.request", "django.db.backends", "django.server", "celery", "issues", "notifications")
PHONE_FORMS = (REPORTER_PHONE, "138 1234 5678", "138-1234-5678")


@pytest.fixture
def every_log(caplog):
    for name in LOGGERS:
        caplog.set_level(logging.DEBUG, logger=name)
    return caplog


@pytest.fixture
def delivered_on_commit(django_capture_on_commit_callbacks):
    """Deliver notifications as a worker would, inside the request, so their logging is captured too."""
    eager = celery_app.conf.task_always_eager
    celery_app.conf.task_always_eager = True
    yield django_capture_on_commit_callbacks
    celery_app.conf.task_always_eager = eager


def test_lifecycle_through_the_api_logs_no_phone_number(
    every_log,
    capfd,
    delivered_on_commit,
    territory,
    resident,
    community_staff,
    other_community_staff,
    chengguan_staff,
    category,
):
    reporter, triage, handler = client_for(resident), client_for(community_staff), client_for(chengguan_staff)
    with delivered_on_commit(execute=True):
        created = reporter.post("/api/v1/issues/", submit_body(territory), format="json")
        url = f"/api/v1/issues/{created.json()['id']}/"
        refused = [
            reporter.post("/api/v1/issues/", submit_body(territory, description="短"), format="json"),
            client_for(other_community_staff).get(url),
        ]
        answers = [
            triage.post(f"{url}classify/", {"category": category.code}, format="json"),
            triage.post(f"{url}dispatch/", {"departments": ["chengguan"], "lead": "chengguan"}, format="json"),
            handler.post(f"{url}accept/", {}, format="json"),
            handler.post(f"{url}comment/", {"text": "已联系报告人", "internal": True}, format="json"),
            handler.post(f"{url}resolve/", {"note": "已清理"}, format="json"),
            reporter.post(f"{url}rate/", {"score": 2, "comment": "还有杂物"}, format="json"),
            handler.post(f"{url}accept/", {}, format="json"),
            handler.post(f"{url}resolve/", {"note": "全部清走"}, format="json"),
            reporter.post(f"{url}rate/", {"score": 5}, format="json"),
            reporter.get(url),
            triage.get("/api/v1/issues/", {"q": "楼道"}),
        ]
        refused.append(triage.post(f"{url}classify/", {"category": category.code}, format="json"))

    assert created.status_code == HTTPStatus.CREATED
    assert [r.status_code for r in answers] == [HTTPStatus.OK] * len(answers)
    assert [r.status_code for r in refused] == [HTTPStatus.BAD_REQUEST, HTTPStatus.NOT_FOUND, HTTPStatus.CONFLICT]
    assert Issue.objects.get().status == "closed"
    # The refusals were logged (so the capture works) …
    assert any(r.name == "django.request" for r in every_log.records)
    # … and no record, argument, traceback or console line carries the phone.
    out, err = capfd.readouterr()
    for record in every_log.records:
        text = " ".join([record.getMessage(), repr(record.args), record.exc_text or ""])
        assert not any(form in text for form in PHONE_FORMS), (record.name, text)
    assert not any(form in every_log.text + out + err for form in PHONE_FORMS)


# --- Masking -----------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("name", "masked"), [("刘洋", "刘*"), ("欧阳娜娜", "欧***"), ("L", "L*"), ("", "")])
def test_mask_name_keeps_the_first_character(name, masked):
    assert mask_name(name) == masked


@pytest.mark.parametrize(
    ("phone", "masked"),
    [("13812345678", "138****5678"), ("+8613812345678", "+86*******5678"), ("8123456", "*****56"), ("110", "***")],
)
def test_mask_phone_hides_the_middle(phone, masked):
    assert mask_phone(phone) == masked


UNMASKED = {"name": REPORTER_NAME, "phone": REPORTER_PHONE}
MASKED = {"name": MASKED_NAME, "phone": MASKED_PHONE}


@pytest.fixture
def dispatched(territory, resident, community_staff, chengguan, chengguan_staff, category) -> Issue:
    return issue_in(
        "dispatched",
        reporter=resident,
        territory=territory,
        community_staff=community_staff,
        department=chengguan,
        department_staff=chengguan_staff,
        category=category,
    )


@pytest.mark.parametrize(
    "viewer", ["resident", "grid_worker", "community_staff", "street_officer", "district_admin", "chengguan_staff"]
)
def test_reporter_and_handling_staff_read_the_reporter_unmasked_in_detail_and_list(viewer, request, dispatched):
    client = client_for(request.getfixturevalue(viewer))

    detail = client.get(f"/api/v1/issues/{dispatched.pk}/").json()
    listed = client.get("/api/v1/issues/").json()["results"]

    assert detail["reporter"] == UNMASKED
    assert [i["reporter"] for i in listed] == [UNMASKED]


def test_a_department_that_returned_the_issue_reads_the_reporter_masked(dispatched, chengguan_staff):
    workflow.issue_return(issue=dispatched, actor=chengguan_staff, reason="不属于城管职责")

    detail = client_for(chengguan_staff).get(f"/api/v1/issues/{dispatched.pk}/").json()

    assert detail["reporter"] == MASKED
    # Its history shows the reporter's account as "reporter", and no internal note.
    assert detail["events"][0]["actor"] == "reporter"


def test_partner_reads_what_it_submitted_unmasked_and_staff_too(territory, community_staff):
    _, key = make_partner(area=territory["district"])
    created = partner_client(key).post("/api/v1/issues/", submit_body(territory), format="json").json()

    assert created["reporter"] == UNMASKED
    assert client_for(community_staff).get(f"/api/v1/issues/{created['id']}/").json()["reporter"] == UNMASKED


def test_internal_notes_are_shown_to_handling_staff_only(dispatched, resident, community_staff, chengguan_staff):
    workflow.issue_comment(issue=dispatched, actor=chengguan_staff, text="报告人电话打不通", internal=True)
    workflow.issue_comment(issue=dispatched, actor=community_staff, text="已催办")
    url = f"/api/v1/issues/{dispatched.pk}/"

    staff_notes = [e["note"] for e in client_for(community_staff).get(url).json()["events"] if e["action"] == "comment"]
    resident_notes = [e["note"] for e in client_for(resident).get(url).json()["events"] if e["action"] == "comment"]

    assert staff_notes == ["报告人电话打不通", "已催办"]
    assert resident_notes == ["已催办"]


def test_resident_cannot_write_an_internal_note(dispatched, resident):
    events_before = dispatched.events.count()

    response = client_for(resident).post(
        f"/api/v1/issues/{dispatched.pk}/comment/", {"text": "我是内部人员", "internal": True}, format="json"
    )

    assert response.status_code == HTTPStatus.FORBIDDEN
    assert response.json()["error"]["code"] == "permission_denied"
    assert dispatched.events.count() == events_before
