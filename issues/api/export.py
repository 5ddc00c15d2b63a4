"""Staff export of issues, GET /api/v1/issues/export/?format=xlsx|csv (issue 4: "every response, export and webhook").

The rows are the issue list's: the same scoping (issues.access.ScopedIssueMixin) and the same filters
(issues.filters.IssueFilterSet, through the same DjangoFilterBackend). The reporter is masked as every API answer
masks it (issues.personal_data.reporter_for). Times are in Asia/Shanghai.

Memory stays flat however many rows there are: the issues are read with `.iterator(chunk_size=EXPORT_CHUNK_SIZE)`
(prefetches run once per chunk, so the number of queries does not grow with the rows), CSV is streamed row by row,
and XLSX is written by openpyxl's write-only workbook to a temporary file that is then streamed. At most
EXPORT_MAX_ROWS rows: beyond that the answer is 400 validation_error, asking to narrow the filters.
"""

import csv
import tempfile
from collections.abc import Callable, Iterator
from datetime import datetime
from http import HTTPStatus
from zoneinfo import ZoneInfo

from django.db.models import QuerySet
from django.http import FileResponse, StreamingHttpResponse
from django.utils import timezone, translation
from django_filters.rest_framework import DjangoFilterBackend
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from openpyxl import Workbook
from openpyxl.cell import WriteOnlyCell
from openpyxl.cell.cell import ILLEGAL_CHARACTERS_RE
from rest_framework.generics import GenericAPIView
from rest_framework.negotiation import BaseContentNegotiation
from rest_framework.permissions import IsAuthenticated

from config.api.exceptions import ErrorResponseSerializer
from config.api.permissions import IsStaffMember
from config.errors import ValidationFailed
from issues.access import ScopedIssueMixin
from issues.filters import IssueFilterSet
from issues.models import Issue, Kind
from issues.personal_data import reporter_for

# The most rows one export holds; a wider export is refused (400) with a request to narrow the filters.
EXPORT_MAX_ROWS = 100_000
# Rows read per query (and per prefetch): bounds memory, and keeps the number of queries independent of the rows.
EXPORT_CHUNK_SIZE = 2_000
SHANGHAI = ZoneInfo("Asia/Shanghai")
CSV_TYPE = "text/csv; charset=utf-8"
XLSX_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
FORMATS = ("xlsx", "csv")
LANGUAGES = {"zh": "zh", "zh-hans": "zh", "en": "en"}
# A CSV cell starting with one of these is a formula to Excel: prefixed with "'" so that it stays text (OWASP).
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
TIME_FORMAT = "%Y-%m-%d %H:%M:%S"
FILE_DESCRIPTION = "The file, as `format` asks: an XLSX workbook or a CSV (UTF-8 with a byte-order mark)."
# Columns whose values are API names (`submitted`, `complaint`): the Chinese export writes their Chinese labels.
LABELLED = {"status": Issue.Status, "kind": Kind}


def _area_names(issue: Issue) -> dict[str, str]:
    """Return the names of the issue's grid, community, street and district (the grid's ancestors, joined in SQL)."""
    names, node = {}, issue.grid
    for level in ("grid", "community", "street", "district"):
        names[level] = node.name if node is not None else ""
        node = node.parent if node is not None else None
    return names


def _lead_department(issue: Issue):
    """Return the lead department of the current dispatch round, or None (dispatches are prefetched)."""
    return next((d.department for d in issue.dispatches.all() if d.active and d.lead), None)


def _rating(issue: Issue) -> int | None:
    """Return the latest rating's score, as the issue representation does (ratings are prefetched, oldest first)."""
    ratings = list(issue.ratings.all())
    return ratings[-1].score if ratings else None


def _local(value: datetime | None) -> datetime | None:
    """Return `value` as a naive Asia/Shanghai time to the second (spreadsheets know no time zones)."""
    return timezone.localtime(value, SHANGHAI).replace(tzinfo=None, microsecond=0) if value is not None else None


def export_labels(*, lang: str) -> dict[str, dict[str, str]]:
    """Return {column: {API value: label}} for the Chinese export; English keeps the API's values, as its headers do."""
    if lang == "en":
        return {}
    with translation.override("zh-hans"):
        return {column: {value: str(label) for value, label in choices.choices} for column, choices in LABELLED.items()}


def _labelled(context: dict, column: str, value: str) -> str:
    return context["labels"].get(column, {}).get(value, value)


