"""One error body on every API answer: `{"error": {"code", "message", "fields"?}}` (API.md "Conventions").

Three places produce it, so that no error under /api/ escapes the shape:

- `api_exception_handler`: DRF's EXCEPTION_HANDLER, for what views raise (DRF exceptions, Django's
  Http404/PermissionDenied/RequestDataTooBig and config.errors' GridDeskError, which every app raises);
- `handler404` / `handler500`: Django's handlers, answering JSON for API paths and the normal page elsewhere;
- `ApiErrorMiddleware`: refuses oversized bodies before anything reads them, turns exceptions raised outside
  DRF into the body, and rewrites any other non-JSON error answer on an API path (a URL that resolves to
  nothing, a CSRF failure, DEBUG's technical pages).
"""

import logging
import math
from http import HTTPStatus

from django.conf import settings
from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.core.exceptions import RequestDataTooBig
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.utils import translation
from django.utils.cache import patch_vary_headers
from django.utils.translation import gettext_noop
from django.views import defaults
from rest_framework import exceptions, serializers
from rest_framework.response import Response
from rest_framework.settings import api_settings

from config.errors import Message, WorkflowError, translate

logger = logging.getLogger("django.request")

# The codes of API.md's error table, with the default message of each (in English: error_body translates).
MESSAGES = {
    "validation_error": gettext_noop("Some fields are invalid."),
    "malformed_json": gettext_noop("The request body is not valid JSON."),
    "not_authenticated": gettext_noop("Authentication credentials were not provided or are not valid."),
    "permission_denied": gettext_noop("You do not have permission to perform this action."),
    "not_found": gettext_noop("Not found."),
    "method_not_allowed": gettext_noop("This method is not allowed here."),
    "invalid_transition": gettext_noop("This action is not allowed in the issue's current state."),
    "stale_version": gettext_noop("The issue has changed since you read it; reload and try again."),
    "payload_too_large": gettext_noop("The request body is too large."),
    "unsupported_media_type": gettext_noop("Unsupported media type."),
    "throttled": gettext_noop("Too many requests; try again later."),
    "server_error": gettext_noop("Something went wrong on our side; it has been logged."),
    "not_ready": gettext_noop("A service this process needs does not answer."),
}
# The code of an answer given only its status (errors that did not come through an exception we know).
STATUS_CODES = {
    HTTPStatus.BAD_REQUEST: "validation_error",
    HTTPStatus.UNAUTHORIZED: "not_authenticated",
    HTTPStatus.FORBIDDEN: "permission_denied",
    HTTPStatus.NOT_FOUND: "not_found",
    HTTPStatus.METHOD_NOT_ALLOWED: "method_not_allowed",
    HTTPStatus.REQUEST_ENTITY_TOO_LARGE: "payload_too_large",
    HTTPStatus.UNSUPPORTED_MEDIA_TYPE: "unsupported_media_type",
    HTTPStatus.TOO_MANY_REQUESTS: "throttled",
}
# DRF exception class → code; the first match wins, so subclasses come before their bases.
DRF_CODES = (
    (exceptions.ValidationError, "validation_error"),
    (exceptions.ParseError, "malformed_json"),
    (exceptions.NotAuthenticated, "not_authenticated"),
    (exceptions.AuthenticationFailed, "not_authenticated"),
    (exceptions.PermissionDenied, "permission_denied"),
    (exceptions.NotFound, "not_found"),
    (exceptions.MethodNotAllowed, "method_not_allowed"),
    (exceptions.UnsupportedMediaType, "unsupported_media_type"),
    (exceptions.Throttled, "throttled"),
)
# Sent with every 401, so a client learns both ways in (the first authenticator alone would name one).
WWW_AUTHENTICATE = 'Token realm="api", Api-Key realm="api"'


class ErrorDetailSerializer(serializers.Serializer):
    code = serializers.CharField(help_text="Stable machine-readable code: " + ", ".join(MESSAGES))
    message = serializers.CharField(help_text="Human-readable explanation.")
    fields = serializers.DictField(
        child=serializers.ListField(child=serializers.CharField()),
        required=False,
        help_text="Each bad field (nested fields joined with '.') and its messages.",
    )


class ErrorResponseSerializer(serializers.Serializer):
    """Describe API.md's error body; reference it in `extend_schema(responses={409: ErrorResponseSerializer})`."""

    error = ErrorDetailSerializer()


