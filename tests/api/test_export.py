"""GET /api/v1/issues/export/: staff only, the list's scope and filters, the reporter masked per viewer, capped."""

import csv
import io
import logging
from datetime import datetime
from http import HTTPStatus

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from openpyxl import load_workbook

from issues import exports, workflow
from issues.api import export
from issues.models import Issue
from tests.api.test_issues_support import (
    MASKED_NAME,
    MASKED_PHONE,
    REPORTER_NAME,
    REPORTER_PHONE,
    client_for,
    error_code,
    issue_in,
    make_partner,
    partner_client,
)

EXPORT = "/api/v1/issues/export/"
EN_HEADERS = [key for key, _, _ in export.COLUMNS]


def csv_rows(response) -> list[list[str]]:
    """Return the CSV answer's rows (header first), checking the byte-order mark that Excel needs."""
    body = b"".join(response.streaming_content)
    assert body.startswith(b"\xef\xbb\xbf")
    return list(csv.reader(io.StringIO(body.decode("utf-8-sig"))))


def xlsx_rows(response) -> list[tuple]:
    """Return the XLSX answer's rows (header first), opened with openpyxl."""
    workbook = load_workbook(io.BytesIO(b"".join(response.streaming_content)), read_only=True)
    return list(workbook.worksheets[0].iter_rows(values_only=True))


def by_number(rows, headers) -> dict[str, dict]:
    return {row[0]: dict(zip(headers, row, strict=True)) for row in rows[1:]}


def export_of(user, **params):
    return client_for(user).get(EXPORT, params)


@pytest.fixture
def resolved(territory, resident, community_staff, chengguan, chengguan_staff, category) -> Issue:
    """Return an issue handled by 城管 up to resolved, with an urgent flag and a title (a known row)."""
    issue = issue_in(
        "resolved",
        reporter=resident,
        territory=territory,
        community_staff=community_staff,
        department=chengguan,
        department_staff=chengguan_staff,
        category=category,
    )
    Issue.objects.filter(pk=issue.pk).update(title='=HYPERLINK("http://evil")', urgent=True)
    return Issue.objects.get(pk=issue.pk)


@pytest.fixture
def submitted(territory, resident) -> Issue:
    return issue_in("submitted", reporter=resident, territory=territory)


@pytest.fixture
def elsewhere(other_territory, resident) -> Issue:
    """Return an issue in 金岭路社区, outside community_staff's scope."""
    return issue_in("submitted", reporter=resident, territory=other_territory)


def test_csv_export_holds_one_row_per_issue_with_every_column_in_shanghai_time(
    resolved, submitted, community_staff, category
):
    response = export_of(community_staff, format="csv", lang="en", unmasked="true")

    assert response.status_code == HTTPStatus.OK
    assert response["Content-Type"] == "text/csv; charset=utf-8"
    assert response["Content-Disposition"].startswith('attachment; filename="issues-')
    assert response["Cache-Control"] == "private, no-store"
    rows = csv_rows(response)
    assert rows[0] == EN_HEADERS
    found = by_number(rows, EN_HEADERS)
    assert set(found) == {resolved.number, submitted.number}
    row = found[resolved.number]
    assert row == {
        "number": resolved.number,
        "status": "resolved",
        "kind": "complaint",
        "category": "stairwell",
        "category_name": "楼道堆物",
        "urgent": "yes",
        # A formula stays text in Excel.
        "title": '\'=HYPERLINK("http://evil")',
        "description": resolved.description,
        "address": "",
        "district": "360702",
        "district_name": "章贡区",
        "street": "360702091",
        "street_name": "黄金岭街道",
        "community": "360702091005",
        "community_name": "社区005",
        "grid": "360702091005001",
        "grid_name": "第1网格",
        "escalation_level": "0",
        "created_at": resolved.created_at.astimezone(export.SHANGHAI).strftime("%Y-%m-%d %H:%M:%S"),
        "response_due_at": resolved.response_due_at.astimezone(export.SHANGHAI).strftime("%Y-%m-%d %H:%M:%S"),
        "resolution_due_at": resolved.resolution_due_at.astimezone(export.SHANGHAI).strftime("%Y-%m-%d %H:%M:%S"),
        "accepted_at": resolved.accepted_at.astimezone(export.SHANGHAI).strftime("%Y-%m-%d %H:%M:%S"),
        "resolved_at": resolved.resolved_at.astimezone(export.SHANGHAI).strftime("%Y-%m-%d %H:%M:%S"),
        "closed_at": "",
        "lead_department": "chengguan",
        "lead_department_name": "城管",
        "rating": "",
        # Community staff handle issues in their community and asked unmasked: unmasked.
        "reporter_name": REPORTER_NAME,
        "reporter_phone": REPORTER_PHONE,
    }
    assert found[submitted.number]["lead_department"] == "" and found[submitted.number]["status"] == "submitted"


