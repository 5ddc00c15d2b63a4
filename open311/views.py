"""Open311 GeoReport v2 endpoints: parse, check, call the selectors and services, answer in JSON or XML.

Errors answer in the spec's own shape, not API.md's: `[{"code": 400, "description": "…"}]`, or in XML
`<errors><error><code>400</code><description>…</description></error></errors>`, one entry per problem.
"""

from http import HTTPStatus

from django.conf import settings
from django.http import Http404
from django.urls import reverse
from django.utils.translation import gettext_noop
from rest_framework import exceptions
from rest_framework.authentication import BaseAuthentication, get_authorization_header
from rest_framework.response import Response
from rest_framework.views import APIView

from config.api.authentication import api_key_touch
from config.errors import Message, NotFound, WorkflowError, translate
from open311 import selectors, serializers
from open311.renderers import Open311JSONRenderer, Open311XMLRenderer
from open311.services import param_text, service_request_create
from orgs.models import ApiKey

# When this endpoint's behaviour last changed (discovery's changeset).
CHANGESET = "2026-11-22T00:00:00+08:00"


class InvalidApiKey(exceptions.AuthenticationFailed):
    status_code = HTTPStatus.FORBIDDEN
    default_detail = gettext_noop("api_key is not valid (unknown, revoked, or its partner app is inactive).")


class Open311ApiKeyAuthentication(BaseAuthentication):
    """Authenticate a partner app by GeoReport's `api_key` parameter (or `Authorization: Api-Key <key>`).

    GeoReport puts the key in the POST body, and for reads in the query string, where it may end up in logs:
    partners should prefer the header. A key that is given but wrong is refused, never read as anonymous.
    """

    def authenticate(self, request):
        raw = request.query_params.get("api_key")
        if raw is None and request.method == "POST":
            raw = request.data.get("api_key")
        parts = get_authorization_header(request).split()
        if raw is None and len(parts) == 2 and parts[0].lower() == b"api-key":
            raw = parts[1].decode("latin-1")
        if raw is None:
            return None
        key = ApiKey.find(raw.strip())
        if key is None or not key.partner.user.is_active:
            raise InvalidApiKey()
        api_key_touch(key=key)
        return key.partner.user, key


class Open311View(APIView):
    """Base of the GeoReport v2 views: its own key, its two formats, its own error shape."""

    authentication_classes = [Open311ApiKeyAuthentication]
    permission_classes: list = []
    renderer_classes = [Open311JSONRenderer, Open311XMLRenderer]
    # Throttling: the API's default classes (per caller kind), so a partner's Open311 calls count like its API calls.

    def answer(self, data, *, root: str, status: int = HTTPStatus.OK) -> Response:
        response = Response(data, status=status)
        response.xml_root = root
        return response

    @property
    def partner_user(self):
        return self.request.user if isinstance(self.request.auth, ApiKey) else None

    def handle_exception(self, exc):
        headers = {}
        if isinstance(exc, WorkflowError):
            status = int(exc.status)
            descriptions = [f"{field}: {translate(m)}" for field, messages in exc.fields.items() for m in messages]
            descriptions = descriptions or [translate(exc.message)]
        elif isinstance(exc, Http404):
            status, descriptions = HTTPStatus.NOT_FOUND, [translate(str(exc) or gettext_noop("Not found."))]
        elif isinstance(exc, exceptions.APIException):
            status = exc.status_code
            if isinstance(exc, exceptions.NotAuthenticated | exceptions.AuthenticationFailed):
                status = HTTPStatus.FORBIDDEN  # GeoReport v2 answers 403 for a missing or invalid api_key
            detail = exc.detail
            descriptions = [translate(d) for d in detail] if isinstance(detail, list) else [translate(detail)]
            if getattr(exc, "wait", None) is not None:
                headers["Retry-After"] = str(max(1, int(exc.wait + 0.999)))
        else:
            raise exc
        response = self.answer([{"code": int(status), "description": d} for d in descriptions], root="errors")
        response.status_code = status
        for name, value in headers.items():
            response[name] = value
        return response


class DiscoveryView(Open311View):
    def get(self, request, format=None):
        data = serializers.discovery_data(
            base_url=request.build_absolute_uri(reverse("open311:services", kwargs={"format": "json"})).removesuffix(
                "services.json"
            ),
            contact=getattr(settings, "GRIDDESK_OPEN311_CONTACT", settings.DEFAULT_FROM_EMAIL),
            changeset=CHANGESET,
        )
        return self.answer(data, root="discovery")


class ServiceListView(Open311View):
    def get(self, request, format=None):
        selectors.jurisdiction_get(jurisdiction_id=request.query_params.get("jurisdiction_id"))
        data = [serializers.service_data(c) for c in selectors.service_list()]
        return self.answer(data, root="services")


class ServiceDefinitionView(Open311View):
    def get(self, request, service_code, format=None):
        selectors.jurisdiction_get(jurisdiction_id=request.query_params.get("jurisdiction_id"))
        category = selectors.service_get(service_code=service_code)
        if category is None:
            raise NotFound(Message(gettext_noop("service_code %(code)s was not found."), code=service_code))
        return self.answer(serializers.service_definition_data(category), root="service_definition")


class RequestsView(Open311View):
    def _media_url(self, issue) -> str | None:
        # A photo opens only for who may see its issue (issues.api.photo_files): the public list links none.
        if not issue.open311_media or self.partner_user is None:
            return None
        return self.request.build_absolute_uri(settings.MEDIA_URL.rstrip("/") + "/" + issue.open311_media)

    def _requests(self):
        jurisdiction = selectors.jurisdiction_get(jurisdiction_id=self.request.query_params.get("jurisdiction_id"))
        return selectors.service_request_list(user=self.partner_user, jurisdiction=jurisdiction)

    def _data(self, issues) -> list[dict]:
        public = self.partner_user is None
        return [serializers.service_request_data(i, media_url=self._media_url(i), public=public) for i in issues]

    def get(self, request, format=None):
        issues = selectors.service_request_filter(self._requests(), request.query_params)
        return self.answer(self._data(issues), root="service_requests")

    def post(self, request, format=None):
        if self.partner_user is None:
            raise exceptions.NotAuthenticated("api_key is required to create a service request.")
        selectors.jurisdiction_get(jurisdiction_id=param_text(request.data, "jurisdiction_id"))
        issue = service_request_create(actor=self.partner_user, params=request.data)
        return self.answer([serializers.created_data(issue)], root="service_requests", status=HTTPStatus.CREATED)


class RequestDetailView(RequestsView):
    http_method_names = ["get", "head", "options"]

    def get(self, request, service_request_id, format=None):
        issue = selectors.service_request_get(issues=self._requests(), service_request_id=service_request_id)
        if issue is None:
            raise NotFound(Message(gettext_noop("service_request_id %(id)s was not found."), id=service_request_id))
        return self.answer(self._data([issue]), root="service_requests")


class TokenView(RequestsView):
    """Map a token to its request id: we create synchronously, so a token is the request's id (or its UUID)."""

    http_method_names = ["get", "head", "options"]

    def get(self, request, token, format=None):
        issue = selectors.service_request_get(issues=self._requests(), service_request_id=token)
        if issue is None:
            raise NotFound(Message(gettext_noop("token %(token)s was not found."), token=token))
        return self.answer([serializers.token_data(issue=issue, token=token)], root="service_requests")
