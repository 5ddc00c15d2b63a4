"""Cursor pagination of issue lists: stable under inserts, page_size up to 100, orderings of API.md."""

from datetime import datetime

from django.db.models import DateTimeField, Value
from django.db.models.functions import Coalesce
from django.utils import timezone
from django.utils.dateparse import parse_datetime
from rest_framework.pagination import CursorPagination

from config.errors import NotFound

# Issues with no resolution deadline (not classified yet) sort after every dated one, in either direction.
_LAST_ASCENDING = datetime(9999, 12, 31, 23, 59, 59)
_LAST_DESCENDING = datetime(1970, 1, 1)


class IssueCursorPagination(CursorPagination):
    """Page issues by a cursor on the ordering's first field; `ordering` picks the order (IssueFilterSet's values)."""

    page_size = 20
    page_size_query_param = "page_size"
    max_page_size = 100
    ordering = ("-created_at", "-id")
    # API.md `ordering` values → (position field, tie breaker). A nullable deadline sorts through a coalesced copy,
    # because a cursor position cannot be null.
    ORDERINGS = {
        "created_at": ("created_at", "id"),
        "-created_at": ("-created_at", "-id"),
        "resolution_due_at": ("resolution_due_asc", "id"),
        "-resolution_due_at": ("-resolution_due_desc", "-id"),
    }
    _UNDATED_LAST = {"resolution_due_asc": _LAST_ASCENDING, "resolution_due_desc": _LAST_DESCENDING}

    def get_ordering(self, request, queryset, view):
        return self.ORDERINGS.get(request.query_params.get("ordering", ""), self.ordering)

    def paginate_queryset(self, queryset, request, view=None):
        position_field = self.get_ordering(request, queryset, view)[0].lstrip("-")
        if position_field in self._UNDATED_LAST:
            last = timezone.make_aware(self._UNDATED_LAST[position_field], timezone.get_default_timezone())
            queryset = queryset.annotate(
                **{position_field: Coalesce("resolution_due_at", Value(last, output_field=DateTimeField()))}
            )
        return super().paginate_queryset(queryset, request, view)

    def decode_cursor(self, request):
        cursor = super().decode_cursor(request)
        # Every position is a timestamp: refuse a forged one here rather than let the database choke on it.
        if cursor is not None and cursor.position is not None:
            try:
                valid = parse_datetime(cursor.position) is not None
            except ValueError:
                valid = False
            if not valid:
                raise NotFound(self.invalid_cursor_message)
        return cursor