def test_xlsx_export_opens_with_openpyxl_with_chinese_headers_and_typed_cells(resolved, community_staff):
    response = export_of(community_staff, unmasked="true")  # XLSX and Chinese by default

    assert response.status_code == HTTPStatus.OK
    assert response["Content-Type"] == export.XLSX_TYPE
    assert response["Content-Disposition"].endswith('.xlsx"')
    rows = xlsx_rows(response)
    assert list(rows[0]) == [zh for _, zh, _ in export.COLUMNS]
    assert rows[0][:3] == ("编号", "状态", "类型")
    assert len(rows) == 2
    row = dict(zip(EN_HEADERS, rows[1], strict=True))
    assert row["number"] == resolved.number
    assert row["title"] == '=HYPERLINK("http://evil")'  # text, not a formula
    assert row["urgent"] is True
    assert row["escalation_level"] == 0
    # Status and kind as the Chinese desk shows them, not the API's `resolved` and `complaint`.
    assert (row["status"], row["kind"]) == ("已办结", "投诉")
    assert row["street_name"] == "黄金岭街道"
    assert row["created_at"] == resolved.created_at.astimezone(export.SHANGHAI).replace(tzinfo=None, microsecond=0)
    assert isinstance(row["resolved_at"], datetime)
    assert row["closed_at"] is None and row["rating"] is None
    assert (row["reporter_name"], row["reporter_phone"]) == (REPORTER_NAME, REPORTER_PHONE)


def test_chinese_csv_writes_status_and_kind_as_their_chinese_labels(resolved, submitted, community_staff):
    rows = csv_rows(export_of(community_staff, format="csv"))
    assert rows[0][:3] == ["编号", "状态", "类型"]
    found = {row[0]: tuple(row[1:3]) for row in rows[1:]}
    assert found == {resolved.number: ("已办结", "投诉"), submitted.number: ("已提交", "投诉")}


def test_xlsx_keeps_a_formula_looking_title_as_text_cell(resolved, community_staff):
    body = b"".join(export_of(community_staff, format="xlsx").streaming_content)
    workbook = load_workbook(io.BytesIO(body))
    cell = workbook.worksheets[0]["G2"]
    assert cell.value == '=HYPERLINK("http://evil")' and cell.data_type == "s"


def test_xlsx_drops_control_characters_that_xlsx_cannot_hold(resolved, community_staff):
    Issue.objects.filter(pk=resolved.pk).update(description="楼道\x0b堆物\x1f")
    rows = xlsx_rows(export_of(community_staff, format="xlsx", lang="en"))
    assert dict(zip(EN_HEADERS, rows[1], strict=True))["description"] == "楼道堆物"


def test_english_headers_follow_accept_language(resolved, community_staff):
    client = client_for(community_staff)
    response = client.get(EXPORT, {"format": "csv"}, HTTP_ACCEPT_LANGUAGE="en-US,en;q=0.9")
    assert csv_rows(response)[0] == EN_HEADERS
    response = client.get(EXPORT, {"format": "csv"}, HTTP_ACCEPT_LANGUAGE="zh-CN")
    assert csv_rows(response)[0][0] == "编号"


def test_export_leaves_out_issues_outside_the_callers_scope(resolved, elsewhere, community_staff, street_officer):
    numbers = {row[0] for row in csv_rows(export_of(community_staff, format="csv"))[1:]}
    assert numbers == {resolved.number}
    numbers = {row[0] for row in csv_rows(export_of(street_officer, format="csv"))[1:]}
    assert numbers == {resolved.number, elsewhere.number}


