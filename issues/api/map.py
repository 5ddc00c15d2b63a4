"""The map's GeoJSON (docs/api.md "Map"): a node's grids with their open and overdue counts, and its open issues.

Both stand on issues.access.ScopedIssueMixin (the node is read through `get_area`, out of scope answers 404) and
on config.api.permissions.IsTerritoryStaff, as the statistics do; what they write is issues.map_selectors'.
Answers carry an ETag of their body: a client that sends it back in If-None-Match gets 304 and no body. Both are
gzip-compressed for clients that accept it (a street of 10,000 grids is mostly repeated keys). Both take a `bbox`
(the map's view): zoomed in, the page asks for what it shows, not for the whole node.
"""

import hashlib
import threading
from collections import OrderedDict
from collections.abc import Callable
from http import HTTPStatus

from django.http import HttpRequest, HttpResponse, HttpResponseNotModified
from django.middleware.gzip import GZipMiddleware, re_accepts_gzip
from django.urls import reverse
from django.utils.cache import patch_vary_headers
from django.utils.text import compress_string
from django.utils.translation import get_language
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import serializers
from rest_framework.permissions import IsAuthenticated
from rest_framework.renderers import JSONRenderer
from rest_framework.views import APIView

from config.api.permissions import IsTerritoryStaff
from grids.maps import MAX_ZOOM, MIN_ZOOM, map_layer
from issues.access import ScopedIssueMixin
from issues.api.views import _errors
from issues.desk_panel import desk_queues_for
from issues.map_selectors import (
    map_grid_counts_for_user,
    map_grids_geojson,
    map_hotspots_for_user,
    map_issue_points_for_user,
    map_issues_geojson,
)

GEOJSON = "application/geo+json"


class GeoJSONRenderer(JSONRenderer):
    """GeoJSON (RFC 7946) is JSON with its own media type; errors stay application/json (listed first)."""

    media_type = GEOJSON
    format = "geojson"


class BBoxField(serializers.CharField):
    """`west,south,east,north` in degrees (WGS 84), as Leaflet's LatLngBounds.toBBoxString() writes it."""

    def to_internal_value(self, data) -> tuple[float, float, float, float]:
        text = super().to_internal_value(data)
        try:
            west, south, east, north = (float(part) for part in text.split(","))
        except ValueError:
            raise serializers.ValidationError("Give four numbers: west,south,east,north.") from None
        if not (-180 <= west <= east <= 180 and -90 <= south <= north <= 90):
            raise serializers.ValidationError("Need -180 ≤ west ≤ east ≤ 180 and -90 ≤ south ≤ north ≤ 90.")
        return west, south, east, north


class MapAreaQuerySerializer(serializers.Serializer):
    area = serializers.CharField(max_length=24, help_text="A territory node code inside the caller's scope.")
    bbox = BBoxField(
        required=False,
        max_length=100,
        help_text="The map's view, `west,south,east,north` (degrees): only what meets it is written "
        "(the totals and hot spots still cover the whole node).",
    )


class MapQuerySerializer(MapAreaQuerySerializer):
    zoom = serializers.IntegerField(
        required=False,
        min_value=MIN_ZOOM,
        max_value=MAX_ZOOM,
        help_text="The map's zoom: geometry is simplified to one pixel at it and coordinates rounded to match "
        "(default: the zoom that fits the node in about 600 × 600 px).",
    )


# --- what the answers look like (documentation: the views write GeoJSON text directly, see issues.map_selectors) ---


class GeometrySerializer(serializers.Serializer):
    type = serializers.CharField(help_text="Polygon or MultiPolygon (grids), LineString or MultiLineString (outlines).")
    coordinates = serializers.ListField(child=serializers.JSONField(), help_text="[lng, lat] positions (WGS 84).")


class MapFeaturePropertiesSerializer(serializers.Serializer):
    kind = serializers.CharField(help_text="`grid`, `community` or `street`")
    code = serializers.CharField()
    name = serializers.CharField()
    community = serializers.CharField(required=False, help_text="Grids: the code of their community.")
    open = serializers.IntegerField(required=False, help_text="Grids: open issues (submitted to in progress).")
    overdue = serializers.IntegerField(required=False, help_text="Grids: open issues past a running deadline.")


