"""IssueFilterSet: API.md's issue list filters, shared by the API and the pages.

It narrows an already scoped queryset (issues.selectors.issue_list_for_user); it never widens it. Every bad
value is a form error (the API answers 400 validation_error naming the field), never a 500 or a silent no-op.

- `status`: one or more statuses, comma-separated (`dispatched,in_progress`).
- `channel`: one or more channels, comma-separated (`hotline,on_behalf`).
- `kind`: one kind. `category`: a category code; a parent category includes its sub-categories.
- `area`: any territory node code; everything at or under it (materialized path prefix).
- `escalation_level`: 0 community, 1 street, 2 district.
- `overdue=true`: past a running deadline (issues.sla.overdue_q: resolution deadline passed and not yet resolved,
  or response deadline passed and not yet accepted); `overdue=false`: the rest.
- `urgent=true|false`.
- `created_after` (inclusive) and `created_before` (exclusive): ISO 8601 date or date-time; a date means its
  midnight in Asia/Shanghai, so `created_after=2026-11-01&created_before=2026-12-01` is November. A UTC offset
  must lie within ±15:59 (PostgreSQL's limit) and the moment, in UTC, within the years 1–9999; anything else is a
  form error, never a database error.
- `q`: text in the number, title, description or address (case-insensitive).
- `ordering`: `created_at`, `-created_at` (the default), `resolution_due_at` (issues without a deadline last),
  `-resolution_due_at`; ties broken by id so that cursor pagination is stable.
"""

import re
from datetime import UTC, timedelta

import django_filters
from django.core.exceptions import ValidationError
from django.db import connections
from django.db.models import F, Q
from django.utils.translation import gettext_lazy as _
from django_filters.fields import IsoDateTimeField

from grids.models import Area, subtree_q
from issues.models import Category, Issue, Kind
from issues.sla import overdue_q

BOOLEAN_CHOICES = [("true", "true"), ("false", "false"), ("1", "1"), ("0", "0")]
TRUE_VALUES = {"true", "1"}

ORDERINGS = {
    "created_at": [F("created_at").asc(), F("id").asc()],
    "-created_at": [F("created_at").desc(), F("id").desc()],
    "resolution_due_at": [F("resolution_due_at").asc(nulls_last=True), F("created_at").desc(), F("id").desc()],
    "-resolution_due_at": [F("resolution_due_at").desc(nulls_last=True), F("created_at").desc(), F("id").desc()],
}


class ChoiceInFilter(django_filters.BaseInFilter, django_filters.ChoiceFilter):
    """Match any of several comma-separated choices; an unknown one is a form error."""


# PostgreSQL refuses a timestamp whose UTC offset is 16 hours or more (Python accepts up to 24).
MAX_UTC_OFFSET = timedelta(hours=15, minutes=59, seconds=59)


class BoundedIsoDateTimeField(IsoDateTimeField):
    """Parse an ISO 8601 date or date-time and return it in UTC; refuse what the database could not compare."""

    default_error_messages = {
        "offset": _("Enter a UTC offset between -15:59 and +15:59."),
        "range": _("Enter a date-time between the years 1 and 9999 (in UTC)."),
    }

    def to_python(self, value):
        value = super().to_python(value)
        if value is None:
            return None
        if abs(value.utcoffset()) > MAX_UTC_OFFSET:
            raise ValidationError(self.error_messages["offset"], code="offset")
        try:
            # Compared in UTC: no offset reaches the database, and a moment outside years 1–9999 is refused here.
            return value.astimezone(UTC)
        except OverflowError:
            raise ValidationError(self.error_messages["range"], code="range") from None


class BoundedIsoDateTimeFilter(django_filters.IsoDateTimeFilter):
    """Filter on an ISO 8601 date-time that is within the database's range (see BoundedIsoDateTimeField)."""

    field_class = BoundedIsoDateTimeField


class IssueFilterSet(django_filters.FilterSet):
    """Filter a scoped issue queryset by API.md's list parameters."""

    status = ChoiceInFilter(field_name="status", choices=Issue.Status.choices)
    kind = django_filters.ChoiceFilter(field_name="kind", choices=Kind.choices)
    channel = ChoiceInFilter(field_name="channel", choices=Issue.Channel.choices)
    category = django_filters.ModelChoiceFilter(
        queryset=Category.objects.all(), to_field_name="code", method="filter_category"
    )
    area = django_filters.ModelChoiceFilter(queryset=Area.objects.all(), to_field_name="code", method="filter_area")
    escalation_level = django_filters.TypedChoiceFilter(
        field_name="escalation_level", choices=Issue.EscalationLevel.choices, coerce=int
    )
    overdue = django_filters.ChoiceFilter(choices=BOOLEAN_CHOICES, method="filter_overdue")
    urgent = django_filters.ChoiceFilter(choices=BOOLEAN_CHOICES, method="filter_urgent")
    created_after = BoundedIsoDateTimeFilter(field_name="created_at", lookup_expr="gte")
    created_before = BoundedIsoDateTimeFilter(field_name="created_at", lookup_expr="lt")
    q = django_filters.CharFilter(method="filter_text", max_length=200)
    ordering = django_filters.ChoiceFilter(choices=[(k, k) for k in ORDERINGS], method="filter_ordering")

    class Meta:
        model = Issue
        fields = []

    def filter_category(self, queryset, name, value: Category):
        # The category tree is shallow (a category and its sub-categories, at most three levels).
        return queryset.filter(Q(category=value) | Q(category__parent=value) | Q(category__parent__parent=value))

    def filter_area(self, queryset, name, value: Area):
        return queryset.filter(subtree_q("area_path", value.path))

    def filter_overdue(self, queryset, name, value: str):
        return queryset.filter(overdue_q()) if value in TRUE_VALUES else queryset.exclude(overdue_q())

    def filter_urgent(self, queryset, name, value: str):
        return queryset.filter(urgent=value in TRUE_VALUES)

    def filter_text(self, queryset, name, value: str):
        value = value.strip()
        if not value:
            return queryset
        return text_matching(queryset, value)

    def filter_ordering(self, queryset, name, value: str):
        return queryset.order_by(*ORDERINGS[value])


