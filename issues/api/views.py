"""The issue API (API.md "Issues", "Statistics"): views parse, call issues.workflow or issues.selectors, answer.

No view decides who may see or do what: reads stand on issues.access.ScopedIssueMixin and issues.selectors (both
scoped by orgs.scoping), who may call at all is config.api.permissions, every state change goes through
issues.workflow, which checks role, state and version. Errors are config.errors exceptions, turned into API.md's
error body by config.api.exceptions.
"""

from http import HTTPStatus

from django.urls import reverse
from django_filters.rest_framework import DjangoFilterBackend
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema, extend_schema_view
from rest_framework import mixins, viewsets
from rest_framework.decorators import action
from rest_framework.generics import ListAPIView
from rest_framework.permissions import AllowAny, IsAuthenticated
from rest_framework.response import Response
from rest_framework.settings import api_settings
from rest_framework.views import APIView

from config.api.exceptions import ErrorResponseSerializer
from config.api.permissions import IsTerritoryStaff
from config.api.renderers import OrjsonRenderer
from config.api.throttling import AnonCreateThrottle
from config.db_router import replica_reads
from config.errors import NotFound, ValidationFailed
from issues import workflow
from issues.access import ScopedIssueMixin
from issues.api import serializers as s
from issues.api.idempotency import HEADER, IdempotencyKey, idempotency_key_of, request_fingerprint
from issues.api.lean import PageQuery, Representer, issue_detail_for_user, issue_one, issue_rows, lean_queryset
from issues.api.pagination import IssueCursorPagination
from issues.arguments import issue_pk
from issues.filters import IssueFilterSet
from issues.models import Category, Issue
from issues.photos import photo_add, photos_clean
from issues.selectors import (
    issue_after_action_for_user,
    issue_likely_duplicates_for_user,
    issue_stats,
)

# The list's query parameters that filter (the rest page: cursor, page_size).
FILTER_NAMES = frozenset(IssueFilterSet.base_filters)
# Likely duplicates shown to triage: enough to spot the one, few enough to read.
DUPLICATES_SHOWN = 20
# Sent with the answer to an action that moved the issue out of the caller's scope (docs/api.md): the body shows
# the issue as the action left it, and the caller will not find it in their list or read it again.
OUT_OF_SCOPE_HEADER = "GridDesk-Out-Of-Scope"
# Action names that cannot be method names of a viewset.
RESERVED_NAMES = {"dispatch", "return"}
# workflow.issue_submit names its arguments; the API names the body's fields (API.md).
SUBMIT_FIELD_NAMES = {"reporter_name": "reporter.name", "reporter_phone": "reporter.phone", "lat": "location"}

ERRORS = {
    HTTPStatus.BAD_REQUEST: OpenApiResponse(ErrorResponseSerializer, description="validation_error, malformed_json"),
    HTTPStatus.UNAUTHORIZED: OpenApiResponse(ErrorResponseSerializer, description="not_authenticated"),
    HTTPStatus.FORBIDDEN: OpenApiResponse(ErrorResponseSerializer, description="permission_denied"),
    HTTPStatus.NOT_FOUND: OpenApiResponse(ErrorResponseSerializer, description="not_found (also: outside your scope)"),
    HTTPStatus.CONFLICT: OpenApiResponse(ErrorResponseSerializer, description="invalid_transition, stale_version"),
    HTTPStatus.TOO_MANY_REQUESTS: OpenApiResponse(ErrorResponseSerializer, description="throttled"),
}


def _errors(*statuses: int) -> dict:
    return {status: ERRORS[status] for status in statuses}


READ_ERRORS = _errors(HTTPStatus.UNAUTHORIZED, HTTPStatus.NOT_FOUND, HTTPStatus.TOO_MANY_REQUESTS)
ACTION_ERRORS = _errors(
    HTTPStatus.BAD_REQUEST,
    HTTPStatus.UNAUTHORIZED,
    HTTPStatus.FORBIDDEN,
    HTTPStatus.NOT_FOUND,
    HTTPStatus.CONFLICT,
    HTTPStatus.TOO_MANY_REQUESTS,
)
IDEMPOTENCY_PARAMETER = OpenApiParameter(
    HEADER,
    str,
    OpenApiParameter.HEADER,
    description=(
        "Retry safely: the same key from the same caller within 24 hours answers the first response again "
        "(same id, 201) and creates nothing. The same key with a different body: 422 `idempotency_key_reused`. "
        "Ignored for a caller who is not signed in (there is no account to remember it by): each anonymous "
        "request creates an issue, and the per-address limit bounds the copies."
    ),
)