class MapFeatureSerializer(serializers.Serializer):
    type = serializers.CharField(help_text="`Feature`")
    id = serializers.CharField(help_text="A grid's code, or `community-<code>` / `street-<code>` for an outline.")
    geometry = GeometrySerializer()
    properties = MapFeaturePropertiesSerializer()


class MapTotalsSerializer(serializers.Serializer):
    open = serializers.IntegerField()
    overdue = serializers.IntegerField()


class MapHotSpotSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    grid = serializers.CharField(help_text="The code of its grid (highlighted on the map).")
    grid_name = serializers.CharField()
    category = serializers.CharField()
    observed = serializers.IntegerField(help_text="Reports in its window.")
    expected = serializers.FloatField(help_text="Reports the grid's own baseline expects in that window.")
    url = serializers.CharField(allow_null=True, help_text="Its section of the escalation desk, if the caller has it.")


class MapGridCollectionSerializer(serializers.Serializer):
    type = serializers.CharField(help_text="`FeatureCollection`")
    zoom = serializers.IntegerField(help_text="The zoom the geometry was simplified for.")
    totals = MapTotalsSerializer(help_text="Open and overdue issues under the node (grids without a boundary too).")
    without_boundary = serializers.IntegerField(help_text="Grids under the node with no boundary to draw.")
    bbox = serializers.ListField(
        child=serializers.FloatField(), required=False, help_text="[west, south, east, north] of the grids drawn."
    )
    hotspots = MapHotSpotSerializer(many=True, help_text="Open hot-spot alerts under the node the caller sees.")
    features = MapFeatureSerializer(many=True, help_text="Every grid (kind grid) in view, then the outlines.")


class PointSerializer(serializers.Serializer):
    type = serializers.CharField(help_text="`Point`")
    coordinates = serializers.ListField(child=serializers.FloatField(), min_length=2, max_length=2)


class MapIssuePropertiesSerializer(serializers.Serializer):
    kind = serializers.CharField(help_text="`issue`")
    number = serializers.CharField()
    status = serializers.CharField()
    status_label = serializers.CharField(help_text="The status in the caller's language.")
    overdue = serializers.BooleanField()
    category = serializers.CharField(allow_null=True)
    grid = serializers.CharField(help_text="The code of its grid.")
    url = serializers.CharField(help_text="Its page.")


class MapIssueFeatureSerializer(serializers.Serializer):
    type = serializers.CharField(help_text="`Feature`")
    id = serializers.CharField()
    geometry = PointSerializer(allow_null=True, help_text="Its place, or its building's; null when it has neither.")
    properties = MapIssuePropertiesSerializer()


class MapIssueCollectionSerializer(serializers.Serializer):
    type = serializers.CharField(help_text="`FeatureCollection`")
    truncated = serializers.BooleanField(help_text="More open issues exist than were written (newest first).")
    features = MapIssueFeatureSerializer(many=True)


# Answers kept per process by their ETag: a street's 10,000 grids are written and gzipped once per state of what they
# say (the layer, the counts, the hot spots, the view), not once per request; every request still reads that state.
ANSWERS_KEPT = 8
_answers: "OrderedDict[str, list]" = OrderedDict()
_answers_lock = threading.Lock()


def map_answers_forget() -> None:
    """Drop every kept answer (tests, the benchmark)."""
    with _answers_lock:
        _answers.clear()


