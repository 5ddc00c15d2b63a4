"""The export of issues: its rows and files, and the job that writes a large one (issues.tasks.issue_export_task).

The rows are the issue list's: the same scoping (issues.selectors.issue_list_for_user) and the same filters
(issues.filters.IssueFilterSet). The reporter is masked unless the caller asked `unmasked=true` and may
(issues.personal_data.export_reporter). Times are in Asia/Shanghai. Every export is recorded (issues.ExportJob).

Memory stays flat however many rows there are: the issues are read in one query through a server-side cursor
(`.iterator(chunk_size=EXPORT_CHUNK_SIZE)`; per chunk at most one query for names not met yet, so the number of
queries does not grow with the rows), CSV is written as the rows come, and XLSX rows are streamed into the workbook
openpyxl writes, to a temporary file that is then streamed. At most EXPORT_MAX_ROWS rows: beyond that the answer is
400 validation_error, asking to narrow the filters. 100,000 rows take seconds (docs/benchmarks.md, bench_export.py).
"""

import csv
import io
import tempfile
import zipfile
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from datetime import timezone as dt_timezone
from pathlib import Path
from xml.sax.saxutils import escape as xml_escape
from zoneinfo import ZoneInfo

import orjson
from django.conf import settings
from django.db import connections, transaction
from django.db.models import QuerySet
from django.db.models.expressions import RawSQL
from django.http import QueryDict
from django.utils import timezone, translation
from openpyxl import Workbook
from openpyxl.cell import WriteOnlyCell
from openpyxl.cell.cell import ILLEGAL_CHARACTERS_RE
from openpyxl.compat import safe_string
from openpyxl.utils import get_column_letter
from openpyxl.utils.datetime import to_excel

from config.db_router import replica_reads
from grids.models import Area
from issues.api.lean import IssueFacts
from issues.filters import IssueFilterSet
from issues.models import Dispatch, ExportJob, Issue, Kind, Rating
from issues.personal_data import export_reporter
from issues.selectors import issue_list_for_user
from orgs.models import Department

# The most rows one export holds; a wider export is refused (400) with a request to narrow the filters.
EXPORT_MAX_ROWS = 100_000
# Rows read per query (and per prefetch): bounds memory, and keeps the number of queries independent of the rows.
EXPORT_CHUNK_SIZE = 2_000
SHANGHAI = ZoneInfo("Asia/Shanghai")
UTC_8 = dt_timezone(timedelta(hours=8))
SHANGHAI_FIXED_SINCE = datetime(1992, 1, 1, tzinfo=UTC)
CSV_TYPE = "text/csv; charset=utf-8"
XLSX_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
FORMATS = ("xlsx", "csv")
# The language of the headers: Chinese, or English (the API's field names).
LANGUAGES = {"zh": "zh", "zh-hans": "zh", "en": "en"}
# A CSV cell starting with one of these is a formula to Excel: prefixed with "'" so that it stays text (OWASP).
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
TIME_FORMAT = "%Y-%m-%d %H:%M:%S"
FILE_DESCRIPTION = "The file, as `format` asks: an XLSX workbook or a CSV (UTF-8 with a byte-order mark)."


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
    if value is None:
        return None
    # Asia/Shanghai has kept UTC+8 without summer time since 1991: from then on the fixed offset gives the zone's
    # time, several times faster than the zone's rules (an export of 100,000 rows converts 600,000 times).
    zone = UTC_8 if value >= SHANGHAI_FIXED_SINCE else SHANGHAI
    return value.astimezone(zone).replace(tzinfo=None, microsecond=0)


# Columns whose values are API names (`submitted`, `complaint`): the Chinese export writes their Chinese labels.
LABELLED = {"status": Issue.Status, "kind": Kind}


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


