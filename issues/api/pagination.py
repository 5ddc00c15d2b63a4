"""Cursor pagination of issue lists: stable under inserts, page_size up to 100, orderings of API.md."""

from base64 import b64decode
from datetime import datetime
from urllib.parse import parse_qs

from django.db.models import DateTimeField, Value
from django.db.models.functions import Coalesce
from django.utils import timezone
from django.utils.dateparse import parse_datetime
from django.utils.translation import gettext_noop
from rest_framework.exceptions import NotFound, ValidationError
from rest_framework.pagination import CursorPagination

# Issues with no resolution deadline (not classified yet) sort after every dated one, in either direction.
_LAST_ASCENDING = datetime(9999, 12, 31, 23, 59, 59)
_LAST_DESCENDING = datetime(1970, 1, 1)
# A forged position outside these moments could overflow once its offset is applied.
EARLIEST_MOMENT = datetime(1, 1, 2)


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
        """Return the cursor of the query, or refuse a malformed or forged one as 400 `validation_error` on cursor."""
        try:
            _check_encoding(request.query_params.get(self.cursor_query_param))
            cursor = super().decode_cursor(request)
        except NotFound:
            cursor = None
            valid = False
        else:
            # Every position is a timestamp: refuse a forged one here rather than let the database choke on it.
            valid = cursor is None or cursor.position is None or _is_moment(cursor.position)
        if not valid:
            raise ValidationError({self.cursor_query_param: [INVALID_CURSOR]})
        return cursor


INVALID_CURSOR = gettext_noop("Invalid cursor: use the `next` or `previous` link of a page as it is.")


def _check_encoding(encoded: str | None) -> None:
    """Raise NotFound unless `encoded` is strict base64 of DRF's cursor tokens (DRF drops stray characters)."""
    if encoded is None:
        return
    try:
        tokens = parse_qs(b64decode(encoded.encode("ascii"), validate=True).decode("ascii"), keep_blank_values=True)
    except ValueError:  # binascii.Error and UnicodeError are ValueErrors
        raise NotFound() from None
    # A link DRF made names at least one of offset, reverse and position; the first page has no cursor at all.
    if not tokens or not set(tokens) <= {"o", "r", "p"}:
        raise NotFound()


def _is_moment(position: str) -> bool:
    try:
        moment = parse_datetime(position)
    except ValueError:
        return False
    return moment is not None and EARLIEST_MOMENT <= moment.replace(tzinfo=None) <= _LAST_ASCENDING