def _geojson_response(request: HttpRequest, *, state: tuple, write: Callable[[], str]) -> HttpResponse:
    """Answer GeoJSON whose body `write()` returns and depends only on `state`, with an ETag of that state (304 when
    the client has it), gzip-compressed when accepted (as django.middleware.gzip would, weak ETag included)."""
    etag = f'"{hashlib.blake2b(repr(state).encode(), digest_size=16).hexdigest()}"'
    # Private: what a caller sees depends on their scope; revalidated each time: counts move with every action.
    cache_control = "private, no-cache"
    # Weak comparison (RFC 9110 13.1.2): gzip marks the tag weak (W/"…"), and a browser sends back what it got.
    if etag in [tag.strip().removeprefix("W/") for tag in request.headers.get("If-None-Match", "").split(",")]:
        response = HttpResponseNotModified()
        response["ETag"], response["Cache-Control"] = etag, cache_control
        return response
    with _answers_lock:
        kept = _answers.get(etag)
        if kept is not None:
            _answers.move_to_end(etag)
    if kept is None:
        kept = [write().encode(), None]  # [body, body gzipped once asked]
        with _answers_lock:
            _answers[etag] = kept
            while len(_answers) > ANSWERS_KEPT:
                _answers.popitem(last=False)
    body = kept[0]
    response = HttpResponse(body, content_type=GEOJSON)
    response["ETag"], response["Cache-Control"] = etag, cache_control
    patch_vary_headers(response, ("Accept-Encoding",))
    if len(body) >= 200 and re_accepts_gzip.search(request.META.get("HTTP_ACCEPT_ENCODING", "")):
        if kept[1] is None:
            # The random padding of Django's gzip is drawn once per kept answer: no secret or reflected input is in
            # these bodies for a compression side channel to read.
            kept[1] = compress_string(body, max_random_bytes=GZipMiddleware.max_random_bytes)
        if len(kept[1]) < len(body):
            response.content = kept[1]
            response["Content-Length"] = str(len(kept[1]))
            response["ETag"] = "W/" + etag
            response["Content-Encoding"] = "gzip"
    return response


class MapBaseView(ScopedIssueMixin, APIView):
    permission_classes = [IsAuthenticated, IsTerritoryStaff]
    renderer_classes = [JSONRenderer, GeoJSONRenderer]

    query_serializer = MapQuerySerializer

    def query(self, request) -> dict:
        query = self.query_serializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        return query.validated_data


class MapGridsView(MapBaseView):
    """Answer the grids under a node in the caller's scope, with their open and overdue counts, and the outlines."""

    @extend_schema(
        summary="The grids of an area as GeoJSON, with open and overdue counts, and community and street outlines",
        parameters=[MapQuerySerializer],
        responses={
            HTTPStatus.OK: MapGridCollectionSerializer,
            HTTPStatus.NOT_MODIFIED: OpenApiResponse(description="Not modified (If-None-Match matched the ETag)."),
            **_errors(400, 401, 403, 404, 429),
        },
    )
    def get(self, request):
        query = self.query(request)
        area = self.get_area(query["area"])
        layer = map_layer(area=area, zoom=query.get("zoom"))
        counts = map_grid_counts_for_user(user=request.user, area=area)
        hotspots = map_hotspots_for_user(user=request.user, area=area)
        desk = reverse("desk-escalations") if "escalations" in desk_queues_for(request.user) else None
        bbox = query.get("bbox")
        # Plain tuples: their repr (the ETag's input) is written in C, a street's 10,000 in a few ms.
        state = ("grids", layer.key, bbox, sorted((code, *c) for code, c in counts.items()), hotspots, desk)
        return _geojson_response(
            request,
            state=state,
            write=lambda: map_grids_geojson(layer=layer, counts=counts, bbox=bbox, hotspots=hotspots, hotspot_url=desk),
        )


class MapIssuesView(MapBaseView):
    """Answer the open issues under a node in the caller's scope as points (no reporter data, no free text)."""

    query_serializer = MapAreaQuerySerializer

    @extend_schema(
        summary="The open issues of an area as GeoJSON points (newest first, at most 5,000)",
        parameters=[MapAreaQuerySerializer],
        responses={
            HTTPStatus.OK: MapIssueCollectionSerializer,
            HTTPStatus.NOT_MODIFIED: OpenApiResponse(description="Not modified (If-None-Match matched the ETag)."),
            **_errors(400, 401, 403, 404, 429),
        },
    )
    def get(self, request):
        query = self.query(request)
        area = self.get_area(query["area"])
        rows, truncated = map_issue_points_for_user(user=request.user, area=area, bbox=query.get("bbox"))
        state = ("issues", get_language(), truncated, [tuple(row.values()) for row in rows])  # labels: the language
        return _geojson_response(request, state=state, write=lambda: map_issues_geojson(rows=rows, truncated=truncated))