def export_row(*, issue: Issue, viewer, unmasked: bool = False, labels: dict | None = None) -> list:
    """Return one issue's row for `viewer`: the reporter masked unless `unmasked` (personal_data.export_reporter).

    `labels` (export_labels) turns API values into the export language's labels; without it they stay as they are.
    """
    reporter = export_reporter(viewer, issue, unmasked=unmasked)
    context = {
        "names": _area_names(issue),
        "lead": _lead_department(issue),
        "reporter": reporter,
        "labels": labels or {},
    }
    return [value(issue, context) for _, _, value in COLUMNS]


def export_issues(*, queryset: QuerySet[Issue], viewer, unmasked: bool = False, lang: str = "en") -> Iterator[list]:
    """Yield the rows of `queryset` (already scoped and filtered), in its order, at most EXPORT_MAX_ROWS.

    One query reads them all through a server-side cursor (`.iterator()`), EXPORT_CHUNK_SIZE rows a fetch: the issue's
    columns, its category joined, and two correlated subqueries for the lead department of the current round and
    the latest rating (and, unmasked, the dispatches the reporter rules read). Per chunk, one query for the names of
    grids and departments not met yet. Each row is then built from plain values with the labels looked up once:
    building model instances, or stand-ins, and a prefetch per chunk cost most of a large export's time. The row is
    the one export_row builds from an instance (tests/issues/test_export_rows.py compares them).
    """
    labels = export_labels(lang=lang)
    statuses, kinds = labels.get("status", {}), labels.get("kind", {})
    subqueries = _subqueries(connections[queryset.db].vendor, dispatches=unmasked)
    rows = (
        queryset.prefetch_related(None)
        .select_related(None)
        .annotate(**{name: RawSQL(f"({sql})", ()) for name, sql in subqueries.items()})
        .values_list(*_FIELDS, *subqueries, *(("pk",) if unmasked else ()))[:EXPORT_MAX_ROWS]
    )
    grids: dict = {None: _NO_NAMES}
    departments: dict = {None: None}
    chunk: list = []
    for values in rows.iterator(chunk_size=EXPORT_CHUNK_SIZE):
        chunk.append(values)
        if len(chunk) == EXPORT_CHUNK_SIZE:
            _names_of(chunk, grids, departments)
            yield from _rows_of(chunk, grids, departments, statuses, kinds, viewer=viewer, unmasked=unmasked)
            chunk = []
    if chunk:
        _names_of(chunk, grids, departments)
        yield from _rows_of(chunk, grids, departments, statuses, kinds, viewer=viewer, unmasked=unmasked)


# What a row is built from (export_row's columns, and what issues.personal_data reads), read as values.
_FIELDS = (
    "number", "status", "kind", "category__code", "category__name", "urgent", "title", "description", "address",
    "district_code", "street_code", "community_code", "grid_code", "escalation_level", "created_at",
    "response_due_at", "resolution_due_at", "accepted_at", "resolved_at", "closed_at", "reporter_name",
    "reporter_phone", "grid_id", "reporter_user_id", "area_path",
)  # fmt: skip
_GRID, _LEAD = _FIELDS.index("grid_id"), len(_FIELDS)
LEAD, RATING, DISPATCHES = "export_lead_department_id", "export_rating", "export_dispatches"
# A grid's names (grid, community, street, district) when the issue has none.
_NO_NAMES = ("", "", "", "")


def _subqueries(vendor: str, *, dispatches: bool) -> dict[str, str]:
    """Return the SQL of the correlated subqueries a row reads, for the database `vendor`.

    The lead department is the first active lead dispatch in Dispatch.Meta.ordering (as _lead_department picks it),
    the rating the last in Rating.Meta.ordering (as _rating does). The dispatches, for the reporter rules only, are
    a JSON array of [department id, active] (their order does not matter to the rules).
    """
    issue, dispatch, rating = Issue._meta.db_table, Dispatch._meta.db_table, Rating._meta.db_table
    outer = f'"{issue}"."id"'
    sql = {
        LEAD: f"SELECT d.department_id FROM {dispatch} d WHERE d.issue_id = {outer} AND d.active AND d.lead"
        " ORDER BY d.created_at, d.id LIMIT 1",
        RATING: f"SELECT r.score FROM {rating} r WHERE r.issue_id = {outer} ORDER BY r.created_at DESC, r.id DESC"
        " LIMIT 1",
    }
    if dispatches:
        pair = "json_build_array" if vendor == "postgresql" else "json_array"
        aggregate = "json_agg" if vendor == "postgresql" else "json_group_array"
        sql[DISPATCHES] = (
            f"SELECT {aggregate}({pair}(d.department_id, d.active)) FROM {dispatch} d WHERE d.issue_id = {outer}"
        )
    return sql


