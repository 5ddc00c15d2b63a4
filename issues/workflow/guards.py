"""The steps every action shares: lock, scope, role, state and version checks, recording the event."""

from collections.abc import Iterable
from datetime import datetime

from django.db.models import F, Prefetch
from django.utils import timezone
from django.utils.translation import gettext_noop

from config.bulk import AnyOf  # noqa: F401  (registers `__any_of`, _record_many's)
from config.errors import InvalidTransition, Message, NotFound, StaleVersion, ValidationFailed
from grids.models import Area
from issues.arguments import clean_departments, issue_pk
from issues.events import event_record, events_record_many
from issues.models import Dispatch, Event, ExtensionRequest, Issue
from issues.workflow.rules import TRANSITIONS
from orgs.models import Department
from orgs.scoping import scope_for_user

# --- helpers ------------------------------------------------------------------------------------------------------


def _lock(*, issue, actor) -> Issue:
    """Return the issue row locked for this transaction with its dispatches, or NotFound if `actor` cannot see it."""
    # of=("self",): lock the issue and dispatch rows only, never the shared category and department rows.
    dispatches = Prefetch(
        "dispatches", queryset=Dispatch.objects.select_for_update(of=("self",)).select_related("department")
    )
    locked = (
        Issue.objects.select_for_update(of=("self",))
        .select_related("category")
        .prefetch_related(dispatches)
        .filter(pk=issue_pk(issue))
        .first()
    )
    if locked is None or not _can_see(actor=actor, issue=locked):
        raise NotFound(gettext_noop("No such issue."))
    return locked


def cannot(action: str, issue: Issue) -> InvalidTransition:
    """Return the refusal of `action` in the issue's current state (the action and the status by their API names)."""
    message = gettext_noop("Cannot %(action)s an issue that is %(status)s.")
    return InvalidTransition(Message(message, action=action.replace("_", " "), status=issue.status))


def _can_see(*, actor, issue: Issue) -> bool:
    return Issue.objects.visible_to(actor).filter(pk=issue.pk).exists()


def _check_state(*, issue: Issue, action: str) -> None:
    if issue.status not in TRANSITIONS[action].sources:
        raise cannot(action, issue)


def _check_version(*, issue: Issue, version) -> None:
    if version is None:
        return
    if isinstance(version, bool) or not isinstance(version, int):
        raise ValidationFailed.on("version", gettext_noop("Give the version as a whole number."))
    if version != issue.version:
        raise StaleVersion(
            Message(
                gettext_noop("The issue is at version %(current)s, not %(given)s."),
                current=issue.version,
                given=version,
            )
        )


def _active_dispatches(issue: Issue) -> list[Dispatch]:
    return [d for d in issue.dispatches.all() if d.active]


def _lead_dispatch(issue: Issue) -> Dispatch | None:
    return next((d for d in _active_dispatches(issue) if d.lead), None)


def _actor_dispatches(*, actor, issue: Issue) -> list[Dispatch]:
    """Return the active dispatches of the issue to departments the actor works in."""
    departments = scope_for_user(actor).department_ids
    return [d for d in _active_dispatches(issue) if d.department_id in departments]


def _is_lead_staff(*, actor, issue: Issue) -> bool:
    lead = _lead_dispatch(issue)
    return lead is not None and lead.department_id in scope_for_user(actor).department_ids


def _iso(value: datetime | None, tz=None) -> str | None:
    """Return `value` in the current time zone (or `tz`, read once by a caller writing many: reading it costs more
    than the conversion), ISO 8601."""
    return timezone.localtime(value, tz).isoformat() if value else None


def _record(*, issue: Issue, actor, action: str, from_status: str, note: str = "", internal=False, data=None) -> Event:
    """Bump the version, save the issue, record the event (and its outbox rows, issues.events).

    A new issue (a submission) is written by event_record with its event (one statement on PostgreSQL).
    """
    issue.version += 1
    if not issue._state.adding:
        issue.save()
    return event_record(
        issue=issue,
        actor=actor,
        action=action,
        from_status=from_status,
        to_status=issue.status,
        note=note,
        internal=internal,
        data=data,
    )