class ScopedIssueViewSetMixin(ScopedIssueMixin):
    """The issue viewset's scoped base (issues.access.ScopedIssueMixin) with its URL lookup and its answer.

    As NetBox's restricted querysets: every handler reads the caller's issues only, and out of scope is 404.
    """

    lookup_value_regex = "[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}"

    def get_object(self) -> Issue:
        return self.get_issue(self.kwargs[self.lookup_field])

    def represent(self, issue: Issue, *, status: int = HTTPStatus.OK, headers=None, action=True) -> Response:
        """Answer with `issue` as it is now, read again with what the serializer needs.

        Called after the caller's own action or upload: when that action moved the issue out of the caller's scope,
        the answer still shows the state it left (not the state before it), with the OUT_OF_SCOPE_HEADER.
        """
        fresh, in_scope = issue_after_action_for_user(user=self.request.user, issue_id=issue.pk)
        headers = dict(headers or {})
        if action and not in_scope:
            headers[OUT_OF_SCOPE_HEADER] = "true"
        return Response(s.IssueSerializer(fresh, context=self.get_serializer_context()).data, status, headers=headers)


def _issue_action(name: str, body: type[s.VersionedSerializer], summary: str):
    """Return the view method of action `name`: parse `body`, call issues.workflow.issue_<name>, answer the issue.

    The method is bound as `<name>_` when `name` would shadow an APIView attribute or a keyword (dispatch, return).
    """
    service = getattr(workflow, f"issue_{name}")

    def view(self, request, pk=None):
        issue = self.get_object()
        serializer = body(data=request.data, context=self.get_serializer_context())
        serializer.is_valid(raise_exception=True)
        service(issue=issue, actor=request.user, **serializer.workflow_kwargs())
        return self.represent(issue)

    view.__name__ = view.__qualname__ = f"{name}_" if name in RESERVED_NAMES else name
    view.__doc__ = summary
    view = action(detail=True, methods=["post"], url_path=name, url_name=name)(view)
    return extend_schema(summary=summary, request=body, responses={HTTPStatus.OK: s.IssueSerializer, **ACTION_ERRORS})(
        view
    )