def _names_of(chunk: list, grids: dict, departments: dict) -> None:
    """Read the names of the chunk's grids (and their ancestors) and lead departments not read yet."""
    missing = {values[_GRID] for values in chunk} - grids.keys()
    if missing:
        for pk, *names in Area.objects.filter(pk__in=missing).values_list(
            "pk", "name", "parent__name", "parent__parent__name", "parent__parent__parent__name"
        ):
            grids[pk] = tuple("" if name is None else name for name in names)
    missing = {values[_LEAD] for values in chunk} - departments.keys()
    if missing:
        for pk, code, name in Department.objects.filter(pk__in=missing).values_list("pk", "code", "name"):
            departments[pk] = (code, name)


def _rows_of(chunk, grids, departments, statuses, kinds, *, viewer, unmasked) -> Iterator[list]:
    """Yield the rows of a chunk of values (export_issues), in COLUMNS' order."""
    for values in chunk:
        (
            number, status, kind, category_code, category_name, urgent, title, description, address, district,
            street, community, grid, escalation_level, created_at, response_due_at, resolution_due_at, accepted_at,
            resolved_at, closed_at, reporter_name, reporter_phone, grid_id, reporter_user_id, area_path, lead_id,
            rating, *unmasked_only,
        ) = values  # fmt: skip
        # Masked, the rules read only the name and phone: the dispatches and the id are read unmasked only.
        dispatches, pk = unmasked_only or (None, None)
        facts = IssueFacts(
            pk=pk,
            reporter_user_id=reporter_user_id,
            reporter_name=reporter_name,
            reporter_phone=reporter_phone,
            area_path=area_path,
            dispatches=_json_pairs(dispatches),
        )
        reporter = export_reporter(viewer, facts, unmasked=unmasked)
        grid_name, community_name, street_name, district_name = grids[grid_id]
        lead = departments[lead_id]
        yield [
            number,
            statuses.get(status, status),
            kinds.get(kind, kind),
            "" if category_code is None else category_code,
            "" if category_code is None else category_name,
            urgent,
            title,
            description,
            address,
            district,
            district_name,
            street,
            street_name,
            community,
            community_name,
            grid,
            grid_name,
            escalation_level,
            _local(created_at),
            _local(response_due_at),
            _local(resolution_due_at),
            _local(accepted_at),
            _local(resolved_at),
            _local(closed_at),
            "" if lead is None else lead[0],
            "" if lead is None else lead[1],
            rating,
            reporter["name"],
            reporter["phone"],
        ]


def _json_pairs(value) -> list:
    """Return the [department id, active] pairs of a dispatches aggregate (SQLite: text; none: NULL or "[]")."""
    if value is None:
        return []
    return orjson.loads(value) if isinstance(value, str | bytes) else value


def _csv_cell(value, *, lang: str) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return ("yes" if value else "no") if lang == "en" else ("是" if value else "否")
    if isinstance(value, datetime):
        # The same text as strftime(TIME_FORMAT) for the whole seconds _local gives, faster; strftime for years < 1000.
        if value.year >= 1000 and not value.microsecond and value.tzinfo is None:
            return value.isoformat(" ")
        return value.strftime(TIME_FORMAT)
    text = str(value)
    return "'" + text if text.startswith(FORMULA_STARTS) else text


