"""Reads of the weekly meeting: the week's hard cases and rising categories of an area, and who may be assigned.

The population is the one of issues.stats (issues at or under the area, local Asia/Shanghai dates); a hard case of
the week is an issue under the area that, during the week,

- was escalated (an `escalate` event, by a sweep or on purpose),
- was reopened (a `reopen` event, or a rating of 1–2, which sends it back to its departments),
- got a rating of 1–2 (Rating.SATISFIED_MIN),
- or is overdue at the week's end (issues.sla.overdue_q; for the running week: now).

A rising category is one whose intake this week rose most against the weekly average of the CATEGORY_WEEKS weeks
before (at least CATEGORY_MIN_RISE more, at most CATEGORY_TOP of them). Each read is one query.
"""

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta

from django.contrib.auth import get_user_model
from django.db.models import Count, Q, TextChoices
from django.utils.translation import gettext_lazy as _

from grids.models import PATH_SEPARATOR, Area, subtree_q
from issues.models import Category, Event, Issue, Rating
from issues.sla import LOCAL_TZ, overdue_q
from issues.workflow.rules import RATE_REOPEN_TARGET
from orgs.models import NODE_ROLES, Department
from orgs.scoping import ancestor_paths

# The levels that hold a weekly meeting.
MEETING_LEVELS = (Area.Level.COMMUNITY, Area.Level.STREET)
# How many weeks before the meeting's week a category's intake is compared with, and how much it must rise.
CATEGORY_WEEKS = 4
CATEGORY_MIN_RISE = 2
CATEGORY_TOP = 3
# A street's week can hold many hard cases; the paper on the table lists the most pressing ones.
HARD_CASES_MAX = 40


class HardCase(TextChoices):
    """Why an issue is a hard case of the week (in this order on the paper)."""

    ESCALATED = "escalated", _("escalated")
    REOPENED = "reopened", _("reopened")
    OVERDUE = "overdue", _("overdue")
    RATED_LOW = "rated_low", _("rated 1–2")


def monday_of(day: date) -> date:
    """Return the Monday of `day`'s ISO week."""
    return day - timedelta(days=day.weekday())


def week_bounds(monday: date) -> tuple[datetime, datetime]:
    """Return the local start of `monday` and of the next Monday."""
    start = datetime.combine(monday, time.min, LOCAL_TZ)
    return start, start + timedelta(days=7)


def hard_cases(*, area: Area, week: date, now: datetime) -> list[tuple[Issue, list[str]]]:
    """Return the week's hard cases under `area` with their reasons, most reasons first (at most HARD_CASES_MAX)."""
    start, end = week_bounds(week)
    during = Q(at__gte=start, at__lt=end)
    reasons: dict = {}
    reopened = Q(action=Event.Action.REOPEN) | Q(action=Event.Action.RATE, to_status=RATE_REOPEN_TARGET)
    events = Event.objects.filter(
        subtree_q("issue__area_path", area.path), during, Q(action=Event.Action.ESCALATE) | reopened
    ).values_list("issue_id", "action")
    for issue_id, action in events:
        reasons.setdefault(issue_id, set()).add(
            HardCase.ESCALATED if action == Event.Action.ESCALATE else HardCase.REOPENED
        )
    low = Rating.objects.filter(
        subtree_q("issue__area_path", area.path),
        score__lt=Rating.SATISFIED_MIN,
        created_at__gte=start,
        created_at__lt=end,
    ).values_list("issue_id", flat=True)
    for issue_id in low:
        reasons.setdefault(issue_id, set()).add(HardCase.RATED_LOW)
    overdue = Issue.objects.under(area).filter(overdue_q(now=min(now, end))).values_list("pk", flat=True)
    for issue_id in overdue:
        reasons.setdefault(issue_id, set()).add(HardCase.OVERDUE)
    if not reasons:
        return []
    issues = Issue.objects.filter(pk__in=list(reasons)).select_related("category", "grid")
    order = list(HardCase.values)
    found = [(issue, sorted(reasons[issue.pk], key=order.index)) for issue in issues]
    found.sort(key=lambda pair: (-len(pair[1]), order.index(pair[1][0]), pair[0].number))
    return found[:HARD_CASES_MAX]


@dataclass(frozen=True)
class CategoryRise:
    category: Category
    this_week: int
    weekly_before: float  # the average of the CATEGORY_WEEKS weeks before

    @property
    def rise(self) -> float:
        return self.this_week - self.weekly_before


def rising_categories(*, area: Area, week: date) -> list[CategoryRise]:
    """Return the categories whose intake under `area` rose most this week against the weeks before (one query)."""
    start, end = week_bounds(week)
    before = start - timedelta(days=7 * CATEGORY_WEEKS)
    rows = (
        Issue.objects.under(area)
        .filter(created_at__gte=before, created_at__lt=end, category__isnull=False)
        .values("category_id")
        .order_by()
        .annotate(
            this_week=Count("pk", filter=Q(created_at__gte=start)),
            earlier=Count("pk", filter=Q(created_at__lt=start)),
        )
    )
    rises = {r["category_id"]: (r["this_week"], r["earlier"] / CATEGORY_WEEKS) for r in rows}
    rises = {cid: v for cid, v in rises.items() if v[0] - v[1] >= CATEGORY_MIN_RISE}
    if not rises:
        return []
    categories = Category.objects.in_bulk(list(rises))
    found = [CategoryRise(categories[cid], this, avg) for cid, (this, avg) in rises.items()]
    found.sort(key=lambda r: (-r.rise, r.category.code))
    return found[:CATEGORY_TOP]


def assignee_choices(*, area: Area) -> tuple[list[Department], list]:
    """Return who an item of `area`'s meeting may be given to: the district's active departments, and the people
    holding a territory role at the area, under it or above it (two queries)."""
    district_code = area.path.split(PATH_SEPARATOR)[0]
    departments = list(Department.objects.filter(district__code=district_code, is_active=True).order_by("code"))
    at_or_under = subtree_q("memberships__area__path", area.path)
    above = Q(memberships__area__path__in=ancestor_paths(area.path))
    users = list(
        get_user_model()
        .objects.filter((at_or_under | above) & Q(memberships__role__in=NODE_ROLES), is_active=True)
        .distinct()
        .order_by("username")
    )
    return departments, users


def meeting_areas_for(scope_paths: list[str]) -> list[Area]:
    """Return the areas that hold meetings at or under `scope_paths` (a street and its communities), by path."""
    if not scope_paths:
        return []
    q = Q(pk__in=[])
    for path in scope_paths:
        q |= subtree_q("path", path)
    return list(Area.objects.filter(q, level__in=MEETING_LEVELS).order_by("path"))