def test_department_staff_export_only_what_was_dispatched_to_them(resolved, submitted, chengguan_staff):
    rows = csv_rows(export_of(chengguan_staff, format="csv", lang="en"))
    assert [row[0] for row in rows[1:]] == [resolved.number]
    row = dict(zip(EN_HEADERS, rows[1], strict=True))
    # The lead department handles it, but exports mask by default and a department may not ask otherwise.
    assert (row["reporter_name"], row["reporter_phone"]) == (MASKED_NAME, MASKED_PHONE)
    refused = export_of(chengguan_staff, format="csv", unmasked="true")
    assert refused.status_code == HTTPStatus.FORBIDDEN
    assert error_code(refused) == "permission_denied"


def test_department_that_returned_the_issue_sees_the_reporter_masked(
    territory, resident, community_staff, chengguan, shuiwu, chengguan_staff, shuiwu_staff, category
):
    issue = issue_in(
        "classified", reporter=resident, territory=territory, community_staff=community_staff, category=category
    )
    workflow.issue_dispatch(issue=issue, actor=community_staff, departments=[shuiwu], lead=shuiwu)
    workflow.issue_return(issue=Issue.objects.get(pk=issue.pk), actor=shuiwu_staff, reason="不归水务管")

    rows = csv_rows(export_of(shuiwu_staff, format="csv", lang="en"))
    assert len(rows) == 2  # the department still sees what was dispatched to it …
    row = dict(zip(EN_HEADERS, rows[1], strict=True))
    assert (row["number"], row["status"]) == (issue.number, "classified")
    # … but no longer handles it, so reads the reporter as the API shows it.
    assert (row["reporter_name"], row["reporter_phone"]) == (MASKED_NAME, MASKED_PHONE)
    detail = client_for(shuiwu_staff).get(f"/api/v1/issues/{issue.pk}/").json()
    assert detail["reporter"] == {"name": row["reporter_name"], "phone": row["reporter_phone"]}


def test_rows_read_in_chunks_keep_their_own_dispatches(monkeypatch, resolved, submitted, community_staff):
    # One issue per query: the prefetched dispatches of each chunk belong to that chunk's issues.
    monkeypatch.setattr(exports, "EXPORT_CHUNK_SIZE", 1)
    rows = csv_rows(export_of(community_staff, format="csv", lang="en"))
    leads = {row[0]: dict(zip(EN_HEADERS, row, strict=True))["lead_department"] for row in rows[1:]}
    assert leads == {resolved.number: "chengguan", submitted.number: ""}


def test_export_applies_the_list_filters(resolved, submitted, community_staff):
    def numbers(**params):
        return [row[0] for row in csv_rows(export_of(community_staff, format="csv", **params))[1:]]

    assert numbers(status="resolved") == [resolved.number]
    assert numbers(status="submitted,classified") == [submitted.number]
    assert numbers(urgent="true") == [resolved.number]
    assert numbers(category="stairwell") == [resolved.number]
    assert numbers(q=submitted.number) == [submitted.number]
    assert numbers(ordering="created_at") == [resolved.number, submitted.number]
    assert numbers(ordering="-created_at") == [submitted.number, resolved.number]


def test_a_bad_filter_is_a_validation_error_naming_it(community_staff, submitted):
    response = export_of(community_staff, format="csv", status="lost")
    assert response.status_code == HTTPStatus.BAD_REQUEST
    assert error_code(response) == "validation_error"
    assert list(response.json()["error"]["fields"]) == ["status"]


@pytest.mark.parametrize(("param", "value"), [("format", "pdf"), ("lang", "fr")])
def test_an_unknown_format_or_language_is_a_validation_error(community_staff, param, value):
    response = export_of(community_staff, **{param: value})
    assert response.status_code == HTTPStatus.BAD_REQUEST
    assert response.json()["error"]["code"] == "validation_error"
    assert list(response.json()["error"]["fields"]) == [param]


