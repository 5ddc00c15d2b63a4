"""Reads for the staff desks: the triage, department and escalation queues (DESIGN.md "Pages", issue 10).

Every queue starts from `issue_list_for_user` (orgs.scoping), narrows it with the page's filters, and reads one page
in a constant number of queries whatever its size: the page's rows (category and grid joined), their dispatches
(one prefetch), the counts of every tab (one aggregate), and, for the triage queue, the likely duplicates of the
page's new issues (one query over the page's bounding box). Pages are keyset ("cursor") pages on the queue's order,
so a deep page costs what the first one does.
"""

import base64
import copy
import json
import math
import secrets
from dataclasses import dataclass, field
from datetime import datetime, timedelta

import django_filters
from django.conf import settings
from django.core.cache import cache
from django.db import transaction
from django.db.models import (
    BooleanField,
    Case,
    Count,
    DateTimeField,
    Exists,
    ExpressionWrapper,
    F,
    OuterRef,
    Q,
    QuerySet,
    Value,
    When,
)
from django.db.models.functions import Coalesce
from django.db.models.signals import post_delete, post_save
from django.dispatch import receiver
from django.urls import reverse
from django.utils import timezone
from django.utils.dateparse import parse_datetime
from django.utils.text import capfirst
from django.utils.translation import gettext_noop

from config.errors import ValidationFailed
from config.fragments import LocalFragments, digest
from config.redis_cache import forget, quietly, set_unread
from grids.models import Area
from issues.desk_forms import category_choices
from issues.filters import BOOLEAN_CHOICES, TRUE_VALUES, IssueFilterSet
from issues.models import Category, Dispatch, Event, ExtensionRequest, Issue
from issues.selectors import EARTH_RADIUS_M, issue_list_for_user
from issues.sla import deadline_passed_q, overdue_q
from issues.workflow.rules import SUPERVISION_HANDLED_BY
from orgs.models import Department, Role
from orgs.scoping import scope_for_user

NOT_ANSWERING = "desks: the cache does not answer"
PAGE_SIZE = 50
# The category choices of the desks' filters, remembered between pages (desk_category_choices).
CATEGORY_CHOICES_KEY = "desk:category-choices"
CATEGORY_CHOICES_SECONDS = 300
# How long a scope's triage counts are kept at most (_remembered_counts): bumps forget them before that.
TRIAGE_COUNTS_SECONDS = 60
MAX_PAGE_SIZE = 200
# A deadline that does not run sorts after every running one.
NO_DEADLINE = datetime(9999, 12, 31, tzinfo=timezone.get_fixed_timezone(0))
S = Issue.Status


class DeskFilterSet(IssueFilterSet):
    """The issue list's filters plus what desks ask: escalated or not (`escalated=true|false`)."""

    escalated = django_filters.ChoiceFilter(choices=BOOLEAN_CHOICES, method="filter_escalated")

    def filter_escalated(self, queryset, name, value: str):
        return queryset.filter(escalation_level__gt=0) if value in TRUE_VALUES else queryset.filter(escalation_level=0)


@dataclass
class QueuePage:
    """One page of a queue: its rows, the count of every tab, the cursor of the next page (None on the last)."""

    tab: str
    rows: list[Issue]
    counts: dict[str, int]
    next_cursor: str | None
    duplicates: dict = field(default_factory=dict)  # issue pk → [likely duplicate issues] (triage, new issues)


# --- the category choices -----------------------------------------------------------------------------------------


def desk_category_choices() -> list:
    """Return desk_forms.category_choices, remembered between pages for CATEGORY_CHOICES_SECONDS.

    Forgotten when a category or a department (its name is in the labels) is saved or deleted; a change that sends no
    signal (a bulk update) shows within the lifetime. A cache that does not answer costs the query, not the page.
    """
    choices = quietly(cache.get, CATEGORY_CHOICES_KEY, warning=NOT_ANSWERING)
    if choices is None:
        choices = category_choices()
        quietly(cache.set, CATEGORY_CHOICES_KEY, choices, CATEGORY_CHOICES_SECONDS, warning=NOT_ANSWERING)
    return choices


@receiver(post_save, sender=Category, dispatch_uid="desks.category_saved")
@receiver(post_delete, sender=Category, dispatch_uid="desks.category_deleted")
@receiver(post_save, sender=Department, dispatch_uid="desks.department_saved")
@receiver(post_delete, sender=Department, dispatch_uid="desks.department_deleted")
def desk_category_choices_forget(sender, raw=False, **kwargs) -> None:
    """A category or a department changed: the desks read the category choices again (now and after the commit)."""
    if raw:
        return
    forget(cache, [CATEGORY_CHOICES_KEY], warning=NOT_ANSWERING)