def is_api_path(path: str) -> bool:
    """Return whether `path` answers with API.md's error body (the API and the health probes)."""
    return path.startswith(settings.GRIDDESK_API_PATH_PREFIXES) or path in settings.GRIDDESK_API_EXACT_PATHS


def error_body(code: str, message: str | None = None, fields: dict | None = None) -> dict:
    """Return API.md's error body for `code`, its messages in the request's language (the code stays as it is)."""
    error = {"code": code, "message": translate(message or MESSAGES.get(code, code))}
    if fields:
        error["fields"] = {name: [translate(m) for m in messages] for name, messages in fields.items()}
    return {"error": error}


def error_response(status: int, code: str, message: str | None = None, fields: dict | None = None) -> JsonResponse:
    """Return a plain Django JSON answer with the error body (outside DRF: middleware, handlers, probes)."""
    response = JsonResponse(error_body(code, message, fields), status=status, json_dumps_params={"ensure_ascii": False})
    if status == HTTPStatus.UNAUTHORIZED:
        response["WWW-Authenticate"] = WWW_AUTHENTICATE
    return response


def flatten_fields(detail, prefix: str = "") -> dict[str, list[str]]:
    """Return DRF's nested validation detail as {"field" or "parent.child" or "items.0.field": [messages]}."""
    if isinstance(detail, dict):
        fields: dict[str, list[str]] = {}
        for key, value in detail.items():
            fields.update(flatten_fields(value, f"{prefix}.{key}" if prefix else str(key)))
        return fields
    if isinstance(detail, list) and any(isinstance(item, (dict, list)) for item in detail):
        fields = {}
        for index, item in enumerate(detail):
            if item:  # many=True lists hold {} for the valid items
                fields.update(flatten_fields(item, f"{prefix}.{index}" if prefix else str(index)))
        return fields
    messages = detail if isinstance(detail, list) else [detail]
    return {prefix or api_settings.NON_FIELD_ERRORS_KEY: [str(m) for m in messages]}


def _drf_error(exc: exceptions.APIException) -> tuple[str, str, dict | None]:
    code = next((code for cls, code in DRF_CODES if isinstance(exc, cls)), None)
    if code is None:
        code = STATUS_CODES.get(exc.status_code, "server_error" if exc.status_code >= 500 else "validation_error")
    if code == "validation_error":
        fields = flatten_fields(exc.detail)
        if list(fields) == [api_settings.NON_FIELD_ERRORS_KEY] and len(fields[api_settings.NON_FIELD_ERRORS_KEY]) == 1:
            return code, fields[api_settings.NON_FIELD_ERRORS_KEY][0], fields
        return code, MESSAGES[code], fields
    if code == "malformed_json":
        # DRF's message names the parser's complaint ("JSON parse error - Expecting value: line 1 …"): keep it.
        return code, str(exc.detail), None
    detail = exc.detail if isinstance(exc.detail, str) else None
    return code, detail or MESSAGES[code], None


def api_exception_handler(exc: Exception, context: dict) -> Response | None:
    """Return API.md's error body for an exception raised in a DRF view (None: let Django answer 500)."""
    # Imported here: DRF's views import the authentication classes, which import this module.
    from rest_framework.views import set_rollback

    from config.api.throttling import take_back_ahead

    take_back_ahead(context.get("request"))  # a call refused before its throttles ran is not counted
    headers = {}
    if isinstance(exc, WorkflowError):
        status, code, message, fields = int(exc.status), exc.code, exc.message, exc.fields or None
        if getattr(exc, "retry_after", None) is not None:
            headers["Retry-After"] = str(max(1, math.ceil(exc.retry_after)))
    elif isinstance(exc, RequestDataTooBig):
        status, code, message, fields = HTTPStatus.REQUEST_ENTITY_TOO_LARGE, "payload_too_large", None, None
    else:
        if isinstance(exc, Http404):
            exc = exceptions.NotFound()
        elif isinstance(exc, DjangoPermissionDenied):
            exc = exceptions.PermissionDenied(*exc.args)
        if not isinstance(exc, exceptions.APIException):
            return None
        status = exc.status_code
        code, message, fields = _drf_error(exc)
        if isinstance(exc, (exceptions.NotAuthenticated, exceptions.AuthenticationFailed)):
            # DRF turns these into 403 when the first authenticator names no challenge; ours always does.
            status = HTTPStatus.UNAUTHORIZED
        if getattr(exc, "wait", None) is not None:
            headers["Retry-After"] = str(max(1, math.ceil(exc.wait)))
    if status == HTTPStatus.UNAUTHORIZED:
        headers["WWW-Authenticate"] = WWW_AUTHENTICATE
    set_rollback()
    return Response(error_body(code, message, fields), status=status, headers=headers)