def test_export_beyond_the_maximum_rows_is_refused_asking_to_narrow_the_filters(
    monkeypatch, resolved, submitted, community_staff
):
    monkeypatch.setattr(exports, "EXPORT_MAX_ROWS", 1)
    before = Issue.objects.count()

    response = export_of(community_staff, format="csv")

    assert response.status_code == HTTPStatus.BAD_REQUEST
    error = response.json()["error"]
    assert error["code"] == "validation_error"
    assert "Narrow the filters" in error["message"] and "at most 1 " in error["message"]
    assert Issue.objects.count() == before
    # Narrowed to within the maximum, the same export is answered.
    narrowed = export_of(community_staff, format="csv", status="resolved")
    assert narrowed.status_code == HTTPStatus.OK
    assert [row[0] for row in csv_rows(narrowed)[1:]] == [resolved.number]


@pytest.mark.parametrize("caller", ["resident", "partner"])
def test_residents_and_partner_apps_may_not_export(caller, territory, resident, submitted):
    if caller == "resident":
        client = client_for(resident)
    else:
        _, key = make_partner(area=territory["district"])
        client = partner_client(key)
    response = client.get(EXPORT, {"format": "csv"})
    assert response.status_code == HTTPStatus.FORBIDDEN
    assert error_code(response) == "permission_denied"


def test_export_needs_a_sign_in(db):
    response = client_for(None).get(EXPORT, {"format": "csv"})
    assert response.status_code == HTTPStatus.UNAUTHORIZED
    assert error_code(response) == "not_authenticated"


def _copies(issue: Issue, n: int) -> None:
    """Store `n` more issues like `issue` (only the number differs), without n workflow calls."""
    import uuid

    copies = []
    for i in range(n):
        copy = Issue.objects.get(pk=issue.pk)
        copy.pk, copy.number = uuid.uuid4(), f"{issue.number}-{i}"
        copies.append(copy)
    Issue.objects.bulk_create(copies)


@pytest.mark.parametrize("file_format", export.FORMATS)
def test_export_takes_the_same_number_of_queries_for_1_and_50_rows(
    file_format, territory, resident, community_staff, chengguan, chengguan_staff, category
):
    issue = issue_in(
        "in_progress",
        reporter=resident,
        territory=territory,
        community_staff=community_staff,
        department=chengguan,
        department_staff=chengguan_staff,
        category=category,
    )
    counts = {}
    for size in (1, 50):
        _copies(issue, size - Issue.objects.count())
        client = client_for(community_staff)
        with CaptureQueriesContext(connection) as queries:
            response = client.get(EXPORT, {"format": file_format})
            body = b"".join(response.streaming_content)  # a streamed answer reads while it is sent
        rows = csv_rows_of(body) if file_format == "csv" else xlsx_rows_of(body)
        assert len(rows) == size + 1
        counts[size] = len(queries)
    # At most: the caller's memberships, the COUNT for the cap, the issues, their dispatches, photos and ratings.
    assert counts[1] == counts[50] <= 6


def csv_rows_of(body: bytes) -> list:
    return list(csv.reader(io.StringIO(body.decode("utf-8-sig"))))


def xlsx_rows_of(body: bytes) -> list:
    return list(load_workbook(io.BytesIO(body), read_only=True).worksheets[0].iter_rows(values_only=True))


def test_export_logs_no_phone_number(caplog, capfd, resolved, community_staff, chengguan_staff):
    for name in ("", "django", "django.request", "django.db.backends", "issues"):
        caplog.set_level(logging.DEBUG, logger=name)

    for user in (community_staff, chengguan_staff):
        for file_format in export.FORMATS:
            response = export_of(user, format=file_format)
            assert response.status_code == HTTPStatus.OK
            b"".join(response.streaming_content)
    # A refused export (400) makes django.request log.
    assert export_of(community_staff, format="csv", status="lost").status_code == 400

    logged = "\n".join(f"{record.getMessage()} {record.args!r} {record.exc_text or ''}" for record in caplog.records)
    out, err = capfd.readouterr()
    for text in (logged, out, err):
        assert REPORTER_PHONE not in text
        assert REPORTER_PHONE[3:] not in text