def _record_many(
    *, records: list[dict], changes: dict, rollups: bool = True, created_between: tuple | None = None
) -> list[Event]:
    """Do what _record does for many issues at once (a sweep's), one event each, their statuses unchanged.

    `records`: {"issue", "actor", "action", "data"} per issue, each issue already changed in memory; `changes`: the
    same change as column expressions, applied to all their rows in one UPDATE (with the version bump);
    `rollups=False`: the caller counts the change in the statistics rollups itself (issues.rollups);
    `created_between`: the span of the issues' created_at, named in the UPDATE (partition pruning: see
    issues.workflow.issues_escalate_overdue).
    """
    issues = [record["issue"] for record in records]
    at = timezone.now()
    rows = Issue.objects.filter(pk__any_of=[issue.pk for issue in issues])
    if created_between is not None:
        rows = rows.filter(created_at__range=created_between)
    rows.update(**changes, version=F("version") + 1, updated_at=at)
    for issue in issues:
        issue.version += 1
        issue.updated_at = at
    from issues.desks import desk_counts_forget  # the UPDATE sends no signal: the desks read these issues again

    desk_counts_forget()
    return events_record_many(
        rollups=rollups,
        records=[
            {**record, "from_status": record["issue"].status, "to_status": record["issue"].status} for record in records
        ],
    )


def _departments_of_district(*, issue: Issue, values, field: str) -> list[Department]:
    """Return the departments named by `values`; an issue is handled by departments of its own district."""
    departments = clean_departments(values, field=field)
    foreign = [d.code for d in departments if d.district.code != issue.district_code]
    if foreign:
        raise ValidationFailed.on(
            field,
            Message(gettext_noop("Not a department of the issue's district: %(codes)s."), codes=", ".join(foreign)),
        )
    return departments


def _department_data(dispatches: Iterable[Dispatch]) -> dict:
    dispatches = list(dispatches)
    return {
        "departments": [d.department.code for d in dispatches],
        "department_ids": [d.department_id for d in dispatches],
    }


def _restart_dispatches(issue: Issue) -> list[Dispatch]:
    """Ask every active department to accept again (a reopened issue goes back to them); return them."""
    active = _active_dispatches(issue)
    for dispatch in active:
        dispatch.status = Dispatch.Status.PENDING
        dispatch.accepted_at = None
        dispatch.save(update_fields=["status", "accepted_at"])
    return active


def _settle_departed_extensions(*, issue: Issue, actor, now: datetime, active=None) -> dict:
    """Refuse the pending extension request of a department no longer dispatched on the issue; return event data.

    A request lives with its department's dispatch: once that department returned the issue or a new round left it
    out, nobody may approve its request, and it must not block the next department's own (one pending at a time).
    """
    departments = {d.department_id for d in (_active_dispatches(issue) if active is None else active)}
    pending = issue.extensions.select_for_update().filter(status=ExtensionRequest.Status.PENDING).first()
    if pending is None or pending.department_id is None or pending.department_id in departments:
        return {}
    pending.status, pending.decided_by, pending.decided_at = ExtensionRequest.Status.REJECTED, actor, now
    pending.save(update_fields=["status", "decided_by", "decided_at"])
    return {"settled_extension_id": pending.pk}


def _place(issue: Issue, *, grid: Area, building: Area | None) -> None:
    """Put the issue at its grid (and building) with the copied path and codes that scoped queries read."""
    place = building or grid
    issue.grid, issue.building = grid, building
    issue.area_path = place.path
    issue.district_code = place.ancestor_code(Area.Level.DISTRICT)
    issue.street_code = place.ancestor_code(Area.Level.STREET)
    issue.community_code = place.ancestor_code(Area.Level.COMMUNITY)
    issue.grid_code = grid.code
    issue.building_code = building.code if building else ""