def _csv_rows(rows: Iterator[list], *, lang: str) -> Iterator[list]:
    """Yield each row's CSV cells (_csv_cell), the common case (text that is no formula) without a call."""
    for row in rows:
        yield [
            (("'" + value) if value.startswith(FORMULA_STARTS) else value)
            if type(value) is str
            else _csv_cell(value, lang=lang)
            for value in row
        ]


# Rows per piece of a streamed CSV answer: a few hundred kB, not one write per row.
CSV_LINES_PER_PIECE = 1_000


def csv_stream(*, rows: Iterator[list], lang: str) -> Iterator[bytes]:
    """Yield the CSV: UTF-8 with a byte-order mark (so Excel reads Chinese), a header line, then one line per row."""
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    buffer.write("\ufeff")
    writer.writerow(export_headers(lang=lang))
    for n, cells in enumerate(_csv_rows(rows, lang=lang), 1):
        writer.writerow(cells)
        if n % CSV_LINES_PER_PIECE == 0:
            yield buffer.getvalue().encode()
            buffer.seek(0)
            buffer.truncate()
    if buffer.tell():
        yield buffer.getvalue().encode()


def csv_write(*, rows: Iterator[list], lang: str, out) -> None:
    """Write the CSV (csv_stream's bytes) to the binary file `out`, as it is made (rows never all in memory)."""
    text = io.TextIOWrapper(out, encoding="utf-8", newline="")
    text.write("\ufeff")
    writer = csv.writer(text)
    writer.writerow(export_headers(lang=lang))
    writer.writerows(_csv_rows(rows, lang=lang))
    text.flush()
    text.detach()


# The worksheet and styles openpyxl writes for a workbook of one sheet, and the compression of the rows (zlib level
# 1: the 149 MiB worksheet of 100,000 rows in 0.5 s of CPU to 20.3 MiB, against 1.5 s to 15.1 MiB at the default 6).
XLSX_SHEET, XLSX_STYLES = "xl/worksheets/sheet1.xml", "xl/styles.xml"
XLSX_COMPRESSION = 1
# Rows per write of the worksheet's XML.
XLSX_ROWS_PER_WRITE = 1_000


def xlsx_write(*, rows: Iterator[list], lang: str, out) -> None:
    """Write the XLSX to the binary file `out`, rows never all in memory.

    openpyxl writes the workbook (a write-only sheet holding the headers), and the rows are then streamed into its
    worksheet, serialized as openpyxl's write-only mode serializes them (_xlsx_rows): openpyxl spent 2 s per 10,000
    rows building and serializing a cell object per value, more than all the rest of an export. The workbook is
    written twice, with and without the date style, and its styles taken from the one the rows needed (a workbook
    without dates has none, as openpyxl writes it). tests/issues/test_export_identical.py compares every part.
    """
    plain, _ = _xlsx_template(lang=lang, dates=False)
    dated, date_style = _xlsx_template(lang=lang, dates=True)
    with (
        zipfile.ZipFile(plain) as source,
        zipfile.ZipFile(dated) as source_with_dates,
        zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED, compresslevel=XLSX_COMPRESSION) as target,
    ):
        names = source.namelist()
        if XLSX_SHEET not in names or XLSX_STYLES not in names or names.index(XLSX_STYLES) < names.index(XLSX_SHEET):
            raise ValueError(f"openpyxl wrote no {XLSX_SHEET} followed by {XLSX_STYLES}")
        dates = [False]  # whether a row held a datetime, known once the worksheet is written
        for info in source.infolist():
            if info.filename == XLSX_STYLES:
                target.writestr(info, (source_with_dates if dates[0] else source).read(info.filename))
            elif info.filename != XLSX_SHEET:
                target.writestr(info, source.read(info))
            else:
                head, end, tail = source.read(info).decode().partition("</sheetData>")
                if not end:
                    raise ValueError(f"openpyxl wrote no sheetData in {XLSX_SHEET}")
                with target.open(XLSX_SHEET, "w") as xml:
                    xml.write(head.encode())
                    batch = []
                    for line in _xlsx_rows(rows, first=2, date_style=date_style, dates=dates):
                        batch.append(line)
                        if len(batch) == XLSX_ROWS_PER_WRITE:
                            xml.write("".join(batch).encode())
                            batch = []
                    xml.write(("".join(batch) + end + tail).encode())