@extend_schema_view(
    list=extend_schema(
        summary="List the issues you may see",
        description=(
            "A resident: their own; staff: their scope; a department: what was dispatched to it; a partner app: "
            "what it submitted. Cursor pagination, `page_size` up to 100."
        ),
        responses={HTTPStatus.OK: s.IssueSerializer(many=True), **_errors(400, 401, 429)},
    ),
    retrieve=extend_schema(
        summary="Read one issue with its history",
        responses={HTTPStatus.OK: s.IssueDetailSerializer, **READ_ERRORS},
    ),
)
class IssueViewSet(ScopedIssueViewSetMixin, mixins.ListModelMixin, viewsets.GenericViewSet):
    """Submit, list, read and act on issues."""

    serializer_class = s.IssueSerializer
    permission_classes = [IsAuthenticated]
    renderer_classes = [OrjsonRenderer]
    pagination_class = IssueCursorPagination
    filter_backends = [DjangoFilterBackend]
    filterset_class = IssueFilterSet

    def get_permissions(self):
        # Anyone may submit (API.md: anonymous creation is limited per client address); the rest needs a sign-in.
        if self.action == "create":
            return [AllowAny()]
        return super().get_permissions()

    def get_throttles(self):
        if self.action == "create":
            return [throttle() for throttle in [*api_settings.DEFAULT_THROTTLE_CLASSES, AnonCreateThrottle]]
        return super().get_throttles()

    def filter_queryset(self, queryset):
        # A request that names no filter is filtered by nothing: skip building the FilterSet and its form (deep copies
        # of every filter, a third of a list page's time), which would apply no filter at all.
        if self.filterset_class is IssueFilterSet and not self.names_filters():
            return queryset
        return super().filter_queryset(queryset)

    def list(self, request):
        # The page read lean (issues.api.lean): one query, IssueSerializer's answer without its machinery; unfiltered,
        # by a statement compiled once per scope and page shape (lean.PageQuery).
        if self.names_filters():
            queryset = lean_queryset(self.filter_queryset(self.get_queryset()))
        else:
            queryset = PageQuery(request.user)
        page = self.paginate_queryset(queryset)
        return self.get_paginated_response(issue_rows(page, request=request))

    def names_filters(self) -> bool:
        return bool(set(self.request.query_params) & FILTER_NAMES)

    def retrieve(self, request, pk=None):
        pk = issue_pk(pk)
        data = issue_detail_for_user(user=request.user, pk=pk, request=request) if pk is not None else None
        if data is None:
            raise NotFound()
        return Response(data)

    @extend_schema(
        summary="Submit an issue",
        description=(
            "JSON, or multipart/form-data with the same fields (nested ones as `location.lat`, `location.lng`, "
            "`reporter.name`, `reporter.phone`) plus up to 6 `photos`. A partner app must send `reporter.phone`.\n\n"
            "No sign-in needed (a resident on the web form, the hotline's walk-in): then `reporter.phone` is "
            "required, creation is limited per client address (429 `throttled` with `Retry-After`), the "
            "`Idempotency-Key` header is ignored, and the answer shows the reporter masked. Listing and reading "
            "issues still need a sign-in."
        ),
        parameters=[IDEMPOTENCY_PARAMETER],
        request={"application/json": s.IssueSubmitSerializer, "multipart/form-data": s.IssueSubmitSerializer},
        responses={
            HTTPStatus.CREATED: s.IssueSerializer,
            HTTPStatus.UNPROCESSABLE_ENTITY: OpenApiResponse(
                ErrorResponseSerializer, description="idempotency_key_reused"
            ),
            **_errors(400, 401, 403, 429),
        },
    )
    def create(self, request):
        anonymous = not request.user.is_authenticated
        key = None if anonymous else idempotency_key_of(request)
        serializer = s.IssueSubmitSerializer(data=request.data, context=self.get_serializer_context())
        if serializer.validated_plainly() is None:
            serializer.is_valid(raise_exception=True)
        # Decode and re-encode the photos before the submit transaction: never slow work inside it.
        files = serializer.validated_data.get("photos")
        photos = photos_clean(files=files) if files else []
        once = None
        if key is not None:
            once = IdempotencyKey(user=request.user, key=key, fingerprint=request_fingerprint(request))
        issue = _submit(actor=request.user, photos=photos, idempotency=once, **serializer.submit_kwargs())
        headers = {"Location": reverse("issue-detail", kwargs={"pk": issue.pk})}
        if issue.replayed:
            headers["Idempotent-Replayed"] = "true"
        # A submission is not an action on a seen issue: an anonymous submitter never reads it back (no header).
        if issue.replayed or photos:
            # The first answer again, or stored photos: read back, in one query (any scope: the caller just wrote it).
            data = issue_one(Issue.objects.all(), issue.pk, request=request)
        else:
            # Just written, with no dispatch, no rating and no photo: answered from memory.
            data = Representer(request).issue(issue)
        return Response(data, HTTPStatus.CREATED, headers=headers)

    classify = _issue_action("classify", s.ClassifySerializer, "Classify a submitted issue")
    dispatch_ = _issue_action("dispatch", s.DispatchSerializer, "Dispatch a classified issue to departments")
    accept = _issue_action("accept", s.AcceptSerializer, "Accept a dispatched issue (报到)")
    return_ = _issue_action("return", s.ReturnSerializer, "Return a misrouted issue (退单)")
    resolve = _issue_action("resolve", s.ResolveSerializer, "Report the result of an issue in progress")
    rate = _issue_action("rate", s.RateSerializer, "Rate a resolved issue 1–5")
    reopen = _issue_action("reopen", s.ReopenSerializer, "Reopen a resolved or closed issue")
    reject = _issue_action("reject", s.RejectSerializer, "Reject a submitted or classified issue")
    escalate = _issue_action("escalate", s.EscalateSerializer, "Escalate an open issue one level (吹哨)")
    extend = _issue_action("extend", s.ExtendSerializer, "Extend the resolution deadline (延期)")
    approve_extension = _issue_action(
        "approve_extension", s.ApproveExtensionSerializer, "Approve the pending extension request"
    )
    refuse_extension = _issue_action(
        "refuse_extension", s.RefuseExtensionSerializer, "Refuse the pending extension request"
    )
    supervise = _issue_action("supervise", s.SuperviseSerializer, "Supervise an open issue (督办): remind its handlers")

    @extend_schema(
        summary="Comment on an issue (internal: staff only)",
        request=s.CommentSerializer,
        responses={HTTPStatus.OK: s.IssueSerializer, **ACTION_ERRORS},
    )
    @action(detail=True, methods=["post"])
    def comment(self, request, pk=None):
        issue = self.get_object()
        serializer = s.CommentSerializer(data=request.data, context=self.get_serializer_context())
        serializer.is_valid(raise_exception=True)
        workflow.issue_comment(issue=issue, actor=request.user, **serializer.workflow_kwargs())
        return self.represent(issue)

    @extend_schema(
        summary="Likely duplicates of an issue (triage)",
        description=(
            "Open issues of the same category (any category while this one is unclassified) within "
            "GRIDDESK_DUPLICATE_RADIUS_M metres, submitted in the last GRIDDESK_DUPLICATE_WINDOW_DAYS days, "
            "nearest first, at most 20, only those the caller may see. Staff with a territory role only."
        ),
        responses={HTTPStatus.OK: s.LikelyDuplicateSerializer(many=True), **_errors(401, 403, 404, 429)},
    )
    @action(
        detail=True,
        methods=["get"],
        permission_classes=[IsAuthenticated, IsTerritoryStaff],
        pagination_class=None,
        filter_backends=[],
    )
    def duplicates(self, request, pk=None):
        issue = self.get_object()
        candidates = issue_likely_duplicates_for_user(user=request.user, issue=issue)[:DUPLICATES_SHOWN]
        return Response(s.LikelyDuplicateSerializer(candidates, many=True, context=self.get_serializer_context()).data)

    @extend_schema(
        summary="Add photos to an issue",
        request={"multipart/form-data": s.PhotosSerializer},
        responses={
            HTTPStatus.CREATED: s.IssueSerializer,
            **_errors(400, 401, 403, 404, 429),
        },
    )
    @action(detail=True, methods=["post"])
    def photos(self, request, pk=None):
        issue = self.get_object()
        serializer = s.PhotosSerializer(data=request.data, context=self.get_serializer_context())
        serializer.is_valid(raise_exception=True)
        photo_add(issue=issue, actor=request.user, files=serializer.validated_data["photos"])
        return self.represent(issue, status=HTTPStatus.CREATED)


