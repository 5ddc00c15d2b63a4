"""POST /api/v1/triage/suggest/: ranked category, kind and department for a description (staff and partners)."""

from http import HTTPStatus

from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import serializers
from rest_framework.permissions import IsAuthenticated
from rest_framework.response import Response
from rest_framework.views import APIView

from config.api.exceptions import ErrorResponseSerializer
from config.api.permissions import IsStaffOrPartner
from issues.api.serializers import IssueLocationSerializer
from issues.arguments import route_report
from issues.models import Kind
from issues.workflow.rules import DESCRIPTION_MAX
from triage.suggest import LIMIT, triage_suggest


class SuggestRequestSerializer(serializers.Serializer):
    description = serializers.CharField(max_length=DESCRIPTION_MAX, allow_blank=True, trim_whitespace=True)
    location = IssueLocationSerializer(
        required=False,
        allow_null=True,
        help_text="Where, when known: it limits the suggested department to the place's district.",
    )
    grid = serializers.CharField(required=False, allow_blank=True, help_text="Or a grid code.")
    building = serializers.CharField(required=False, allow_blank=True, help_text="Or a building code.")


class SuggestionSerializer(serializers.Serializer):
    category = serializers.CharField(source="category.code", help_text="A category code (GET /categories/).")
    category_name = serializers.CharField(source="category.name")
    kind = serializers.ChoiceField(choices=Kind.choices)
    department = serializers.CharField(
        source="department.code", allow_null=True, default=None, help_text="The category's handling department."
    )
    score = serializers.FloatField(help_text="The model's probability of the category, 0–1.")


class SuggestResponseSerializer(serializers.Serializer):
    suggestions = SuggestionSerializer(many=True)


def _error(description: str) -> OpenApiResponse:
    return OpenApiResponse(ErrorResponseSerializer, description=description)


class SuggestView(APIView):
    """Suggest categories for a description, best first; an empty list when no model has been trained yet."""

    permission_classes = [IsAuthenticated, IsStaffOrPartner]

    @extend_schema(
        summary="Suggest category, kind and department for a description",
        request=SuggestRequestSerializer,
        responses={
            HTTPStatus.OK: SuggestResponseSerializer,
            HTTPStatus.BAD_REQUEST: _error("validation_error, malformed_json"),
            HTTPStatus.UNAUTHORIZED: _error("not_authenticated"),
            HTTPStatus.FORBIDDEN: _error("permission_denied (residents)"),
            HTTPStatus.TOO_MANY_REQUESTS: _error("throttled"),
        },
        tags=["triage"],
    )
    def post(self, request):
        body = SuggestRequestSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        data = body.validated_data
        location = data.get("location") or {}
        place = None
        if location or data.get("grid") or data.get("building"):
            grid, building = route_report(
                grid=data.get("grid"), building=data.get("building"), lat=location.get("lat"), lng=location.get("lng")
            )
            place = building or grid
        suggestions = triage_suggest(data["description"], place=place, limit=LIMIT)
        return Response(SuggestResponseSerializer({"suggestions": suggestions}).data)