def _xlsx_template(*, lang: str, dates: bool) -> tuple[io.BytesIO, int | None]:
    """Return the workbook openpyxl writes with the headers only (and the style of a datetime cell, if `dates`)."""
    workbook = Workbook(write_only=True)
    sheet = workbook.create_sheet("issues" if lang == "en" else "诉求")
    sheet.append(export_headers(lang=lang))
    # The style openpyxl gives a datetime cell (its default date-time format), registered in the workbook.
    date_style = WriteOnlyCell(sheet, value=datetime(2000, 1, 1)).style_id if dates else None
    template = io.BytesIO()
    workbook.save(template)
    return template, date_style


def xlsx_file(*, rows: Iterator[list], lang: str):
    """Return a temporary file holding the XLSX (for an export answered in the request)."""
    out = tempfile.TemporaryFile()
    xlsx_write(rows=rows, lang=lang, out=out)
    out.seek(0)
    return out


def _xlsx_rows(rows: Iterator[list], *, first: int, date_style: int, dates: list[bool]) -> Iterator[str]:
    """Yield each row as openpyxl's write-only worksheet writes it (openpyxl.cell._writer, without lxml).

    Text is an inline string (characters XML forbids removed, at most 32,767 kept, kept as text even when it starts
    with "=", as the export always wrote it), booleans and numbers typed, datetimes Excel serials in the date style;
    None is no cell. `dates[0]` is set once a datetime is written.
    """
    letters = [get_column_letter(n) for n in range(1, len(COLUMNS) + 1)]
    for n, row in enumerate(rows, first):
        cells = [f'<row r="{n}">']
        for letter, value in zip(letters, row, strict=True):
            kind = type(value)
            if kind is str:
                value = ILLEGAL_CHARACTERS_RE.sub("", value)[:32767]
                if not value:
                    cells.append(f'<c r="{letter}{n}" t="inlineStr" />')
                else:
                    # openpyxl.xml.functions.whitespace: kept as written when stripping would change it, if not blank.
                    stripped = value.strip()
                    space = ' xml:space="preserve"' if stripped and stripped != value else ""
                    cells.append(f'<c r="{letter}{n}" t="inlineStr"><is><t{space}>{xml_escape(value)}</t></is></c>')
            elif value is None:
                continue
            elif kind is datetime:
                dates[0] = True
                cells.append(f'<c r="{letter}{n}" s="{date_style}" t="n"><v>{safe_string(to_excel(value))}</v></c>')
            elif kind is bool:
                cells.append(f'<c r="{letter}{n}" t="b"><v>{int(value)}</v></c>')
            elif kind is int:
                cells.append(f'<c r="{letter}{n}" t="n"><v>{safe_string(value)}</v></c>')
            else:
                raise TypeError(f"An export cell holds text, a number, a boolean or a datetime, not {kind.__name__}")
        cells.append("</row>")
        yield "".join(cells)


# --- the record and the job ------------------------------------------------------------------------------------------
# Rows written between two progress updates of a job (an UPDATE each: 20 for the largest export).
PROGRESS_EVERY = 5_000


def export_filters(query_params) -> dict[str, list[str]]:
    """Return the list filters of a request's query string, as an ExportJob keeps them (the file options left out)."""
    return {key: values for key, values in query_params.lists() if key not in ("format", "lang", "unmasked")}


def export_queryset(*, user, filters: dict[str, list[str]]) -> QuerySet[Issue]:
    """Return the issues `user` may see filtered by `filters`, as the list filters them (ValueError if invalid)."""
    data = QueryDict(mutable=True)
    for key, values in filters.items():
        data.setlist(key, values)
    filterset = IssueFilterSet(data=data, queryset=issue_list_for_user(user=user))
    if not filterset.is_valid():
        raise ValueError(f"Invalid filters: {dict(filterset.errors)}")
    return filterset.qs