def _submit(*, actor, **kwargs) -> Issue:
    """Call workflow.issue_submit, naming refused fields as the request body does."""
    try:
        return workflow.issue_submit(actor=actor, **kwargs)
    except ValidationFailed as exc:
        exc.fields = {SUBMIT_FIELD_NAMES.get(field, field): messages for field, messages in exc.fields.items()}
        raise


@extend_schema(summary="List the categories", responses={HTTPStatus.OK: s.CategorySerializer(many=True)})
class CategoryListView(ListAPIView):
    """List the active categories with their department and time limits (public)."""

    serializer_class = s.CategorySerializer
    permission_classes = [AllowAny]
    pagination_class = None
    filter_backends: list = []
    queryset = Category.objects.filter(is_active=True).select_related("parent", "department")


class StatsView(ScopedIssueMixin, APIView):
    """Answer the statistics of a node in the caller's scope over a period (API.md "Statistics")."""

    permission_classes = [IsAuthenticated, IsTerritoryStaff]

    @extend_schema(
        summary="Statistics of an area over a period",
        parameters=[
            OpenApiParameter("area", str, required=True, description="A territory node code inside your scope."),
            OpenApiParameter("from", OpenApiTypes.DATE, description="First day of creation counted (default: none)."),
            OpenApiParameter("to", OpenApiTypes.DATE, description="Last day of creation counted (default: none)."),
        ],
        responses={HTTPStatus.OK: s.StatsSerializer, **_errors(400, 401, 403, 404, 429)},
    )
    def get(self, request):
        query = s.StatsQuerySerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        with replica_reads(user=request.user):  # statistics may lag a moment (config/db_router.py)
            area = self.get_area(query.validated_data["area"])
            stats = issue_stats(
                area=area, date_from=query.validated_data.get("date_from"), date_to=query.validated_data.get("date_to")
            )
        return Response(stats)