# (key and English header, Chinese header, value of an issue for a viewer). English headers are the API's names.
Column = tuple[str, str, Callable[[Issue, dict], object]]
COLUMNS: list[Column] = [
    ("number", "编号", lambda i, c: i.number),
    ("status", "状态", lambda i, c: _labelled(c, "status", i.status)),
    ("kind", "类型", lambda i, c: _labelled(c, "kind", i.kind)),
    ("category", "类别代码", lambda i, c: i.category.code if i.category else ""),
    ("category_name", "类别", lambda i, c: i.category.name if i.category else ""),
    ("urgent", "紧急", lambda i, c: i.urgent),
    ("title", "标题", lambda i, c: i.title),
    ("description", "描述", lambda i, c: i.description),
    ("address", "地址", lambda i, c: i.address),
    ("district", "区代码", lambda i, c: i.district_code),
    ("district_name", "区", lambda i, c: c["names"]["district"]),
    ("street", "街道代码", lambda i, c: i.street_code),
    ("street_name", "街道", lambda i, c: c["names"]["street"]),
    ("community", "社区代码", lambda i, c: i.community_code),
    ("community_name", "社区", lambda i, c: c["names"]["community"]),
    ("grid", "网格代码", lambda i, c: i.grid_code),
    ("grid_name", "网格", lambda i, c: c["names"]["grid"]),
    ("escalation_level", "升级层级", lambda i, c: i.escalation_level),
    ("created_at", "提交时间", lambda i, c: _local(i.created_at)),
    ("response_due_at", "响应期限", lambda i, c: _local(i.response_due_at)),
    ("resolution_due_at", "办结期限", lambda i, c: _local(i.resolution_due_at)),
    ("accepted_at", "受理时间", lambda i, c: _local(i.accepted_at)),
    ("resolved_at", "办结时间", lambda i, c: _local(i.resolved_at)),
    ("closed_at", "关闭时间", lambda i, c: _local(i.closed_at)),
    ("lead_department", "牵头部门代码", lambda i, c: c["lead"].code if c["lead"] else ""),
    ("lead_department_name", "牵头部门", lambda i, c: c["lead"].name if c["lead"] else ""),
    ("rating", "评分", lambda i, c: _rating(i)),
    ("reporter_name", "反映人姓名", lambda i, c: c["reporter"]["name"]),
    ("reporter_phone", "反映人电话", lambda i, c: c["reporter"]["phone"]),
]


def export_headers(*, lang: str) -> list[str]:
    """Return the column headers: Chinese by default, the API's field names in English."""
    return [key if lang == "en" else zh for key, zh, _ in COLUMNS]


def export_row(*, issue: Issue, viewer, labels: dict | None = None) -> list:
    """Return one issue's row as `viewer` may read it: the reporter as issues.personal_data.reporter_for gives it.

    `labels` (export_labels) turns API values into the export language's labels; without it they stay as they are.
    """
    context = {
        "names": _area_names(issue),
        "lead": _lead_department(issue),
        "reporter": reporter_for(viewer, issue),
        "labels": labels or {},
    }
    return [value(issue, context) for _, _, value in COLUMNS]


def export_issues(*, queryset: QuerySet[Issue], viewer, lang: str = "en") -> Iterator[list]:
    """Yield the rows of `queryset` (already scoped and filtered), chunk by chunk, at most EXPORT_MAX_ROWS."""
    labels = export_labels(lang=lang)
    issues = queryset.select_related("grid__parent__parent__parent")[:EXPORT_MAX_ROWS]
    for issue in issues.iterator(chunk_size=EXPORT_CHUNK_SIZE):
        yield export_row(issue=issue, viewer=viewer, labels=labels)


def _csv_cell(value, *, lang: str) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return ("yes" if value else "no") if lang == "en" else ("是" if value else "否")
    if isinstance(value, datetime):
        return value.strftime(TIME_FORMAT)
    text = str(value)
    return "'" + text if text.startswith(FORMULA_STARTS) else text


class _Line:
    """A file-like that hands back what csv.writer writes, so each row can be yielded as it is made."""

    def write(self, value: str) -> str:
        return value


def csv_stream(*, rows: Iterator[list], lang: str) -> Iterator[bytes]:
    """Yield the CSV: UTF-8 with a byte-order mark (so Excel reads Chinese), a header line, then one line per row."""
    writer = csv.writer(_Line())
    yield "\ufeff".encode() + writer.writerow(export_headers(lang=lang)).encode()
    for row in rows:
        yield writer.writerow([_csv_cell(value, lang=lang) for value in row]).encode()