# Text search on PostgreSQL (`q`). The planner estimates `UPPER(column) LIKE '%text%'` from its statistics sample: a
# text it finds there (a common word) is estimated about right, and the newest-first walk fills a page from it soon.
# A text it finds nowhere there is estimated at no less than one row in 10,000 per column (the floor of its pattern
# estimate, which no statistics target lowers): at 10 M issues it expects thousands of matches for a text that has a
# handful, and fills a page by walking the newest-first index with the filter, through every row of the scope when
# there are few matches (18.7 s, bench/plans/partitioned_search_street_rare.txt). So when the planner's estimate of
# the text alone is under COMMON_TEXT of the issues (what only a text it knows to be common reaches), the trigram
# indexes (issues/0013) are asked first how many issues have it, up to TEXT_PROBE + 1: with that many or more the walk
# stays; with fewer, the page is read among those issues by key (id and created_at, so a table partitioned by month
# reads only their months). The estimate is one EXPLAIN, planned and not run; the probe may use the trigram indexes
# alone (sequential and plain index scans off for its statement), which for a common word would read its whole
# posting list first. A text without three letters in a row has no trigram, and keeps the walk.
COMMON_TEXT = 0.002
TEXT_PROBE = 1000
HAS_TRIGRAM = re.compile(r"\w{3}")


def text_q(value: str) -> Q:
    """Return the filter for issues whose number, title, description or address contain `value` (any case)."""
    return (
        Q(number__icontains=value)
        | Q(title__icontains=value)
        | Q(description__icontains=value)
        | Q(address__icontains=value)
    )


def text_matching(queryset, value: str):
    """Return `queryset` narrowed to the issues whose text contains `value` (text_q); on PostgreSQL, when the trigram
    indexes find few issues with that text, narrowed to those issues by key as well (the same rows: see TEXT_PROBE)."""
    matching = queryset.filter(text_q(value))
    connection = connections[queryset.db]
    if connection.vendor != "postgresql" or not HAS_TRIGRAM.search(value):
        return matching
    issues = Issue.objects.using(queryset.db).filter(text_q(value))
    if _estimated_share(connection, issues) >= COMMON_TEXT:
        return matching
    found = _text_probe(connection, issues)
    if found is None:
        return matching
    if not found:
        return matching.none()
    return matching.filter(pk__any_of=[pk for pk, _ in found], created_at__in=sorted({at for _, at in found}))


def _estimated_share(connection, issues) -> float:
    """Return the planner's estimate of the share of all issues that `issues` holds, from one EXPLAIN (not run)."""
    sql, params = issues.order_by().values_list("pk").query.get_compiler(using=issues.db).as_sql()
    table = Issue._meta.db_table
    # OFFSET 0 keeps each side a subquery of its own: a partitioned table's two scans are not merged into one list.
    every = f'SELECT "id" FROM "{table}" OFFSET 0'
    explain = f"EXPLAIN (FORMAT JSON) SELECT * FROM ({sql} OFFSET 0) a UNION ALL SELECT * FROM ({every}) b"
    with connection.cursor() as cursor:
        cursor.execute(explain, params)
        [[[plan]]] = cursor.fetchall()
    found, every = (child["Plan Rows"] for child in plan["Plan"]["Plans"])
    return found / max(every, 1)


def _text_probe(connection, issues) -> list[tuple] | None:
    """Return (pk, created_at) of every issue of `issues` as the trigram indexes find them, or None past TEXT_PROBE."""
    probe = issues.order_by().values_list("pk", "created_at")[: TEXT_PROBE + 1]
    sql, params = probe.query.get_compiler(using=issues.db).as_sql()
    # SET LOCAL lasts to the end of the transaction: the statement's own (several statements in one round trip are
    # one), or a savepoint's inside a caller's transaction, rolled back at once.
    probe = f"SET LOCAL enable_seqscan = off; SET LOCAL enable_indexscan = off; {sql}"
    with connection.cursor() as cursor:
        if connection.in_atomic_block:
            cursor.execute(f"SAVEPOINT griddesk_text_probe; {probe}", params)
            rows = cursor.fetchall()
            cursor.execute("ROLLBACK TO SAVEPOINT griddesk_text_probe; RELEASE SAVEPOINT griddesk_text_probe")
        else:
            cursor.execute(probe, params)
            rows = cursor.fetchall()
    return rows if len(rows) <= TEXT_PROBE else None