def handler404(request: HttpRequest, exception: Exception | None = None) -> HttpResponse:
    """Answer an unknown URL: the error body under /api/, Django's page elsewhere."""
    if is_api_path(request.path):
        return error_response(HTTPStatus.NOT_FOUND, "not_found")
    return defaults.page_not_found(request, exception)


def handler500(request: HttpRequest) -> HttpResponse:
    """Answer an unhandled error: the error body under /api/, Django's page elsewhere."""
    if is_api_path(request.path):
        return error_response(HTTPStatus.INTERNAL_SERVER_ERROR, "server_error")
    return defaults.server_error(request)


def body_limit(request: HttpRequest) -> int:
    """Return the largest body accepted on `request`: photos for multipart, DATA_UPLOAD_MAX_MEMORY_SIZE otherwise."""
    if request.content_type == "multipart/form-data":
        return settings.GRIDDESK_API_MAX_MULTIPART_BYTES
    return settings.DATA_UPLOAD_MAX_MEMORY_SIZE


def _is_json(response: HttpResponse) -> bool:
    return response.get("Content-Type", "").split(";")[0].strip().endswith("json")


class ApiErrorMiddleware:
    """Keep every answer on an API path in the error body; refuse oversized bodies before they are read."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if not is_api_path(request.path):
            return self.get_response(request)
        refusal = self._refuse_early(request)
        if refusal is not None:
            return refusal
        response = self.get_response(request)
        if response.status_code >= 400 and not _is_json(response):
            status = response.status_code
            code = STATUS_CODES.get(status, "server_error" if status >= 500 else "validation_error")
            # A bare 400 from Django (a bad Host header, a suspicious request) names no field.
            message = gettext_noop("Bad request.") if status == HTTPStatus.BAD_REQUEST else None
            with translation.override(translation.get_language_from_request(request)):
                replacement = error_response(status, code, message)
            for header in ("Retry-After", "Allow", "WWW-Authenticate", "Vary"):
                if header in response:
                    replacement[header] = response[header]
            return replacement
        return response

    def _refuse_early(self, request: HttpRequest) -> HttpResponse | None:
        # Before LocaleMiddleware has run: the answer takes the request's language itself, as LocaleMiddleware would.
        with translation.override(translation.get_language_from_request(request)):
            try:
                length = int(request.META.get("CONTENT_LENGTH") or 0)
            except ValueError:
                response = error_response(
                    HTTPStatus.BAD_REQUEST, "validation_error", gettext_noop("Invalid Content-Length header.")
                )
            else:
                limit = body_limit(request)
                if limit is None or length <= limit:
                    return None
                message = gettext_noop("The request body is %(length)s bytes; at most %(limit)s are accepted.")
                response = error_response(
                    HTTPStatus.REQUEST_ENTITY_TOO_LARGE,
                    "payload_too_large",
                    Message(message, length=length, limit=limit),
                )
        patch_vary_headers(response, ("Accept-Language",))
        return response

    def process_exception(self, request: HttpRequest, exception: Exception) -> HttpResponse | None:
        """Answer an exception raised outside DRF on an API path (a plain Django view, a middleware below us)."""
        if not is_api_path(request.path):
            return None
        if isinstance(exception, RequestDataTooBig):
            return error_response(HTTPStatus.REQUEST_ENTITY_TOO_LARGE, "payload_too_large")
        if isinstance(exception, WorkflowError):
            return error_response(int(exception.status), exception.code, exception.message, exception.fields or None)
        if isinstance(exception, Http404):
            return error_response(HTTPStatus.NOT_FOUND, "not_found")
        if isinstance(exception, DjangoPermissionDenied):
            return error_response(HTTPStatus.FORBIDDEN, "permission_denied")
        logger.error(
            "Internal Server Error: %s",
            request.path,
            exc_info=exception,
            extra={"status_code": HTTPStatus.INTERNAL_SERVER_ERROR, "request": request},
        )
        return error_response(HTTPStatus.INTERNAL_SERVER_ERROR, "server_error")