def xlsx_file(*, rows: Iterator[list], lang: str):
    """Return a temporary file holding the XLSX, written in openpyxl's write-only mode (rows never all in memory)."""
    workbook = Workbook(write_only=True)
    sheet = workbook.create_sheet("issues" if lang == "en" else "诉求")
    sheet.append(export_headers(lang=lang))
    for row in rows:
        sheet.append([_xlsx_cell(sheet, value) for value in row])
    out = tempfile.TemporaryFile()
    workbook.save(out)
    out.seek(0)
    return out


def _xlsx_cell(sheet, value):
    if not isinstance(value, str):
        return value
    cell = WriteOnlyCell(sheet, value=ILLEGAL_CHARACTERS_RE.sub("", value))
    # Text stays text: openpyxl would otherwise store a value starting with "=" as a formula.
    cell.data_type = "s"
    return cell


class FormatParameterNegotiation(BaseContentNegotiation):
    """Answer errors in JSON; `?format=` names the file type here, not a renderer (DRF's URL_FORMAT_OVERRIDE)."""

    def select_parser(self, request, parsers):
        return parsers[0] if parsers else None

    def select_renderer(self, request, renderers, format_suffix=None):
        return renderers[0], renderers[0].media_type


def _language(request) -> str:
    lang = request.query_params.get("lang")
    if lang is not None:
        if lang.lower() not in LANGUAGES:
            raise ValidationFailed.on("lang", f"Choose one of: {', '.join(LANGUAGES)}.")
        return LANGUAGES[lang.lower()]
    return "en" if translation.get_language_from_request(request).startswith("en") else "zh"


class IssueExportView(ScopedIssueMixin, GenericAPIView):
    """Export the issues the caller may see, filtered as the list is, as XLSX or CSV (staff only)."""

    permission_classes = [IsAuthenticated, IsStaffMember]
    content_negotiation_class = FormatParameterNegotiation
    filter_backends = [DjangoFilterBackend]
    filterset_class = IssueFilterSet
    pagination_class = None

    @extend_schema(
        operation_id="issues_export",
        summary="Export the issues you may see (XLSX or CSV)",
        filters=True,
        description=(
            "Staff only (residents and partner apps: 403). The list's filters and scope; reporter masked as in "
            "every answer; times in Asia/Shanghai. Headers, status and kind in Chinese, or English (the API's names) "
            f"with `lang=en` or `Accept-Language: en`. At most {EXPORT_MAX_ROWS:,} rows: beyond, 400 validation_error "
            "asking to narrow the filters. CSV is UTF-8 with a byte-order mark."
        ),
        parameters=[
            OpenApiParameter("format", str, enum=list(FORMATS), description="File type (default xlsx)."),
            OpenApiParameter("lang", str, enum=list(LANGUAGES), description="Header language (default Chinese)."),
        ],
        responses={
            (HTTPStatus.OK, XLSX_TYPE): OpenApiResponse(OpenApiTypes.BINARY, description=FILE_DESCRIPTION),
            (HTTPStatus.OK, "text/csv"): OpenApiResponse(OpenApiTypes.BINARY, description=FILE_DESCRIPTION),
            HTTPStatus.BAD_REQUEST: OpenApiResponse(ErrorResponseSerializer, description="validation_error"),
        },
    )
    def get(self, request):
        file_format = request.query_params.get("format", "xlsx").lower()
        if file_format not in FORMATS:
            raise ValidationFailed.on("format", f"Choose one of: {', '.join(FORMATS)}.")
        lang = _language(request)
        queryset = self.filter_queryset(self.get_queryset())
        total = queryset.count()
        if total > EXPORT_MAX_ROWS:
            raise ValidationFailed.on(
                "non_field_errors",
                f"{total:,} issues match; at most {EXPORT_MAX_ROWS:,} can be exported at once. "
                "Narrow the filters (area, status, created_after, created_before …).",
            )
        rows = export_issues(queryset=queryset, viewer=request.user, lang=lang)
        filename = f"issues-{timezone.localtime(timezone.now(), SHANGHAI):%Y%m%d-%H%M%S}.{file_format}"
        if file_format == "csv":
            response = StreamingHttpResponse(csv_stream(rows=rows, lang=lang), content_type=CSV_TYPE)
            response["Content-Disposition"] = f'attachment; filename="{filename}"'
        else:
            response = FileResponse(
                xlsx_file(rows=rows, lang=lang), as_attachment=True, filename=filename, content_type=XLSX_TYPE
            )
        # Personal data: no shared cache keeps a copy.
        response["Cache-Control"] = "private, no-store"
        return response
