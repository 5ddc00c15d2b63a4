"""Exports masked by default, recorded, and large ones run as a job: 202, progress, a file only its requester gets."""

import csv
import io
import os
from datetime import timedelta
from http import HTTPStatus

import pytest
from django.utils import timezone
from openpyxl import load_workbook

from issues import exports
from issues.models import ExportJob, Issue
from issues.tasks import issue_export_task
from tests.api.test_issues_support import (
    MASKED_NAME,
    MASKED_PHONE,
    REPORTER_NAME,
    REPORTER_PHONE,
    client_for,
    error_code,
    issue_in,
)

EXPORT = "/api/v1/issues/export/"
EN_HEADERS = [key for key, _, _ in exports.COLUMNS]


@pytest.fixture
def issues(territory, resident) -> list[Issue]:
    return [issue_in("submitted", reporter=resident, territory=territory) for _ in range(5)]


@pytest.fixture
def media(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path
    return tmp_path


@pytest.fixture
def small_threshold(settings, media):
    """Make every export of more than 2 rows a job."""
    settings.GRIDDESK_EXPORT_DIRECT_MAX_ROWS = 2


def rows_of(body: bytes) -> list[dict]:
    lines = list(csv.reader(io.StringIO(body.decode("utf-8-sig"))))
    assert lines[0] == EN_HEADERS
    return [dict(zip(EN_HEADERS, line, strict=True)) for line in lines[1:]]


def start_job(user, django_capture_on_commit_callbacks, **params) -> dict:
    """Ask for an export that becomes a job; check the 202 and that one task was queued after commit."""
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        response = client_for(user).get(EXPORT, {"format": "csv", "lang": "en", **params})
    assert response.status_code == HTTPStatus.ACCEPTED, response.content
    assert len(callbacks) == 1
    body = response.json()
    assert response["Location"] == f"/api/v1/exports/{body['id']}/"
    assert body["url"].endswith(response["Location"])
    return body


def test_a_small_export_is_answered_directly_masked_and_recorded(media, issues, community_staff):
    response = client_for(community_staff).get(EXPORT, {"format": "csv", "lang": "en", "status": "submitted"})

    assert response.status_code == HTTPStatus.OK
    rows = rows_of(b"".join(response.streaming_content))
    assert len(rows) == 5
    assert {(r["reporter_name"], r["reporter_phone"]) for r in rows} == {(MASKED_NAME, MASKED_PHONE)}
    job = ExportJob.objects.get()
    assert (job.requested_by, job.file_format, job.lang, job.masked, job.direct) == (
        community_staff,
        "csv",
        "en",
        True,
        True,
    )
    assert (job.status, job.rows_total, job.filters) == (ExportJob.Status.DONE, 5, {"status": ["submitted"]})


def test_unmasked_is_for_roles_that_call_reporters_back_and_is_recorded(media, issues, street_officer, grid_worker):
    response = client_for(street_officer).get(EXPORT, {"format": "csv", "lang": "en", "unmasked": "true"})
    rows = rows_of(b"".join(response.streaming_content))
    assert {(r["reporter_name"], r["reporter_phone"]) for r in rows} == {(REPORTER_NAME, REPORTER_PHONE)}
    assert ExportJob.objects.get().masked is False

    refused = client_for(grid_worker).get(EXPORT, {"format": "csv", "unmasked": "true"})
    assert (refused.status_code, error_code(refused)) == (HTTPStatus.FORBIDDEN, "permission_denied")
    bad = client_for(street_officer).get(EXPORT, {"format": "csv", "unmasked": "perhaps"})
    assert (bad.status_code, error_code(bad)) == (HTTPStatus.BAD_REQUEST, "validation_error")
    assert ExportJob.objects.count() == 1  # a refused export writes no file and no record


def test_a_large_export_runs_as_a_job_and_its_file_holds_exactly_the_rows(
    monkeypatch, small_threshold, issues, community_staff, django_capture_on_commit_callbacks
):
    monkeypatch.setattr(exports, "PROGRESS_EVERY", 2)
    monkeypatch.setattr(exports, "EXPORT_CHUNK_SIZE", 2)
    body = start_job(community_staff, django_capture_on_commit_callbacks, unmasked="true")
    assert (body["status"], body["rows_total"], body["rows_done"], body["file_url"]) == ("pending", 5, 0, None)
    client = client_for(community_staff)

    early = client.get(f"/api/v1/exports/{body['id']}/file/")
    assert (early.status_code, error_code(early)) == (HTTPStatus.CONFLICT, "export_not_ready")

    assert issue_export_task(body["id"]) == "done"
    status = client.get(body["url"]).json()
    assert (status["status"], status["rows_done"], status["rows_total"]) == ("done", 5, 5)
    assert status["file_url"].endswith(f"/api/v1/exports/{body['id']}/file/")

    response = client.get(f"/api/v1/exports/{body['id']}/file/")
    assert response.status_code == HTTPStatus.OK
    assert response["Content-Type"] == "text/csv; charset=utf-8"
    assert response["Cache-Control"] == "private, no-store"
    rows = rows_of(b"".join(response.streaming_content))
    assert sorted(r["number"] for r in rows) == sorted(i.number for i in issues)
    assert {r["reporter_phone"] for r in rows} == {REPORTER_PHONE}
    job = ExportJob.objects.get()
    assert (job.masked, job.direct, job.rows_total) == (False, False, 5)
    assert job.expires_at > timezone.now() + timedelta(days=6)
    # Only the finished file is left: no half-written ".part" beside it.
    assert job.file.storage.listdir(f"exports/{job.pk}")[1] == [job.file.name.rsplit("/", 1)[-1]]


def test_the_job_writes_xlsx_and_is_idempotent_when_run_again(
    small_threshold, issues, community_staff, django_capture_on_commit_callbacks
):
    body = start_job(community_staff, django_capture_on_commit_callbacks, format="xlsx")
    assert issue_export_task(body["id"]) == "done"
    first = ExportJob.objects.get()
    assert issue_export_task(body["id"]) == "done"  # a redelivered task leaves the finished job as it was
    again = ExportJob.objects.get()
    assert (again.file.name, again.finished_at, again.rows_done) == (first.file.name, first.finished_at, 5)
    rows = list(load_workbook(again.file.path, read_only=True).active.iter_rows(values_only=True))
    assert len(rows) == 6 and rows[1][-2:] == (MASKED_NAME, MASKED_PHONE)


def test_only_the_requester_gets_the_job_or_its_file(
    small_threshold, issues, community_staff, street_officer, chengguan_staff, django_capture_on_commit_callbacks
):
    body = start_job(community_staff, django_capture_on_commit_callbacks)
    issue_export_task(body["id"])
    for other in (street_officer, chengguan_staff):
        for url in (body["url"], f"/api/v1/exports/{body['id']}/file/"):
            response = client_for(other).get(url)
            assert (response.status_code, error_code(response)) == (HTTPStatus.NOT_FOUND, "not_found")


def test_a_job_that_cannot_run_is_marked_failed_with_its_reason(media, community_staff):
    job = exports.export_record(
        user=community_staff,
        file_format="csv",
        lang="en",
        filters={"status": ["nonsense"]},
        masked=True,
        rows=9,
        direct=False,
    )
    assert issue_export_task(str(job.pk)) == "failed"
    job.refresh_from_db()
    assert job.status == "failed" and "status" in job.error and job.finished_at is not None
    response = client_for(community_staff).get(f"/api/v1/exports/{job.pk}/file/")
    assert response.status_code == HTTPStatus.CONFLICT and "status" in response.json()["error"]["message"]
    assert not (media / "exports" / str(job.pk)).exists() or list((media / "exports" / str(job.pk)).iterdir()) == []


def test_export_files_expire_and_the_record_stays(
    small_threshold, issues, community_staff, django_capture_on_commit_callbacks
):
    body = start_job(community_staff, django_capture_on_commit_callbacks)
    issue_export_task(body["id"])
    job = ExportJob.objects.get()
    path = job.file.path

    assert exports.export_files_sweep(now=job.expires_at - timedelta(seconds=1)) == 0
    assert exports.export_files_sweep(now=job.expires_at) == 1
    job.refresh_from_db()
    assert job.file.name == "" and not os.path.exists(path)
    response = client_for(community_staff).get(f"/api/v1/exports/{body['id']}/file/")
    assert response.status_code == HTTPStatus.NOT_FOUND


def test_a_browser_following_an_export_link_waits_on_a_page_then_gets_the_file(
    small_threshold, issues, community_staff, django_capture_on_commit_callbacks
):
    client = client_for(community_staff)
    html = {"HTTP_ACCEPT": "text/html,application/xhtml+xml,*/*;q=0.8"}
    with django_capture_on_commit_callbacks(execute=False):
        response = client.get(EXPORT, {"format": "csv"}, **html)
    assert response.status_code == HTTPStatus.SEE_OTHER
    status_url = response["Location"]
    waiting = client.get(status_url, **html)
    assert waiting.status_code == HTTPStatus.OK and waiting["Content-Type"].startswith("text/html")
    assert 'http-equiv="refresh"' in waiting.content.decode() and "5" in waiting.content.decode()

    issue_export_task(ExportJob.objects.get().pk)
    done = client.get(status_url, **html)
    assert done.status_code == HTTPStatus.FOUND and done["Location"].endswith("/file/")


def test_district_admins_read_the_export_records_in_the_admin_and_cannot_change_them(
    media, issues, district_admin, community_staff
):
    client_for(community_staff).get(EXPORT, {"format": "csv"})
    district_admin.is_staff = True
    district_admin.save(update_fields=["is_staff"])
    client = client_for(district_admin)
    client.force_login(district_admin)
    listing = client.get("/admin/issues/exportjob/")
    assert listing.status_code == HTTPStatus.OK and "community_staff" in listing.content.decode()
    job = ExportJob.objects.get()
    change = client.post(f"/admin/issues/exportjob/{job.pk}/change/", {"masked": ""})
    assert change.status_code == HTTPStatus.FORBIDDEN
    assert client.post(f"/admin/issues/exportjob/{job.pk}/delete/", {"post": "yes"}).status_code == HTTPStatus.FORBIDDEN
    assert ExportJob.objects.get().masked is True
