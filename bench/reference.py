"""Two reference endpoints the benchmark measures beside GridDesk's own: what plain DRF does over the same table.

A plain DRF one-insert create (a ModelSerializer, one INSERT into issues_issue) and a plain DRF cursor list of 20
issues (CursorPagination over created_at, a ModelSerializer, no scoping), with the project's authentication,
permission and throttle classes, so every GridDesk figure also reads as "× plain DRF". Mounted under /bench/ref/
with the bare view only when GRIDDESK_BENCH_VIEWS is true (bench/gunicorn_settings.py); never in a deployment.
"""

import uuid

from rest_framework import generics, serializers
from rest_framework.pagination import CursorPagination

from grids.models import Area
from issues.models import Issue


class ReferenceIssueSerializer(serializers.ModelSerializer):
    class Meta:
        model = Issue
        fields = ["id", "number", "status", "kind", "urgent", "description", "lat", "lng", "created_at"]
        read_only_fields = ["id", "number", "status", "created_at"]


class ReferencePagination(CursorPagination):
    page_size = 20
    ordering = "-created_at"


class ReferenceListCreateView(generics.ListCreateAPIView):
    """Plain DRF: list issues by cursor (20 a page), or create one with a single INSERT."""

    serializer_class = ReferenceIssueSerializer
    pagination_class = ReferencePagination
    queryset = Issue.objects.all()

    def perform_create(self, serializer):
        grid = _grid()
        serializer.save(
            number=f"RF-{uuid.uuid4().hex[:16]}",
            grid_id=grid["id"],
            area_path=grid["path"],
            district_code=grid["path"][:6],
            street_code=grid["path"][7:16],
            community_code=grid["path"][17:29],
            grid_code=grid["code"],
        )


_GRID: dict = {}


def _grid() -> dict:
    """Return one grid, read once per process: the reference does one INSERT per request, nothing more."""
    if not _GRID:
        _GRID.update(Area.objects.filter(level=Area.Level.GRID).values("id", "path", "code").first())
    return _GRID