# --- the triage counts ----------------------------------------------------------------------------------------------


# Bumped whenever an issue is saved or deleted (issue_changed): the triage counts kept before are not read again.
ISSUES_GENERATION_KEY = "desk:issues-generation"
# The triage pages read in this process under a generation (_triage_remembered).
_local_pages = LocalFragments(size=200, seconds=TRIAGE_COUNTS_SECONDS)


def _triage_remembered(user, page: tuple, *, count, read) -> tuple[dict, tuple]:
    """Return the triage tabs' counts (`count()`) and a page's rows (`read()`), remembered until an issue changes.

    Counting a street's open issues reads some twenty thousand rows at a million issues, and reading and building a
    page's fifty rows costs more than the rest of the page: both are kept with the issues' generation
    (ISSUES_GENERATION_KEY), which saving or deleting any issue, or a category or a place, changes, now and when its
    transaction commits (issue_changed): what was read meanwhile is never kept, and an issue moved from one scope to
    another is read again in both. Whatever writes issues without saving them one by one calls desk_counts_forget
    (the sweep's UPDATE does). The counts are kept in the shared cache for TRIAGE_COUNTS_SECONDS at most; the rows in
    this process (they are model instances: each request gets copies to mark). Scopes with departments (dispatches
    decide what they see) are always read.
    """
    scope = scope_for_user(user)
    if scope.department_ids or scope.user_id is None:
        return count(), read()
    who = (scope.user_id, scope.node_roles)
    key = "desk:triage-counts:" + digest((who, page[1]))
    found = quietly(cache.get_many, [ISSUES_GENERATION_KEY, key], warning=NOT_ANSWERING)
    if found is None:
        return count(), read()
    current = found.get(ISSUES_GENERATION_KEY)
    if current is None:  # never set, or evicted: start one, so nothing is ever kept under an absent generation
        start = secrets.token_hex(8)
        current = start if quietly(cache.add, ISSUES_GENERATION_KEY, start, None, warning=NOT_ANSWERING) else None
        current = current or quietly(cache.get, ISSUES_GENERATION_KEY, warning=NOT_ANSWERING)
        if current is None:
            return count(), read()
    entry = found.get(key)
    if entry is not None and entry[0] == current:
        counts = entry[1]
    else:
        counts = count()
        quietly(cache.set, key, (current, counts), TRIAGE_COUNTS_SECONDS, warning=NOT_ANSWERING)
    page_key = digest((who, page, current))
    kept = _local_pages.get(page_key)
    if kept is None:
        kept = read()
        _local_pages.set(page_key, kept)
    rows, next_cursor, duplicates = kept
    return counts, ([copy.copy(row) for row in rows], next_cursor, duplicates)


@receiver(post_save, sender=Issue, dispatch_uid="desks.issue_saved")
@receiver(post_delete, sender=Issue, dispatch_uid="desks.issue_deleted")
@receiver(post_save, sender=Category, dispatch_uid="desks.category_saved_for_rows")
@receiver(post_delete, sender=Category, dispatch_uid="desks.category_deleted_for_rows")
@receiver(post_save, sender=Area, dispatch_uid="desks.area_saved_for_rows")
@receiver(post_delete, sender=Area, dispatch_uid="desks.area_deleted_for_rows")
def issue_changed(sender, instance, raw=False, created=False, **kwargs) -> None:
    """An issue saved or deleted, or a category or a place (their names are on the rows): every scope's triage counts
    and rows are read again (now and after the commit).

    A new issue written by a transaction of its own (durable: issue_submit's, which reads no desk) only after its
    commit: nobody else can count it before, and what another request kept meanwhile is under the generation the
    commit replaces (a submission's Redis round trip saved).
    """
    if raw:
        return
    blocks = transaction.get_connection().atomic_blocks
    if created and sender is Issue and blocks and blocks[0].durable:
        transaction.on_commit(_bump)
        return
    desk_counts_forget()


def desk_counts_forget() -> None:
    """Count every scope's triage tabs again, now and when the transaction commits: whatever writes issues without
    saving them one by one (a bulk insert, an UPDATE that changes a status) calls this."""
    _bump()
    if transaction.get_connection().in_atomic_block:
        transaction.on_commit(_bump)


