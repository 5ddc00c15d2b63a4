"""The export of issues: its rows and files, and the job that writes a large one (issues.tasks.issue_export_task).

The rows are the issue list's: the same scoping (issues.selectors.issue_list_for_user) and the same filters
(issues.filters.IssueFilterSet). The reporter is masked unless the caller asked `unmasked=true` and may
(issues.personal_data.export_reporter). Times are in Asia/Shanghai. Every export is recorded (issues.ExportJob).

Memory stays flat however many rows there are: the issues are read with `.iterator(chunk_size=EXPORT_CHUNK_SIZE)`
(prefetches run once per chunk, so the number of queries does not grow with the rows), CSV is streamed row by row,
and XLSX is written by openpyxl's write-only workbook to a temporary file that is then streamed. At most
EXPORT_MAX_ROWS rows: beyond that the answer is 400 validation_error, asking to narrow the filters.
"""

import csv
import tempfile
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta
from pathlib import Path
from types import SimpleNamespace
from zoneinfo import ZoneInfo

from django.conf import settings
from django.db import transaction
from django.db.models import QuerySet
from django.http import QueryDict
from django.utils import timezone, translation
from openpyxl import Workbook
from openpyxl.cell import WriteOnlyCell
from openpyxl.cell.cell import ILLEGAL_CHARACTERS_RE

from config.db_router import replica_reads
from grids.models import Area
from issues.filters import IssueFilterSet
from issues.models import Dispatch, ExportJob, Issue, Kind, Rating
from issues.personal_data import export_reporter
from issues.selectors import issue_list_for_user

# The most rows one export holds; a wider export is refused (400) with a request to narrow the filters.
EXPORT_MAX_ROWS = 100_000
# Rows read per query (and per prefetch): bounds memory, and keeps the number of queries independent of the rows.
EXPORT_CHUNK_SIZE = 2_000
SHANGHAI = ZoneInfo("Asia/Shanghai")
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
    return timezone.localtime(value, SHANGHAI).replace(tzinfo=None, microsecond=0) if value is not None else None


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
    """Yield the rows of `queryset` (already scoped and filtered), chunk by chunk, at most EXPORT_MAX_ROWS.

    The issues are read as plain values (one query, streamed), and per chunk of EXPORT_CHUNK_SIZE one query each for
    their dispatches and ratings and one for the names of grids not met yet. export_row gets a light stand-in of each
    issue with the attributes it and issues.personal_data read (the same values, so the same row), not a model
    instance: building instances and prefetching per chunk cost more than half of a large export's time.
    """
    labels = export_labels(lang=lang)
    rows = queryset.prefetch_related(None).values_list(*_FIELDS)[:EXPORT_MAX_ROWS]
    grids: dict = {}
    chunk: list = []
    for values in rows.iterator(chunk_size=EXPORT_CHUNK_SIZE):
        chunk.append(values)
        if len(chunk) == EXPORT_CHUNK_SIZE:
            yield from _chunk_rows(chunk, grids, viewer=viewer, unmasked=unmasked, labels=labels)
            chunk = []
    if chunk:
        yield from _chunk_rows(chunk, grids, viewer=viewer, unmasked=unmasked, labels=labels)


# What export_row and issues.personal_data read of an issue, read as values (category joined).
_FIELDS = (
    "pk", "number", "status", "kind", "urgent", "title", "description", "address", "area_path", "district_code",
    "street_code", "community_code", "grid_code", "escalation_level", "created_at", "response_due_at",
    "resolution_due_at", "accepted_at", "resolved_at", "closed_at", "reporter_user_id", "reporter_name",
    "reporter_phone", "grid_id", "category_id", "category__code", "category__name",
)  # fmt: skip


class _Related(list):
    """A prefetched relation of a stand-in issue: `.all()` answers the rows, as a prefetched manager does."""

    def all(self):
        return self


def _chunk_rows(chunk: list, grids: dict, *, viewer, unmasked: bool, labels: dict) -> Iterator[list]:
    ids = [values[0] for values in chunk]
    dispatches: dict = {pk: _Related() for pk in ids}
    for issue_id, department_id, active, lead, code, name in (
        Dispatch.objects.filter(issue_id__in=ids)
        .order_by(*Dispatch._meta.ordering)
        .values_list("issue_id", "department_id", "active", "lead", "department__code", "department__name")
    ):
        department = SimpleNamespace(pk=department_id, id=department_id, code=code, name=name)
        dispatches[issue_id].append(
            SimpleNamespace(department_id=department_id, department=department, active=active, lead=lead)
        )
    ratings: dict = {pk: _Related() for pk in ids}
    for issue_id, score in (
        Rating.objects.filter(issue_id__in=ids).order_by(*Rating._meta.ordering).values_list("issue_id", "score")
    ):
        ratings[issue_id].append(SimpleNamespace(score=score))
    missing = {values[_GRID] for values in chunk} - grids.keys()
    if missing:
        for pk, *names in Area.objects.filter(pk__in=missing).values_list(
            "pk", "name", "parent__name", "parent__parent__name", "parent__parent__parent__name"
        ):
            node = None
            for name in reversed(names):  # district first, down to the grid
                node = SimpleNamespace(name=name, parent=node) if name is not None or node is not None else None
            grids[pk] = node
    for values in chunk:
        issue = SimpleNamespace(**dict(zip(_FIELDS, values, strict=True)))
        issue.category = (
            SimpleNamespace(pk=issue.category_id, code=issue.category__code, name=issue.category__name)
            if issue.category_id is not None
            else None
        )
        issue.grid = grids.get(issue.grid_id)
        issue.dispatches, issue.ratings = dispatches[issue.pk], ratings[issue.pk]
        yield export_row(issue=issue, viewer=viewer, unmasked=unmasked, labels=labels)


_GRID = _FIELDS.index("grid_id")


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


def xlsx_write(*, rows: Iterator[list], lang: str, out) -> None:
    """Write the XLSX to the binary file `out`, in openpyxl's write-only mode (rows never all in memory)."""
    workbook = Workbook(write_only=True)
    sheet = workbook.create_sheet("issues" if lang == "en" else "诉求")
    sheet.append(export_headers(lang=lang))
    for row in rows:
        sheet.append([_xlsx_cell(sheet, value) for value in row])
    workbook.save(out)


def xlsx_file(*, rows: Iterator[list], lang: str):
    """Return a temporary file holding the XLSX (for an export answered in the request)."""
    out = tempfile.TemporaryFile()
    xlsx_write(rows=rows, lang=lang, out=out)
    out.seek(0)
    return out


def _xlsx_cell(sheet, value):
    if not isinstance(value, str):
        return value
    cell = WriteOnlyCell(sheet, value=ILLEGAL_CHARACTERS_RE.sub("", value))
    # Text stays text: openpyxl would otherwise store a value starting with "=" as a formula.
    cell.data_type = "s"
    return cell


# --- the record and the job ------------------------------------------------------------------------------------------
# Rows written between two progress updates of a job.
PROGRESS_EVERY = 500


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
                for chunk in csv_stream(rows=iter(rows), lang=job.lang):
                    out.write(chunk)
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