def export_record(*, user, file_format: str, lang: str, filters: dict, masked: bool, rows: int, direct: bool):
    """Record an export (issues.ExportJob): direct ones are done at once, the others wait for their job."""
    now = timezone.now()
    return ExportJob.objects.create(
        requested_by=user,
        file_format=file_format,
        lang=lang,
        filters=filters,
        masked=masked,
        direct=direct,
        rows_total=rows,
        rows_done=rows if direct else 0,
        status=ExportJob.Status.DONE if direct else ExportJob.Status.PENDING,
        finished_at=now if direct else None,
    )


class _Counted:
    """Count the rows passing through, and save the job's progress every PROGRESS_EVERY rows."""

    def __init__(self, rows: Iterator[list], job_id):
        self.rows, self.job_id, self.done = rows, job_id, 0

    def __iter__(self):
        for row in self.rows:
            yield row
            self.done += 1
            if self.done % PROGRESS_EVERY == 0:
                ExportJob.objects.filter(pk=self.job_id).update(rows_done=self.done)


def export_job_run(*, job_id) -> str:
    """Write a job's file under MEDIA_ROOT/exports/ and mark it done, or failed with the reason; return its status.

    Idempotent: a done job is left alone, a re-run (a redelivered task) starts the file again from the beginning.
    The file is written beside its final name and renamed at the end, so a half-written file is never served.
    """
    with transaction.atomic():
        job = ExportJob.objects.select_for_update().filter(pk=job_id).first()
        if job is None or job.status in (ExportJob.Status.DONE, ExportJob.Status.FAILED):
            return job.status if job else "missing"
        job.status, job.rows_done, job.error = ExportJob.Status.RUNNING, 0, ""
        job.save(update_fields=["status", "rows_done", "error"])
    name = f"exports/{job.pk}/issues-{timezone.localtime(job.created_at, SHANGHAI):%Y%m%d-%H%M%S}.{job.file_format}"
    final = Path(settings.MEDIA_ROOT) / name
    partial = final.with_suffix(final.suffix + ".part")
    try:
        final.parent.mkdir(parents=True, exist_ok=True)
        queryset = export_queryset(user=job.requested_by, filters=job.filters)
        rows = _Counted(
            export_issues(queryset=queryset, viewer=job.requested_by, unmasked=not job.masked, lang=job.lang), job.pk
        )
        # The rows may lag a moment behind the primary (config/db_router.py); the job's own record is written there.
        with open(partial, "wb") as out, replica_reads(user=job.requested_by):
            if job.file_format == "csv":
                csv_write(rows=iter(rows), lang=job.lang, out=out)
            else:
                xlsx_write(rows=iter(rows), lang=job.lang, out=out)
        partial.replace(final)
    except Exception as exc:  # noqa: BLE001  (any failure is the job's, reported on it: its request is long gone)
        partial.unlink(missing_ok=True)
        now = timezone.now()
        ExportJob.objects.filter(pk=job.pk).update(
            status=ExportJob.Status.FAILED, error=f"{type(exc).__name__}: {exc}"[:1000], finished_at=now
        )
        return ExportJob.Status.FAILED
    now = timezone.now()
    ExportJob.objects.filter(pk=job.pk).update(
        status=ExportJob.Status.DONE,
        file=name,
        rows_done=rows.done,
        rows_total=rows.done,
        finished_at=now,
        expires_at=now + timedelta(days=settings.GRIDDESK_EXPORT_FILE_DAYS),
    )
    return ExportJob.Status.DONE


def export_files_sweep(*, now: datetime | None = None) -> int:
    """Delete the files of exports past their expiry (the records stay, as the audit trail); return how many."""
    now = now or timezone.now()
    done = 0
    for job in ExportJob.objects.filter(expires_at__lte=now).exclude(file="").only("pk", "file"):
        job.file.delete(save=False)
        ExportJob.objects.filter(pk=job.pk).update(file="")
        done += 1
    return done