def _bump() -> None:
    """Give the issues' generation a new random value: no count kept under an earlier one is read again.

    Sent at once; in a request its reply is read after the response has gone out (config.redis_cache.send_unread):
    nobody waits for the answer, and a desk read racing it reads the old generation, as it would a moment earlier."""
    set_unread(cache, ISSUES_GENERATION_KEY, secrets.token_hex(8), warning=NOT_ANSWERING)


# --- the running deadline -----------------------------------------------------------------------------------------


def running_deadline():
    """Return the SQL of the deadline an issue now runs against: response until accepted, then resolution."""
    waiting = Q(status__in=Issue.DEADLINE_STATUSES["response"], accepted_at__isnull=True)
    return Coalesce(
        Case(
            When(waiting & Q(response_due_at__isnull=False), then=F("response_due_at")),
            When(status__in=Issue.DEADLINE_STATUSES["resolution"], then=F("resolution_due_at")),
            default=None,
            output_field=DateTimeField(),
        ),
        Value(NO_DEADLINE, output_field=DateTimeField()),
    )


def supervision_open_q():
    """Return the filter for open issues with a supervision (督办) not handled since (rules.SUPERVISION_HANDLED_BY)."""
    supervised = Event.objects.filter(issue_id=OuterRef("pk"), action="supervise")
    later = Event.objects.filter(
        issue_id=OuterRef("issue_id"), action__in=SUPERVISION_HANDLED_BY, at__gte=OuterRef("at")
    )
    return Q(status__in=Issue.OPEN_STATUSES) & Q(Exists(supervised.filter(~Exists(later))))


# --- keyset pages -------------------------------------------------------------------------------------------------


def _cursor_encode(values: list) -> str:
    raw = json.dumps([v.isoformat() if isinstance(v, datetime) else str(v) for v in values])
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


def _cursor_decode(cursor: str) -> tuple[datetime, str]:
    try:
        position, pk = json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
        at = parse_datetime(position)
        if at is None:
            raise ValueError
        return at, str(pk)
    except (ValueError, TypeError, json.JSONDecodeError):
        raise ValidationFailed.on(
            "cursor", gettext_noop("This page link is not valid any more; start from the first page.")
        ) from None


def _page(queryset: QuerySet, *, key: str, descending: bool, cursor: str | None, size: int) -> tuple[list, str | None]:
    """Return one keyset page of `queryset` ordered by (`key`, id) and the cursor of the next page."""
    size = max(1, min(int(size or PAGE_SIZE), MAX_PAGE_SIZE))
    order = [F(key).desc(), F("id").desc()] if descending else [F(key).asc(), F("id").asc()]
    queryset = queryset.order_by(*order)
    if cursor:
        at, pk = _cursor_decode(cursor)
        after = {f"{key}__lt" if descending else f"{key}__gt": at}
        tie = {"id__lt" if descending else "id__gt": pk}
        queryset = queryset.filter(Q(**after) | Q(**{key: at}, **tie))
    rows = list(queryset[: size + 1])
    more = len(rows) > size
    rows = rows[:size]
    return rows, (_cursor_encode([getattr(rows[-1], key), rows[-1].pk]) if more and rows else None)


def _filtered(queryset: QuerySet, params) -> QuerySet:
    if not params:  # the queue as it opens: no filter to build (a FilterSet and its form cost a millisecond)
        return queryset
    filters = DeskFilterSet(data=params or {}, queryset=queryset)
    if not filters.is_valid():
        raise ValidationFailed(
            gettext_noop("Check the filters."),
            fields={name: [str(m) for m in errors] for name, errors in filters.errors.items()},
        )
    return filters.qs


def _base(user) -> QuerySet:
    # Not the grid's boundary: a polygon decoded for every row, which no queue shows.
    return (
        issue_list_for_user(user=user)
        .select_related("grid")
        .defer("grid__boundary")
        .annotate(deadline=running_deadline())
    )


def issue_page_urls():
    """Return a function of an issue number to its page's URL: one reverse() for a whole page of rows."""
    marker = "GD-0"
    pattern = reverse("issue-detail", kwargs={"number": marker})
    return lambda number: pattern.replace(marker, number, 1)


def _labels(field: str) -> dict:
    """Return {value: label} of an Issue field's choices in the active language, once per page (a row's
    get_FOO_display() flattens the choices again on every call)."""
    return {value: str(label) for value, label in Issue._meta.get_field(field).flatchoices}


