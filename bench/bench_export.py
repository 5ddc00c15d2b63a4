"""Export benchmark: a staff member's export of 100,000 issues run as a job, CSV and XLSX, on the api dataset.

Follows bench/run.py's contract. The dataset is bench/bench_api.py's (`seed_demo`, then the bulk issues with their
dispatches, ratings and events over two years; `--scale 100k` is 100,000 issues). The district admin asks
`GET /api/v1/issues/export/?format=…&created_before=…` through the test Client, the cut-off chosen so that exactly
EXPORT_MAX_ROWS (100,000) of the oldest issues match: the answer is 202 with the job, as on a desk. The job then runs
in this process as a worker runs it (issues.tasks.issue_export_task), timed on its own; the file is downloaded from
the job's `file_url` and its rows counted. For each format: the job's wall time, rows/s, the process's peak resident
memory while the job ran (Linux: VmHWM after resetting it through /proc/self/clear_refs), the file's size, and the SQL
queries of the job. Headers in Chinese, reporters masked (the default), and once more for CSV unmasked (the reporter
rules per row).
"""

import io
import os
import time
from datetime import timedelta
from http import HTTPStatus
from pathlib import Path
from unittest import mock

from bench.bench_api import SCALES, _bulk_load, _user

TITLE = "export of 100,000 issues as a job (CSV, XLSX): wall time, rows/s, peak memory, on the api dataset"
RUNS = [
    # (name, query parameters beside the cut-off)
    ("csv", {"format": "csv"}),
    ("xlsx", {"format": "xlsx"}),
    ("csv_unmasked", {"format": "csv", "unmasked": "true"}),
]
NOTES = {
    "scale": "dataset size (GRIDDESK_BENCH_SCALE / --scale)",
    "issues": "issues in the database while measuring",
    "rows": "rows of each export: the oldest EXPORT_MAX_ROWS issues, all the district admin sees (created_before)",
    "bulk_load_s": "wall time of writing the dataset (bench_api._bulk_load)",
    "load_average_1m_before": "1-minute load average before the first job (2 CPUs, shared): wall times move with it",
    "load_average_1m_after": "1-minute load average after the last job",
}
for _name, _ in RUNS:
    NOTES[f"{_name}_job_s"] = f"{_name}: wall time of issue_export_task (the job, as a worker runs it), s"
    NOTES[f"{_name}_cpu_s"] = f"{_name}: CPU time of this process during the job (PostgreSQL's not included), s"
    NOTES[f"{_name}_rows_per_s"] = f"{_name}: rows written per second of the job"
    NOTES[f"{_name}_rows_per_s_vs_bare_view"] = f"{_name}: rows/s ÷ the bare view's calls/s in this run"
    NOTES[f"{_name}_peak_rss_mb"] = f"{_name}: the process's peak resident memory while the job ran, MiB"
    NOTES[f"{_name}_rss_before_mb"] = f"{_name}: the process's resident memory before the job, MiB"
    NOTES[f"{_name}_file_mb"] = f"{_name}: size of the file, MiB"
    NOTES[f"{_name}_queries"] = f"{_name}: SQL queries of the job (progress updates included)"


def _rss_kib(field: str) -> int | None:
    """Return a memory figure of this process from /proc/self/status (VmRSS, VmHWM) in KiB, or None off Linux."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith(field + ":"):
                return int(line.split()[1])
    except OSError:
        return None
    return None


def _reset_peak() -> bool:
    """Reset the process's peak resident memory (VmHWM) to its current size; False where the kernel cannot."""
    try:
        Path("/proc/self/clear_refs").write_text("5")
    except OSError:
        return False
    return True


