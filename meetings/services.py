"""Every write of the weekly meeting, each one function in one transaction that also appends its Record.

Who: staff holding community staff, street officer or district admin (orgs.models.TRIAGE_ROLES) at the meeting's
area or above it; anyone else is refused as if the area did not exist (NotFound), like an issue out of scope. A
finalised meeting refuses every change (InvalidTransition).
"""

from datetime import date

from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext

from config.errors import InvalidTransition, NotFound, ValidationFailed
from grids.models import Area
from issues.models import Issue
from meetings.agenda import MEETING_LEVELS, assignee_choices, hard_cases, monday_of, rising_categories
from meetings.models import Item, Meeting, Record
from orgs.models import TRIAGE_ROLES
from orgs.scoping import scope_for_user

TITLE_MAX = 300
DECISION_MAX = 2000
ISSUES_PER_ITEM_MAX = 10


def may_meet(*, user, area: Area) -> bool:
    """Return whether `user` may open, read and write the meetings of `area` (the one rule, used by the pages)."""
    return area.level in MEETING_LEVELS and bool(scope_for_user(user).roles_at(area.path) & TRIAGE_ROLES)


def _check(*, user, area: Area) -> None:
    if not may_meet(user=user, area=area):
        raise NotFound()


def _lock_open(*, meeting: Meeting, actor) -> Meeting:
    """Return the meeting locked for a change, or refuse: out of scope (NotFound), finalised (InvalidTransition)."""
    _check(user=actor, area=meeting.area)
    locked = Meeting.objects.select_for_update().select_related("area").get(pk=meeting.pk)
    if not locked.is_open:
        raise InvalidTransition(gettext("The minutes are finalised: they can no longer change."))
    return locked


def _record(*, meeting: Meeting, actor, action: str, item: Item | None = None, **data) -> None:
    Record.objects.create(meeting=meeting, item=item, actor=actor, action=action, data=data)


def _agenda_add_cases(*, meeting: Meeting, now) -> int:
    """Add the week's hard cases and rising categories not yet on the agenda; return how many were added."""
    on_agenda = set(Issue.objects.filter(meeting_items__meeting=meeting).values_list("pk", flat=True))
    categories = set(meeting.items.filter(source=Item.Source.CATEGORY).values_list("category_id", flat=True))
    position = meeting.items.count()
    added = 0
    for issue, reasons in hard_cases(area=meeting.area, week=meeting.week, now=now):
        if issue.pk in on_agenda:
            continue
        position += 1
        item = Item.objects.create(
            meeting=meeting,
            position=position,
            source=Item.Source.HARD_CASE,
            reasons=reasons,
        )
        item.issues.add(issue)
        added += 1
    for rise in rising_categories(area=meeting.area, week=meeting.week):
        if rise.category.pk in categories:
            continue
        position += 1
        Item.objects.create(
            meeting=meeting,
            position=position,
            source=Item.Source.CATEGORY,
            category=rise.category,
            reasons=[rise.this_week, round(rise.weekly_before, 1)],
            title=rise.category.name,
        )
        added += 1
    return added


def _carry_forward(*, meeting: Meeting) -> int:
    """Carry the items of the area's latest earlier meeting that were not marked done; return how many."""
    previous = Meeting.objects.filter(area=meeting.area, week__lt=meeting.week).order_by("-week").first()
    if previous is None:
        return 0
    carried = 0
    for old in (
        previous.items.exclude(outcome=Item.Outcome.DONE)
        .filter(carried_to__isnull=True)
        .prefetch_related("issues")
        .order_by("position", "id")
    ):
        carried += 1
        item = Item.objects.create(
            meeting=meeting,
            position=carried,
            source=Item.Source.CARRIED,
            reasons=old.reasons,
            title=old.title,
            category=old.category,
            carried_from=old,
            decision=old.decision,
            assignee_department=old.assignee_department,
            assignee_user=old.assignee_user,
            due_date=old.due_date,
        )
        item.issues.set(old.issues.all())
    return carried


def meeting_open(*, area: Area, week: date, actor, now=None) -> Meeting:
    """Open `area`'s meeting of the ISO week starting `week`: last meeting's open items first, then the week's cases.

    Opening an existing meeting returns it unchanged.
    """
    _check(user=actor, area=area)
    if week != monday_of(week):
        raise ValidationFailed.on("week", gettext("A meeting's week starts on a Monday."))
    now = now or timezone.now()
    with transaction.atomic():
        meeting, created = Meeting.objects.get_or_create(area=area, week=week, defaults={"opened_by": actor})
        if created:
            carried = _carry_forward(meeting=meeting)
            added = _agenda_add_cases(meeting=meeting, now=now)
            _record(meeting=meeting, actor=actor, action=Record.Action.OPEN, carried=carried, added=added)
    return meeting