def _mark(rows: list[Issue], *, now: datetime, supervised: set | None = None) -> None:
    """Set on each row what the queue shows: overdue, how late, supervised, its page and its labels."""
    url = issue_page_urls()
    statuses, channels = _labels("status"), _labels("channel")
    # A column of its own, so it reads like the other headings' words: "Community", not "community" (社区 as it was).
    levels = {value: capfirst(label) for value, label in _labels("escalation_level").items()}
    for issue in rows:
        issue.page_url = url(issue.number)
        issue.status_label = statuses.get(issue.status, issue.status)
        issue.channel_label = channels.get(issue.channel, issue.channel)
        issue.level_label = levels.get(issue.escalation_level, issue.escalation_level)
        # Read by the row of every queue: set, so the template finds it instead of searching the model for it.
        issue.pending_extension = issue.likely_duplicates = issue.suggestion = None
        due = issue.deadline if issue.deadline != NO_DEADLINE else None
        issue.running_due_at = due
        issue.overdue = due is not None and due < now
        issue.late_by = (now - due) if issue.overdue else None
        late_hours = int(issue.late_by.total_seconds() // 3600) if issue.late_by else 0
        issue.late_days, issue.late_hours = divmod(late_hours, 24)
        issue.supervised = issue.supervised_open if supervised is None else issue.pk in supervised


def _supervised_ids(rows: list[Issue]) -> set:
    if not rows:
        return set()
    return set(Issue.objects.filter(supervision_open_q(), pk__in=[r.pk for r in rows]).values_list("pk", flat=True))


# --- triage -------------------------------------------------------------------------------------------------------

TRIAGE_TABS = {
    "new": Q(status=S.SUBMITTED),
    "open": Q(status__in=Issue.OPEN_STATUSES),
}


def desk_triage(*, user, tab: str = "new", params=None, cursor=None, size=PAGE_SIZE, now=None) -> QueuePage:
    """Return a page of the triage queue: the scope's open issues, newest first, with every tab's count.

    Tabs: `new` (submitted, waiting for triage) and `open` (every open state). Beside each new issue, its likely
    duplicates among the issues the viewer may see (issues.selectors' rule, read for the whole page at once).

    The counts, the page's rows and their duplicates are read once per issues' generation (_triage_remembered):
    what depends on the time of reading (overdue, how late) is worked out again for every request (_mark).
    """
    now = now or timezone.now()
    tab = tab if tab in TRIAGE_TABS else "new"
    params = {k: v for k, v in (params or {}).items() if k != "ordering"}
    # The queue shows none of the rows' dispatches, photos or ratings: no prefetch (three queries a page).
    queryset = _filtered(_base(user).prefetch_related(None), params)

    def count() -> dict:
        # Every tab holds open issues only: counting those alone lets the status index narrow a street's scan.
        return queryset.filter(status__in=Issue.OPEN_STATUSES).aggregate(
            **{name: Count("pk", filter=q) for name, q in TRIAGE_TABS.items()}
        )

    def read() -> tuple[list, str | None, dict]:
        # Whether each row's supervision is open, read with the rows (an EXISTS per row of the page, not a query).
        in_tab = queryset.filter(TRIAGE_TABS[tab]).annotate(
            supervised_open=ExpressionWrapper(supervision_open_q(), output_field=BooleanField())
        )
        rows, next_cursor = _page(in_tab, key="created_at", descending=True, cursor=cursor, size=size)
        duplicates = _page_duplicates(user=user, rows=[r for r in rows if r.status == S.SUBMITTED], now=now)
        return rows, next_cursor, duplicates

    counts, (rows, next_cursor, duplicates) = _triage_remembered(
        user, (tab, sorted(params.items()), cursor, size), count=count, read=read
    )
    _mark(rows, now=now)
    url = issue_page_urls()
    for row in rows:
        row.likely_duplicates = duplicates.get(row.pk, [])
        for duplicate in row.likely_duplicates:
            duplicate.page_url = url(duplicate.number)
    return QueuePage(tab=tab, rows=rows, counts=counts, next_cursor=next_cursor, duplicates=duplicates)


def _point(issue: Issue) -> tuple[float, float] | None:
    if issue.lat is not None and issue.lng is not None:
        return issue.lat, issue.lng
    return None


def _distance_m(a: tuple[float, float], b: tuple[float, float]) -> float:
    lat1, lng1, lat2, lng2 = map(math.radians, (*a, *b))
    h = math.sin((lat2 - lat1) / 2) ** 2 + math.cos(lat1) * math.cos(lat2) * math.sin((lng2 - lng1) / 2) ** 2
    return 2 * EARTH_RADIUS_M * math.asin(math.sqrt(h))


def _page_duplicates(*, user, rows: list[Issue], now: datetime) -> dict:
    """Return {issue pk: [likely duplicates]} for the page's new issues, in one query over their bounding box.

    The rule of issues.selectors.issue_likely_duplicates (open, recent, within the radius, same category once
    classified), applied to issues with coordinates; the issue page lists them in full.
    """
    points = {r.pk: _point(r) for r in rows if _point(r)}
    if not points:
        return {}
    radius = settings.GRIDDESK_DUPLICATE_RADIUS_M
    dlat = math.degrees(radius / EARTH_RADIUS_M)
    lats = [p[0] for p in points.values()]
    lngs = [p[1] for p in points.values()]
    dlng = dlat / max(math.cos(math.radians(max(abs(x) for x in lats))), 0.01)
    candidates = list(
        Issue.objects.visible_to(user)
        .filter(
            status__in=Issue.OPEN_STATUSES,
            created_at__gte=now - timedelta(days=settings.GRIDDESK_DUPLICATE_WINDOW_DAYS),
            lat__range=(min(lats) - dlat, max(lats) + dlat),
            lng__range=(min(lngs) - dlng, max(lngs) + dlng),
        )
        .only("id", "number", "status", "lat", "lng", "category_id", "created_at")
        .order_by("-created_at")[:500]
    )
    # Candidates by cell of the box's size: a row's box lies within the 3 × 3 cells around its own, so each row
    # compares with its neighbours only, not with every candidate of the page (50 × 500 distances in Python).
    cells: dict[tuple[int, int], list[tuple[int, Issue]]] = {}
    for order, candidate in enumerate(candidates):
        cells.setdefault((math.floor(candidate.lat / dlat), math.floor(candidate.lng / dlng)), []).append(
            (order, candidate)
        )
    found: dict = {}
    for row in rows:
        point = points.get(row.pk)
        if point is None:
            continue
        lat, lng = point
        i, j = math.floor(lat / dlat), math.floor(lng / dlng)
        around = sorted(pair for di in (-1, 0, 1) for dj in (-1, 0, 1) for pair in cells.get((i + di, j + dj), ()))
        near = [
            c
            for _order, c in around  # newest first, as the candidates were read
            if abs(c.lat - lat) <= dlat  # the box first: the exact distance only for the few inside it
            and abs(c.lng - lng) <= dlng
            and c.pk != row.pk
            and (row.category_id is None or c.category_id == row.category_id)
            and _distance_m(point, (c.lat, c.lng)) <= radius
        ]
        if near:
            found[row.pk] = near[:5]
    return found


# --- department ---------------------------------------------------------------------------------------------------

DEPARTMENT_TABS = ("awaiting", "in_progress", "overdue", "returned")


def _department_tabs(department_ids) -> dict[str, Q]:
    mine = Dispatch.objects.filter(issue_id=OuterRef("pk"), department_id__in=department_ids)
    active = mine.filter(active=True)
    return {
        "awaiting": Q(Exists(active.filter(status=Dispatch.Status.PENDING)))
        & Q(status__in=[S.DISPATCHED, S.IN_PROGRESS]),
        "in_progress": Q(Exists(active.filter(status=Dispatch.Status.ACCEPTED))) & Q(status=S.IN_PROGRESS),
        "overdue": Q(Exists(active)) & overdue_q(),
        "returned": Q(Exists(mine.filter(status=Dispatch.Status.RETURNED))),
    }


def desk_department(*, user, tab: str = "awaiting", params=None, cursor=None, size=PAGE_SIZE, now=None) -> QueuePage:
    """Return a page of a department's queue: what is dispatched to the viewer's departments, by tab.

    `awaiting` (their pending acceptance, oldest response deadline first), `in_progress` (accepted, oldest
    resolution deadline first), `overdue` (active and past a running deadline, oldest first), `returned` (they
    returned it, newest first).
    """
    now = now or timezone.now()
    tab = tab if tab in DEPARTMENT_TABS else "awaiting"
    params = {k: v for k, v in (params or {}).items() if k != "ordering"}
    tabs = _department_tabs(scope_for_user(user).department_ids)
    queryset = _filtered(_base(user), params)
    counts = queryset.aggregate(**{name: Count("pk", filter=q) for name, q in tabs.items()})
    in_tab = queryset.filter(tabs[tab])
    if tab == "returned":
        rows, next_cursor = _page(in_tab, key="created_at", descending=True, cursor=cursor, size=size)
    else:
        rows, next_cursor = _page(in_tab, key="deadline", descending=False, cursor=cursor, size=size)
    _mark(rows, now=now, supervised=_supervised_ids(rows))
    return QueuePage(tab=tab, rows=rows, counts=counts, next_cursor=next_cursor)


# --- escalations --------------------------------------------------------------------------------------------------

ESCALATION_TABS = ("escalated", "overdue", "extensions", "supervised")
# The level an officer's desk starts at: the street sees level 1 and up, the district level 2.
DESK_LEVELS = {Role.STREET_OFFICER: Issue.EscalationLevel.STREET, Role.DISTRICT_ADMIN: Issue.EscalationLevel.DISTRICT}


def desk_level(user) -> int:
    """Return the escalation level of the viewer's desk (the lowest of their supervising roles), else the street's."""
    levels = [DESK_LEVELS[role] for role, _ in scope_for_user(user).node_roles if role in DESK_LEVELS]
    return min(levels, default=Issue.EscalationLevel.STREET)


def _escalation_tabs(level: int, now: datetime) -> dict[str, Q]:
    pending = ExtensionRequest.objects.filter(issue_id=OuterRef("pk"), status=ExtensionRequest.Status.PENDING)
    is_open = Q(status__in=Issue.OPEN_STATUSES)
    return {
        "escalated": is_open & Q(escalation_level__gte=level),
        "overdue": is_open & (deadline_passed_q("resolution", now=now) | deadline_passed_q("response", now=now)),
        "extensions": Q(Exists(pending)) & Q(status__in=[S.DISPATCHED, S.IN_PROGRESS]),
        "supervised": supervision_open_q(),
    }


def _escalation_counts(queryset: QuerySet, tabs: dict[str, Q]) -> dict[str, int]:
    """Count each tab: the level and deadline tabs in one pass over the open issues, the other two from their rows.

    Pending extension requests and supervisions are few: counting them from their own rows (joined back to the
    scoped issues) costs two small queries where a per-issue EXISTS in the pass would probe every open issue.
    """
    is_open = queryset.filter(status__in=Issue.OPEN_STATUSES)
    counts = is_open.aggregate(**{name: Count("pk", filter=tabs[name]) for name in ("escalated", "overdue")})
    pending = ExtensionRequest.objects.filter(status=ExtensionRequest.Status.PENDING).values("issue_id")
    counts["extensions"] = queryset.filter(tabs["extensions"], pk__in=pending).count()
    supervised = Event.objects.filter(action="supervise").values("issue_id")
    counts["supervised"] = is_open.filter(tabs["supervised"], pk__in=supervised).count()
    return counts


def desk_escalations(*, user, tab: str = "escalated", params=None, cursor=None, size=PAGE_SIZE, now=None) -> QueuePage:
    """Return a page of the street's (or district's) escalation queue, the oldest running deadline first.

    `escalated`: open issues escalated to the viewer's level or above; `overdue`: open issues past a running
    deadline in their area; `extensions`: pending extension requests to approve or refuse; `supervised`: open
    supervisions (督办) not yet handled. Each row says its level and how late it is; `extensions` rows carry their
    pending request (`pending_extension`).
    """
    now = now or timezone.now()
    tab = tab if tab in ESCALATION_TABS else "escalated"
    params = {k: v for k, v in (params or {}).items() if k != "ordering"}
    tabs = _escalation_tabs(desk_level(user), now)
    queryset = _filtered(_base(user), params)
    counts = _escalation_counts(queryset, tabs)
    rows, next_cursor = _page(queryset.filter(tabs[tab]), key="deadline", descending=False, cursor=cursor, size=size)
    _mark(rows, now=now, supervised=_supervised_ids(rows))
    pending = {
        r.issue_id: r
        for r in ExtensionRequest.objects.filter(
            issue_id__in=[row.pk for row in rows], status=ExtensionRequest.Status.PENDING
        ).select_related("department")
    }
    for row in rows:
        row.pending_extension = pending.get(row.pk)
    return QueuePage(tab=tab, rows=rows, counts=counts, next_cursor=next_cursor)
