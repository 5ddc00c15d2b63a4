"""Staff export of issues, GET /api/v1/issues/export/?format=xlsx|csv, and its jobs under /api/v1/exports/.

The rows, files and jobs are issues.exports'. Up to GRIDDESK_EXPORT_DIRECT_MAX_ROWS rows the file is the answer;
above, the export runs as a Celery job (issues.tasks.issue_export_task) and the answer is 202 with the job: the
request never runs long enough for a worker timeout to cut a file short. Reporters are masked unless the caller
asks `unmasked=true` and holds a role that calls reporters back (issues.personal_data.may_export_unmasked).
Every export is recorded (issues.ExportJob).
"""

from http import HTTPStatus

from django.conf import settings
from django.db import transaction
from django.http import FileResponse, HttpResponse, HttpResponseRedirect, StreamingHttpResponse
from django.urls import reverse
from django.utils import timezone, translation
from django.utils.html import format_html
from django.utils.safestring import mark_safe
from django.utils.translation import gettext as _
from django_filters.rest_framework import DjangoFilterBackend
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema, inline_serializer
from rest_framework import serializers
from rest_framework.generics import GenericAPIView
from rest_framework.negotiation import BaseContentNegotiation
from rest_framework.permissions import IsAuthenticated
from rest_framework.response import Response
from rest_framework.views import APIView

from config.api.exceptions import ErrorResponseSerializer
from config.api.permissions import IsStaffMember
from config.errors import ExportNotReady, NotFound, PermissionDenied, ValidationFailed
from issues import exports
from issues.access import ScopedIssueMixin
from issues.exports import (  # noqa: F401  (the export's names, read by its tests and pages from here too)
    COLUMNS,
    CSV_TYPE,
    FILE_DESCRIPTION,
    FORMATS,
    LANGUAGES,
    SHANGHAI,
    XLSX_TYPE,
    csv_stream,
    export_filters,
    export_headers,
    export_issues,
    export_record,
    export_row,
    xlsx_file,
)
from issues.filters import IssueFilterSet
from issues.models import ExportJob
from issues.personal_data import may_export_unmasked
from issues.tasks import issue_export_task

TRUE, FALSE = ("true", "1", "yes"), ("false", "0", "no", "")
JOB_FIELDS = {
    "id": serializers.UUIDField(),
    # Text, not an enum: a second "status" enum would rename the issue's StatusEnum in the schema.
    "status": serializers.CharField(help_text="pending, running, done or failed"),
    "format": serializers.CharField(),
    "masked": serializers.BooleanField(),
    "rows_total": serializers.IntegerField(),
    "rows_done": serializers.IntegerField(),
    "created_at": serializers.DateTimeField(),
    "finished_at": serializers.DateTimeField(allow_null=True),
    "expires_at": serializers.DateTimeField(allow_null=True),
    "error": serializers.CharField(),
    "url": serializers.CharField(),
    "file_url": serializers.CharField(allow_null=True),
}
JobSerializer = inline_serializer("ExportJob", fields=JOB_FIELDS)


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


def _unmasked(request) -> bool:
    """Return whether the caller asks reporters unmasked; refuse (403) a caller whose roles do not call them back."""
    value = request.query_params.get("unmasked", "").lower()
    if value not in TRUE + FALSE:
        raise ValidationFailed.on("unmasked", "Give true or false.")
    if value in TRUE and not may_export_unmasked(request.user):
        raise PermissionDenied(
            "Only community staff, street officers and district admins may export reporters unmasked."
        )
    return value in TRUE


def _wants_html(request) -> bool:
    """Return whether a browser navigated here (a desk's export link) rather than an API client asking for JSON."""
    accept = request.META.get("HTTP_ACCEPT", "")
    return "text/html" in accept and "application/json" not in accept