def meeting_refresh(*, meeting: Meeting, actor, now=None) -> int:
    """Add the week's hard cases and rising categories that came up since the meeting opened; return how many."""
    with transaction.atomic():
        meeting = _lock_open(meeting=meeting, actor=actor)
        added = _agenda_add_cases(meeting=meeting, now=now or timezone.now())
        _record(meeting=meeting, actor=actor, action=Record.Action.REFRESH, added=added)
    return added


def item_add(*, meeting: Meeting, actor, title: str, issue_numbers: list[str] = ()) -> Item:
    """Add staff's own item, optionally linked to issues under the meeting's area that `actor` may see."""
    title = (title or "").strip()
    if not title:
        raise ValidationFailed.on("title", gettext("Say what the item is about."))
    if len(title) > TITLE_MAX:
        raise ValidationFailed.on("title", gettext("At most %(max)s characters.") % {"max": TITLE_MAX})
    numbers = list(dict.fromkeys(n.strip() for n in issue_numbers if n.strip()))
    if len(numbers) > ISSUES_PER_ITEM_MAX:
        raise ValidationFailed.on("issues", gettext("At most %(max)s issues per item.") % {"max": ISSUES_PER_ITEM_MAX})
    with transaction.atomic():
        meeting = _lock_open(meeting=meeting, actor=actor)
        issues = list(Issue.objects.visible_to(actor).under(meeting.area).filter(number__in=numbers))
        unknown = sorted(set(numbers) - {i.number for i in issues})
        if unknown:
            raise ValidationFailed.on(
                "issues",
                gettext("No issue under this area has the number %(numbers)s.") % {"numbers": ", ".join(unknown)},
            )
        item = Item.objects.create(
            meeting=meeting,
            position=meeting.items.count() + 1,
            source=Item.Source.STAFF,
            title=title,
            added_by=actor,
        )
        item.issues.set(issues)
        _record(meeting=meeting, actor=actor, action=Record.Action.ADD, item=item, title=title, issues=numbers)
    return item


def _item_locked(*, item: Item, actor) -> tuple[Meeting, Item]:
    meeting = _lock_open(meeting=item.meeting, actor=actor)
    return meeting, Item.objects.select_for_update().get(pk=item.pk, meeting=meeting)


def item_decide(*, item: Item, actor, decision: str, assignee: str = "", due_date: date | None = None) -> Item:
    """Record what was decided on `item` (议), who does it (`assignee`: "department:<code>" or "user:<id>", one of
    assignee_choices) and by when."""
    decision = (decision or "").strip()
    if not decision:
        raise ValidationFailed.on("decision", gettext("Say what was decided."))
    if len(decision) > DECISION_MAX:
        raise ValidationFailed.on("decision", gettext("At most %(max)s characters.") % {"max": DECISION_MAX})
    with transaction.atomic():
        meeting, item = _item_locked(item=item, actor=actor)
        if due_date is not None and due_date < meeting.week:
            raise ValidationFailed.on("due_date", gettext("The due date is before the meeting's week."))
        department = user = None
        if assignee:
            departments, users = assignee_choices(area=meeting.area)
            kind, _sep, key = assignee.partition(":")
            if kind == "department":
                department = next((d for d in departments if d.code == key), None)
            elif kind == "user":
                user = next((u for u in users if str(u.pk) == key), None)
            if department is None and user is None:
                raise ValidationFailed.on("assignee", gettext("Choose a department or a person of this area."))
        item.decision, item.due_date = decision, due_date
        item.assignee_department, item.assignee_user = department, user
        item.save(update_fields=["decision", "due_date", "assignee_department", "assignee_user"])
        _record(
            meeting=meeting,
            actor=actor,
            action=Record.Action.DECIDE,
            item=item,
            decision=decision,
            assignee=str(department.name if department else user.get_username() if user else ""),
            due_date=due_date.isoformat() if due_date else None,
        )
    return item


def item_review(*, item: Item, actor, outcome: str) -> Item:
    """Mark `item` done (it ends here) or carried (it comes back at the next meeting) (评)."""
    if outcome not in (Item.Outcome.DONE, Item.Outcome.CARRIED):
        raise ValidationFailed.on("outcome", gettext("Mark the item done or carried forward."))
    with transaction.atomic():
        meeting, item = _item_locked(item=item, actor=actor)
        item.outcome = outcome
        item.save(update_fields=["outcome"])
        _record(meeting=meeting, actor=actor, action=Record.Action.REVIEW, item=item, outcome=outcome)
    return item


def meeting_finalise(*, meeting: Meeting, actor) -> Meeting:
    """Finalise the minutes: from now on the meeting is read-only, its items not done carried into the next one."""
    with transaction.atomic():
        meeting = _lock_open(meeting=meeting, actor=actor)
        meeting.status, meeting.finalised_by, meeting.finalised_at = Meeting.Status.FINAL, actor, timezone.now()
        meeting.save(update_fields=["status", "finalised_by", "finalised_at"])
        _record(meeting=meeting, actor=actor, action=Record.Action.FINALISE)
    return meeting