def _export(ctx, client, params: dict, name: str) -> dict:
    """Ask for the export, run its job timed, download the file; return the run's figures."""
    from django.db import connection

    import issues.api.export as export_view
    from issues.models import ExportJob
    from issues.tasks import issue_export_task

    queued = []
    with mock.patch.object(export_view, "issue_export_task", mock.Mock(delay=queued.append)):
        response = client.get("/api/v1/issues/export/", params, HTTP_ACCEPT="application/json")
    if response.status_code != HTTPStatus.ACCEPTED or len(queued) != 1:
        raise RuntimeError(f"{name}: {response.status_code} {response.content[:300]!r}, not a job")
    job_id = queued[0]
    before = _rss_kib("VmRSS")
    peak_known = _reset_peak()
    queries = []

    def counted(execute, sql, params, many, context):
        queries.append(sql)
        return execute(sql, params, many, context)

    # Counted as they run (CaptureQueriesContext slices a bounded log, which may be full by now).
    with connection.execute_wrapper(counted):
        started, cpu = time.perf_counter(), time.process_time()
        status = issue_export_task(job_id)
        seconds, cpu = time.perf_counter() - started, time.process_time() - cpu
    peak = _rss_kib("VmHWM") if peak_known else None
    job = ExportJob.objects.get(pk=job_id)
    if status != ExportJob.Status.DONE:
        raise RuntimeError(f"{name}: the job ended {status}: {job.error}")
    file_url = client.get(response["Location"], HTTP_ACCEPT="application/json").json()["file_url"]
    download = client.get(file_url)
    if download.status_code != HTTPStatus.OK:
        raise RuntimeError(f"{name}: the file answered {download.status_code}")
    body = b"".join(download.streaming_content)
    lines = body.count(b"\r\n")
    if params["format"] == "csv" and lines != job.rows_done + 1:
        raise RuntimeError(f"{name}: {lines} lines for {job.rows_done} rows")
    if params["format"] == "xlsx" and not body.startswith(b"PK"):
        raise RuntimeError(f"{name}: not an XLSX file")
    rate = job.rows_done / seconds
    figures = {
        f"{name}_job_s": round(seconds, 2),
        f"{name}_cpu_s": round(cpu, 2),
        f"{name}_rows_per_s": round(rate),
        f"{name}_rows_per_s_vs_bare_view": ctx.ratio(rate),
        f"{name}_rss_before_mb": round(before / 1024, 1) if before else "unknown",
        f"{name}_peak_rss_mb": round(peak / 1024, 1) if peak else "unknown",
        f"{name}_file_mb": round(len(body) / 2**20, 1),
        f"{name}_queries": len(queries),
    }
    job.file.delete(save=False)
    ctx.log(f"{name}: {job.rows_done:,} rows in {seconds:.1f} s ({rate:,.0f} rows/s), load {os.getloadavg()[0]:.2f}")
    return figures


def run(ctx) -> dict:
    from django.core.management import call_command
    from django.test import Client, override_settings

    from issues import exports
    from issues.models import Issue

    scale = os.environ.get("GRIDDESK_BENCH_SCALE", "1m")
    call_command("seed_demo", "--no-progress", verbosity=0, stdout=io.StringIO())
    started = time.perf_counter()
    _bulk_load(SCALES[scale])
    figures = {"scale": scale, "issues": Issue.objects.count(), "bulk_load_s": round(time.perf_counter() - started, 1)}
    ctx.log(f"{figures['issues']:,} issues, bulk load {figures['bulk_load_s']} s")
    admin = _user("district1")
    visible = Issue.objects.visible_to(admin)
    # The oldest EXPORT_MAX_ROWS issues (created_at is unique here: a random fraction of an hour apart).
    oldest = visible.order_by("created_at").values_list("created_at", flat=True)
    edge = list(oldest[exports.EXPORT_MAX_ROWS - 1 : exports.EXPORT_MAX_ROWS + 1])
    cut_off = edge[1] if len(edge) == 2 else edge[0] + timedelta(microseconds=1)
    figures["rows"] = visible.filter(created_at__lt=cut_off).count()
    media = ctx.tmp_dir / "media"
    with override_settings(ALLOWED_HOSTS=["testserver"], MEDIA_ROOT=str(media)):
        client = Client()
        client.force_login(admin)
        figures["load_average_1m_before"] = round(os.getloadavg()[0], 2)
        for name, params in RUNS:
            figures |= _export(ctx, client, {**params, "lang": "zh", "created_before": cut_off.isoformat()}, name)
        figures["load_average_1m_after"] = round(os.getloadavg()[0], 2)
    return figures
