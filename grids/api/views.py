"""Public territory endpoints (API.md "Territory"): no authentication needed, throttled as anonymous callers."""

from django.utils.translation import gettext_noop
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import viewsets
from rest_framework.decorators import action
from rest_framework.permissions import AllowAny
from rest_framework.request import Request
from rest_framework.response import Response

from config.errors import Message, NotFound, ValidationFailed
from grids.api.serializers import AreaListQuerySerializer, AreaSerializer, LocateQuerySerializer, LocationSerializer
from grids.models import Area
from grids.routing import locate_grid


class AreaViewSet(viewsets.ReadOnlyModelViewSet):
    """Read the territory: a node's children, one node by code, and the grid covering a point."""

    permission_classes = [AllowAny]
    serializer_class = AreaSerializer
    lookup_field = "code"
    lookup_value_regex = r"[0-9]+"
    pagination_class = None
    filter_backends: list = []

    def get_queryset(self):
        return Area.objects.select_related("parent").order_by("code")

    @extend_schema(parameters=[AreaListQuerySerializer], summary="List the children of a node (no parent: districts)")
    def list(self, request: Request, *args, **kwargs) -> Response:
        query = AreaListQuerySerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        code = query.validated_data.get("parent")
        if code is None:
            areas = self.get_queryset().filter(level=Area.Level.DISTRICT)
        else:
            parent = Area.objects.filter(code=code).only("pk").first()
            if parent is None:
                raise NotFound(Message(gettext_noop("No area has the code %(code)s."), code=repr(code)))
            areas = self.get_queryset().filter(parent=parent)
        return Response(self.get_serializer(areas, many=True).data)

    @extend_schema(summary="Read one node by its code")
    def retrieve(self, request: Request, *args, **kwargs) -> Response:
        return super().retrieve(request, *args, **kwargs)

    @extend_schema(
        parameters=[
            OpenApiParameter("lat", float, required=True, description="Latitude (WGS 84)"),
            OpenApiParameter("lng", float, required=True, description="Longitude (WGS 84)"),
        ],
        responses=LocationSerializer,
        summary="Find the grid covering a point, with its community, street and district",
    )
    @action(detail=False, methods=["get"])
    def locate(self, request: Request) -> Response:
        query = LocateQuerySerializer(data=request.query_params)
        if not query.is_valid():
            messages = [f"{name}: {message}" for name, messages in query.errors.items() for message in messages]
            raise ValidationFailed(fields={"location": messages})
        grid = locate_grid(lat=query.validated_data["lat"], lng=query.validated_data["lng"])
        if grid is None:
            raise ValidationFailed(fields={"location": [gettext_noop("No grid covers this point.")]})
        ancestors = {
            area.level: area for area in Area.objects.filter(code__in=grid.path_codes).only("code", "name", "level")
        }
        levels = [Area.Level.GRID, Area.Level.COMMUNITY, Area.Level.STREET, Area.Level.DISTRICT]
        body = {level: {"code": ancestors[level].code, "name": ancestors[level].name} for level in levels}
        return Response(LocationSerializer(body).data)