def job_body(request, job: ExportJob) -> dict:
    """Return the job as the API shows it: status, progress, where to ask again and, once done, the file."""
    done = job.status == ExportJob.Status.DONE and bool(job.file)
    return {
        "id": str(job.pk),
        "status": job.status,
        "format": job.file_format,
        "masked": job.masked,
        "rows_total": job.rows_total,
        "rows_done": job.rows_done,
        "created_at": job.created_at,
        "finished_at": job.finished_at,
        "expires_at": job.expires_at,
        "error": job.error,
        "url": request.build_absolute_uri(reverse("export-job", args=[job.pk])),
        "file_url": request.build_absolute_uri(reverse("export-job-file", args=[job.pk])) if done else None,
    }


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
            "Staff only (residents and partner apps: 403). The list's filters and scope; times in Asia/Shanghai. "
            "Reporters masked unless `unmasked=true`, which only community staff, street officers and district "
            "admins may ask (others: 403 permission_denied). Up to GRIDDESK_EXPORT_DIRECT_MAX_ROWS (2,000) rows "
            "the file is the answer; above, 202 with the export job (`Location`: its status, "
            "`GET /api/v1/exports/<id>/`). Headers in Chinese, or English with `lang=en` or `Accept-Language: en`. "
            f"At most {exports.EXPORT_MAX_ROWS:,} rows: beyond, 400 validation_error. Every export is recorded."
        ),
        parameters=[
            OpenApiParameter("format", str, enum=list(FORMATS), description="File type (default xlsx)."),
            OpenApiParameter("lang", str, enum=list(LANGUAGES), description="Header language (default Chinese)."),
            OpenApiParameter("unmasked", bool, description="Reporters unmasked (callers who call them back)."),
        ],
        responses={
            (HTTPStatus.OK, XLSX_TYPE): OpenApiResponse(OpenApiTypes.BINARY, description=FILE_DESCRIPTION),
            (HTTPStatus.OK, "text/csv"): OpenApiResponse(OpenApiTypes.BINARY, description=FILE_DESCRIPTION),
            HTTPStatus.ACCEPTED: OpenApiResponse(JobSerializer, description="A large export, running as a job."),
            HTTPStatus.BAD_REQUEST: OpenApiResponse(ErrorResponseSerializer, description="validation_error"),
        },
    )
    def get(self, request):
        file_format = request.query_params.get("format", "xlsx").lower()
        if file_format not in FORMATS:
            raise ValidationFailed.on("format", f"Choose one of: {', '.join(FORMATS)}.")
        lang = _language(request)
        unmasked = _unmasked(request)
        queryset = self.filter_queryset(self.get_queryset())
        total = queryset.count()
        if total > exports.EXPORT_MAX_ROWS:
            raise ValidationFailed.on(
                "non_field_errors",
                f"{total:,} issues match; at most {exports.EXPORT_MAX_ROWS:,} can be exported at once. "
                "Narrow the filters (area, status, created_after, created_before …).",
            )
        record = {"user": request.user, "file_format": file_format, "lang": lang, "masked": not unmasked}
        filters = export_filters(request.query_params)
        if total > settings.GRIDDESK_EXPORT_DIRECT_MAX_ROWS:
            job = export_record(**record, filters=filters, rows=total, direct=False)
            transaction.on_commit(lambda: issue_export_task.delay(str(job.pk)))
            status_url = reverse("export-job", args=[job.pk])
            if _wants_html(request):
                return HttpResponseRedirect(status_url, status=HTTPStatus.SEE_OTHER)
            return Response(job_body(request, job), status=HTTPStatus.ACCEPTED, headers={"Location": status_url})
        export_record(**record, filters=filters, rows=total, direct=True)
        rows = export_issues(queryset=queryset, viewer=request.user, unmasked=unmasked, lang=lang)
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


def _own_job(request, job_id) -> ExportJob:
    """Return the caller's own export job, or NotFound (another's job is not found, as an issue out of scope)."""
    job = ExportJob.objects.filter(pk=job_id, requested_by=request.user, direct=False).first()
    if job is None:
        raise NotFound()
    return job


class ExportJobView(APIView):
    """Show an export job's status and progress to the one who asked for it."""

    permission_classes = [IsAuthenticated, IsStaffMember]
    content_negotiation_class = FormatParameterNegotiation

    @extend_schema(operation_id="exports_retrieve", summary="An export job's status", responses={200: JobSerializer})
    def get(self, request, job_id):
        job = _own_job(request, job_id)
        if not _wants_html(request):
            return Response(job_body(request, job))
        # A browser that followed a desk's export link: wait on a page that asks again, then get the file.
        if job.status == ExportJob.Status.DONE and job.file:
            return HttpResponseRedirect(reverse("export-job-file", args=[job.pk]))
        if job.status == ExportJob.Status.FAILED:
            text = _("The export failed. Try again with fewer rows.")
            refresh = ""
        else:
            text = _("Preparing the export: %(done)s of %(total)s rows.") % {
                "done": job.rows_done,
                "total": job.rows_total,
            }
            refresh = mark_safe('<meta http-equiv="refresh" content="2">')  # noqa: S308  (a constant)
        page = format_html(
            '<!doctype html><html lang="{}"><head><meta charset="utf-8">{}<title>{}</title></head>'
            '<body><p role="status">{}</p></body></html>',
            translation.get_language() or "zh-hans",
            refresh,
            _("Export"),
            text,
        )
        return HttpResponse(page, headers={"Cache-Control": "private, no-store"})


class ExportJobFileView(APIView):
    """Hand a finished export job's file to the one who asked for it."""

    permission_classes = [IsAuthenticated, IsStaffMember]
    content_negotiation_class = FormatParameterNegotiation

    @extend_schema(
        operation_id="exports_file",
        summary="An export job's file",
        responses={
            (HTTPStatus.OK, XLSX_TYPE): OpenApiResponse(OpenApiTypes.BINARY, description=FILE_DESCRIPTION),
            (HTTPStatus.OK, "text/csv"): OpenApiResponse(OpenApiTypes.BINARY, description=FILE_DESCRIPTION),
            HTTPStatus.CONFLICT: OpenApiResponse(ErrorResponseSerializer, description="export_not_ready"),
        },
    )
    def get(self, request, job_id):
        job = _own_job(request, job_id)
        if job.status != ExportJob.Status.DONE:
            raise ExportNotReady(
                f"The export is {job.status}" + (f": {job.error}" if job.error else f" ({job.rows_done} rows so far).")
            )
        if not job.file:
            raise NotFound("The export's file has expired; export again.")
        content_type = CSV_TYPE if job.file_format == "csv" else XLSX_TYPE
        filename = job.file.name.rsplit("/", 1)[-1]
        response = FileResponse(job.file.open("rb"), as_attachment=True, filename=filename, content_type=content_type)
        response["Cache-Control"] = "private, no-store"
        return response
