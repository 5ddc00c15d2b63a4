"""The issue lifecycle: the transition table and one function per action of API.md (the only writer of status).

Every action runs in one transaction and in the same order:

1. lock the issue row and its dispatches (select_for_update), so two actors racing on one issue are serialised;
2. scope: an issue the actor cannot see (orgs.scoping) is NotFound, exactly as one that does not exist;
3. role: the actor's roles that reach the issue (orgs.scoping.roles_on_issue) against the action → PermissionDenied;
4. state: the transition table → InvalidTransition;
5. version: a caller's stale `version` → StaleVersion;
6. arguments → ValidationFailed(fields=…);
7. apply, bump `version`, write the Event and its outbox rows (notifications.outbox.outbox_write).
"""

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.db import transaction
from django.db.models import Prefetch
from django.utils import timezone

from grids.models import Area
from issues.arguments import (
    clean_bool,
    clean_category,
    clean_coordinates,
    clean_departments,
    clean_int,
    clean_kind,
    clean_phone,
    clean_text,
    is_within,
    issue_pk,
    route_report,
)
from issues.errors import InvalidTransition, NotFound, PermissionDenied, StaleVersion, ValidationFailed
from issues.models import Category, Dispatch, Event, ExtensionRequest, Issue, Kind, Rating
from issues.numbering import issue_number_next
from issues.sla import add_workdays, deadlines_for
from notifications.outbox import outbox_write
from orgs.models import SUPERVISOR_ROLES, TRIAGE_ROLES, Department, Role
from orgs.scoping import roles_on_issue, scope_for_user

S = Issue.Status


@dataclass(frozen=True)
class Transition:
    """The states an action may start from, and where it leads (None: the status does not change)."""

    sources: frozenset[str]
    target: str | None


ANY_STATE = frozenset(S.values)
OPEN = frozenset(Issue.OPEN_STATUSES)

# The transition table (DESIGN.md's diagram, API.md's action table). Nothing else assigns Issue.status.
TRANSITIONS: dict[str, Transition] = {
    "submit": Transition(frozenset(), S.SUBMITTED),
    "classify": Transition(frozenset({S.SUBMITTED}), S.CLASSIFIED),
    "dispatch": Transition(frozenset({S.CLASSIFIED}), S.DISPATCHED),
    # The lead's acceptance starts the work; a co-handling (or summoned) department may accept later too.
    "accept": Transition(frozenset({S.DISPATCHED, S.IN_PROGRESS}), S.IN_PROGRESS),
    "return": Transition(frozenset({S.DISPATCHED}), S.CLASSIFIED),
    "resolve": Transition(frozenset({S.IN_PROGRESS}), S.RESOLVED),
    # Score 3–5 closes; 1–2 sends it back to the departments (see RATE_REOPEN_TARGET).
    "rate": Transition(frozenset({S.RESOLVED}), S.CLOSED),
    "reopen": Transition(frozenset({S.RESOLVED, S.CLOSED}), S.DISPATCHED),
    "reject": Transition(frozenset({S.SUBMITTED, S.CLASSIFIED}), S.REJECTED),
    "escalate": Transition(OPEN, None),
    "extend": Transition(frozenset({S.DISPATCHED, S.IN_PROGRESS}), None),
    "approve_extension": Transition(frozenset({S.DISPATCHED, S.IN_PROGRESS}), None),
    "comment": Transition(ANY_STATE, None),
    # The system's own: unrated resolved issues close after GRIDDESK_AUTO_CLOSE_DAYS (issues.escalation).
    "auto_close": Transition(frozenset({S.RESOLVED}), S.CLOSED),
}
RATE_REOPEN_TARGET = S.DISPATCHED

DEPARTMENT = frozenset({Role.DEPARTMENT_STAFF})
# Who may take each action (API.md's "who"), as roles reaching the issue (orgs.scoping.roles_on_issue); the action
# then narrows department staff to the departments it concerns. Rate: the reporter only. Comment: anyone who can
# see the issue; internal notes: anyone with a role on it.
ACTION_ROLES: dict[str, frozenset[str]] = {
    "classify": TRIAGE_ROLES,
    "dispatch": TRIAGE_ROLES,
    "reject": TRIAGE_ROLES,
    "reopen": TRIAGE_ROLES,
    "escalate": TRIAGE_ROLES,  # summoning departments (吹哨): SUPERVISOR_ROLES
    "accept": DEPARTMENT,  # a department with a pending dispatch
    "return": DEPARTMENT,  # the lead department
    "resolve": TRIAGE_ROLES | DEPARTMENT,  # department staff: the lead department
    "extend": SUPERVISOR_ROLES | DEPARTMENT,  # department staff: a dispatched department, as a request
    "approve_extension": SUPERVISOR_ROLES,
}

MAX_ESCALATION_LEVEL = Issue.EscalationLevel.DISTRICT
DESCRIPTION_MIN, DESCRIPTION_MAX = 5, 4000
EXTEND_MIN, EXTEND_MAX = 1, 30


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
        raise NotFound("No such issue.")
    return locked


def _can_see(*, actor, issue: Issue) -> bool:
    return Issue.objects.visible_to(actor).filter(pk=issue.pk).exists()


def _check_state(*, issue: Issue, action: str) -> None:
    if issue.status not in TRANSITIONS[action].sources:
        raise InvalidTransition(f"Cannot {action.replace('_', ' ')} an issue that is {issue.status}.")


def _check_version(*, issue: Issue, version) -> None:
    if version is None:
        return
    if isinstance(version, bool) or not isinstance(version, int):
        raise ValidationFailed.on("version", "Give the version as a whole number.")
    if version != issue.version:
        raise StaleVersion(f"The issue is at version {issue.version}, not {version}.")


def _require_roles(*, actor, issue: Issue, action: str) -> set[str]:
    roles = roles_on_issue(actor, issue)
    if not roles & ACTION_ROLES[action]:
        raise PermissionDenied()
    return roles


def _active_dispatches(issue: Issue) -> list[Dispatch]:
    return [d for d in issue.dispatches.all() if d.active]


def _lead_dispatch(issue: Issue) -> Dispatch | None:
    return next((d for d in _active_dispatches(issue) if d.lead), None)


def _actor_dispatches(*, actor, issue: Issue) -> list[Dispatch]:
    """Return the active dispatches of the issue to departments the actor works in."""
    departments = scope_for_user(actor).department_ids
    return [d for d in _active_dispatches(issue) if d.department_id in departments]


def _handles(*, actor, issue: Issue) -> bool:
    """Return whether `actor` handles the issue: a node role above it, or a department dispatched on it now.

    Internal notes are written and read by the same people (issues.api.masking.handles_issue reads the same rule):
    a department whose dispatch was returned or retired still sees the issue, but no longer handles it.
    """
    return bool(roles_on_issue(actor, issue) - DEPARTMENT) or bool(_actor_dispatches(actor=actor, issue=issue))


def _is_lead_staff(*, actor, issue: Issue) -> bool:
    lead = _lead_dispatch(issue)
    return lead is not None and lead.department_id in scope_for_user(actor).department_ids


def _iso(value: datetime | None) -> str | None:
    return timezone.localtime(value).isoformat() if value else None


def _record(*, issue: Issue, actor, action: str, from_status: str, note: str = "", internal=False, data=None) -> Event:
    """Bump the version, save the issue, write the event and its outbox rows."""
    issue.version += 1
    issue.save()
    event = Event.objects.create(
        issue=issue,
        actor=actor,
        action=action,
        from_status=from_status,
        to_status=issue.status,
        note=note,
        internal=internal,
        data=data or {},
    )
    outbox_write(event=event)
    return event


def _departments_of_district(*, issue: Issue, values, field: str) -> list[Department]:
    """Return the departments named by `values`; an issue is handled by departments of its own district."""
    departments = clean_departments(values, field=field)
    foreign = [d.code for d in departments if d.district.code != issue.district_code]
    if foreign:
        raise ValidationFailed.on(field, f"Not a department of the issue's district: {', '.join(foreign)}.")
    return departments


def _department_data(dispatches: Iterable[Dispatch]) -> dict:
    dispatches = list(dispatches)
    return {
        "departments": [d.department.code for d in dispatches],
        "departments_ids": [d.department_id for d in dispatches],
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


# --- submit -------------------------------------------------------------------------------------------------------


def issue_submit(
    *,
    actor,
    description,
    grid=None,
    building=None,
    lat=None,
    lng=None,
    title="",
    kind=None,
    category=None,
    urgent=False,
    address="",
    reporter_name="",
    reporter_phone="",
    external_id="",
) -> Issue:
    """Create an issue in `submitted`, routed to its grid, numbered, with its event: anyone may.

    Nobody signed in (a resident on the web form, the hotline's walk-in) must give the reporter's phone so staff can
    call back, as must a partner app; such an issue has no reporter account and its event no actor.
    """
    anonymous = actor is None or not getattr(actor, "is_authenticated", False)
    actor = None if anonymous else actor
    scope = scope_for_user(actor)
    description = clean_text(
        description, field="description", required=True, min_length=DESCRIPTION_MIN, max_length=DESCRIPTION_MAX
    )
    title = clean_text(title, field="title", max_length=200)
    address = clean_text(address, field="address", max_length=300)
    reporter_name = clean_text(reporter_name, field="reporter_name", max_length=60)
    reporter_phone = clean_phone(reporter_phone, field="reporter_phone")
    external_id = clean_text(external_id, field="external_id", max_length=100)
    if scope.is_partner and not reporter_phone:
        raise ValidationFailed.on("reporter_phone", "A partner app must give the reporter's phone.")
    if anonymous and not reporter_phone:
        raise ValidationFailed.on("reporter_phone", "Give your phone number so that staff can call you back.")
    kind = clean_kind(kind)
    category = clean_category(category)
    urgent = bool(clean_bool(urgent, field="urgent"))
    lat, lng = clean_coordinates(lat, lng)
    grid, building = route_report(grid=grid, building=building, lat=lat, lng=lng)
    place = building or grid
    if scope.is_partner and not is_within(place, scope.partner_area_path):
        raise ValidationFailed.on("location", "This place is outside the partner app's scope.")

    with transaction.atomic():
        issue = Issue(
            number=issue_number_next(),
            status=TRANSITIONS["submit"].target,
            kind=kind or (category.kind if category else Kind.COMPLAINT),
            category=category,
            urgent=urgent,
            title=title,
            description=description,
            lat=lat,
            lng=lng,
            address=address,
            reporter_user=actor,
            reporter_name=reporter_name,
            reporter_phone=reporter_phone,
            external_id=external_id,
            version=0,  # _record bumps it to 1
        )
        _place(issue, grid=grid, building=building)
        data = {"number": issue.number, **({"anonymous": True} if anonymous else {})}
        _record(issue=issue, actor=actor, action="submit", from_status="", data=data)
    return issue


# --- triage -------------------------------------------------------------------------------------------------------


def issue_classify(*, issue, actor, category, kind=None, urgent=None, grid=None, building=None, version=None) -> Issue:
    """Set the category (and kind, urgency, place) and start both deadlines: community staff and up, from submitted."""
    with transaction.atomic():
        issue = _lock(issue=issue, actor=actor)
        _require_roles(actor=actor, issue=issue, action="classify")
        _check_state(issue=issue, action="classify")
        _check_version(issue=issue, version=version)
        category = clean_category(category)
        if category is None:
            raise ValidationFailed.on("category", "This field is required.")
        kind = clean_kind(kind)
        urgent = clean_bool(urgent, field="urgent")
        if grid not in (None, "") or building not in (None, ""):
            new_grid, new_building = route_report(grid=grid, building=building, lat=None, lng=None)
            place = new_building or new_grid
            # Re-routing a misplaced report stays within the district whose departments handle it.
            if place.ancestor_code(Area.Level.DISTRICT) != issue.district_code:
                raise ValidationFailed.on("grid", "Move the issue within its district only.")
            _place(issue, grid=new_grid, building=new_building)

        from_status, now = issue.status, timezone.now()
        issue.category = category
        issue.kind = kind or issue.kind
        if urgent is not None:
            issue.urgent = urgent
        issue.response_due_at, issue.resolution_due_at = deadlines_for(
            category=category, urgent=issue.urgent, start=now
        )
        issue.classified_at = now
        issue.status = TRANSITIONS["classify"].target
        _record(
            issue=issue,
            actor=actor,
            action="classify",
            from_status=from_status,
            data={
                "category": category.code,
                "urgent": issue.urgent,
                "response_due_at": _iso(issue.response_due_at),
                "resolution_due_at": _iso(issue.resolution_due_at),
            },
        )
    return issue


def issue_dispatch(*, issue, actor, departments, lead=None, note="", version=None) -> Issue:
    """Send a classified issue to one or several departments, one of them the lead: community staff and up."""
    with transaction.atomic():
        issue = _lock(issue=issue, actor=actor)
        _require_roles(actor=actor, issue=issue, action="dispatch")
        _check_state(issue=issue, action="dispatch")
        _check_version(issue=issue, version=version)
        departments = _departments_of_district(issue=issue, values=departments, field="departments")
        if not departments:
            raise ValidationFailed.on("departments", "Name at least one department.")
        note = clean_text(note, field="note")
        lead = _lead_of(departments, lead=lead, category=issue.category)

        # A new round: what an earlier round (returned, summoned) left active is retired, kept for history.
        for old in _active_dispatches(issue):
            old.active = False
            old.save(update_fields=["active"])
        created = [
            Dispatch.objects.create(issue=issue, department=d, lead=d.pk == lead.pk, note=note) for d in departments
        ]
        from_status = issue.status
        issue.status = TRANSITIONS["dispatch"].target
        issue.dispatched_at = timezone.now()
        data = {**_department_data(created), "lead": lead.code}
        data.update(_settle_departed_extensions(issue=issue, actor=actor, now=issue.dispatched_at, active=created))
        _record(issue=issue, actor=actor, action="dispatch", from_status=from_status, note=note, data=data)
        issue._prefetched_objects_cache.pop("dispatches", None)
    return issue


def _lead_of(departments: list[Department], *, lead, category: Category | None) -> Department:
    """Return the lead: the one named, else the category's department if dispatched, else the first."""
    if lead not in (None, ""):
        code = lead.code if isinstance(lead, Department) else str(lead)
        chosen = next((d for d in departments if d.code == code), None)
        if chosen is None:
            raise ValidationFailed.on("lead", "The lead must be one of the departments.")
        return chosen
    if category is not None and category.department_id:
        chosen = next((d for d in departments if d.pk == category.department_id), None)
        if chosen is not None:
            return chosen
    return departments[0]


def issue_reject(*, issue, actor, reason, duplicate_of=None, note="", version=None) -> Issue:
    """Reject a submitted or classified issue as invalid, out of scope or a duplicate: community staff and up."""
    with transaction.atomic():
        issue = _lock(issue=issue, actor=actor)
        _require_roles(actor=actor, issue=issue, action="reject")
        _check_state(issue=issue, action="reject")
        _check_version(issue=issue, version=version)
        if reason not in Issue.RejectReason.values:
            raise ValidationFailed.on("reason", f"Must be one of {', '.join(Issue.RejectReason.values)}.")
        note = clean_text(note, field="note")
        original = None
        if reason == Issue.RejectReason.DUPLICATE:
            original = _duplicate_target(issue=issue, actor=actor, duplicate_of=duplicate_of)
        elif duplicate_of not in (None, ""):
            raise ValidationFailed.on("duplicate_of", "Only a duplicate names the issue it repeats.")

        from_status, now = issue.status, timezone.now()
        issue.status = TRANSITIONS["reject"].target
        issue.reject_reason = reason
        issue.duplicate_of = original
        # It leaves the open states for good: the retention clock starts, as for a closed issue.
        issue.closed_at = now
        data = {"reason": reason}
        if original is not None:
            data.update(duplicate_of=str(original.pk), duplicate_of_number=original.number)
        _record(issue=issue, actor=actor, action="reject", from_status=from_status, note=note, data=data)
    return issue


def _duplicate_target(*, issue: Issue, actor, duplicate_of) -> Issue:
    if duplicate_of in (None, ""):
        raise ValidationFailed.on("duplicate_of", "Name the issue this one repeats.")
    original = Issue.objects.visible_to(actor).filter(pk=issue_pk(duplicate_of)).first()
    if original is None:
        raise ValidationFailed.on("duplicate_of", "No such issue.")
    if original.pk == issue.pk:
        raise ValidationFailed.on("duplicate_of", "An issue cannot duplicate itself.")
    if original.status == S.REJECTED:
        raise ValidationFailed.on("duplicate_of", "The original issue was rejected; name the one it repeats.")
    return original


# --- handling -----------------------------------------------------------------------------------------------------


def issue_accept(*, issue, actor, department=None, version=None) -> Issue:
    """Record a department's acceptance (报到); the lead's moves the issue to in_progress: its department staff."""
    with transaction.atomic():
        issue = _lock(issue=issue, actor=actor)
        _require_roles(actor=actor, issue=issue, action="accept")
        _check_state(issue=issue, action="accept")
        _check_version(issue=issue, version=version)
        mine = _actor_dispatches(actor=actor, issue=issue)
        if department not in (None, ""):
            code = department.code if isinstance(department, Department) else str(department)
            mine = [d for d in mine if d.department.code == code]
        if not mine:
            raise PermissionDenied("The issue is not dispatched to your department.")
        pending = [d for d in mine if d.status == Dispatch.Status.PENDING]
        if not pending:
            raise InvalidTransition("Your department has already accepted this issue.")
        if len(pending) > 1:
            raise ValidationFailed.on("department", "You belong to several dispatched departments: name one.")
        dispatch, now = pending[0], timezone.now()
        dispatch.status = Dispatch.Status.ACCEPTED
        dispatch.accepted_at = now
        dispatch.save(update_fields=["status", "accepted_at"])

        from_status = issue.status
        if dispatch.lead and issue.status == S.DISPATCHED:
            issue.status = TRANSITIONS["accept"].target
            issue.accepted_at = now
        _record(
            issue=issue,
            actor=actor,
            action="accept",
            from_status=from_status,
            data={
                "department": dispatch.department.code,
                "department_id": dispatch.department_id,
                "lead": dispatch.lead,
            },
        )
    return issue


def issue_return(*, issue, actor, reason, version=None) -> Issue:
    """Send a misrouted issue back to triage with a reason (退单): staff of the lead department, before accepting."""
    with transaction.atomic():
        issue = _lock(issue=issue, actor=actor)
        _require_roles(actor=actor, issue=issue, action="return")
        _check_state(issue=issue, action="return")
        if not _is_lead_staff(actor=actor, issue=issue):
            raise PermissionDenied("Only the lead department may return the issue.")
        _check_version(issue=issue, version=version)
        reason = clean_text(reason, field="reason", required=True)

        now, lead = timezone.now(), _lead_dispatch(issue)
        for dispatch in _active_dispatches(issue):
            dispatch.active = False
            fields = ["active"]
            if dispatch.pk == lead.pk:
                dispatch.status, dispatch.return_reason, dispatch.returned_at = Dispatch.Status.RETURNED, reason, now
                fields += ["status", "return_reason", "returned_at"]
            dispatch.save(update_fields=fields)
        data = {"department": lead.department.code, "reason": reason}
        data.update(_settle_departed_extensions(issue=issue, actor=actor, now=now))
        from_status = issue.status
        issue.status = TRANSITIONS["return"].target
        _record(issue=issue, actor=actor, action="return", from_status=from_status, note=reason, data=data)
    return issue


def issue_resolve(*, issue, actor, note, version=None) -> Issue:
    """Report the result of an issue in progress: staff of the lead department, or community staff and up."""
    with transaction.atomic():
        issue = _lock(issue=issue, actor=actor)
        roles = _require_roles(actor=actor, issue=issue, action="resolve")
        _check_state(issue=issue, action="resolve")
        if not roles & TRIAGE_ROLES and not _is_lead_staff(actor=actor, issue=issue):
            raise PermissionDenied("Only the lead department or community staff may resolve the issue.")
        _check_version(issue=issue, version=version)
        note = clean_text(note, field="note", required=True)

        from_status = issue.status
        issue.status = TRANSITIONS["resolve"].target
        issue.resolved_at = timezone.now()
        _record(issue=issue, actor=actor, action="resolve", from_status=from_status, note=note)
    return issue


def issue_rate(*, issue, actor, score, comment="", version=None) -> Issue:
    """Rate a resolved issue 1–5: 3–5 closes it, 1–2 reopens it to its departments; only its reporter."""
    with transaction.atomic():
        issue = _lock(issue=issue, actor=actor)
        if actor is None or issue.reporter_user_id != actor.pk:
            raise PermissionDenied("Only the reporter rates the result.")
        _check_state(issue=issue, action="rate")
        _check_version(issue=issue, version=version)
        clean_int(score, field="score", low=1, high=5, message="Give a whole number from 1 to 5.")
        comment = clean_text(comment, field="comment")

        rating = Rating.objects.create(issue=issue, score=score, comment=comment, rated_by=actor)
        from_status, now = issue.status, timezone.now()
        data = {"score": score, "rating_id": rating.pk, "satisfied": rating.satisfied}
        if rating.satisfied:
            issue.status = TRANSITIONS["rate"].target
            issue.closed_at, issue.closed_how = now, "rated"
        else:
            issue.status = RATE_REOPEN_TARGET
            issue.reopen_count += 1
            data.update(_department_data(_restart_dispatches(issue)))
        _record(issue=issue, actor=actor, action="rate", from_status=from_status, note=comment, data=data)
    return issue


def issue_reopen(*, issue, actor, reason, version=None) -> Issue:
    """Send a resolved or closed issue back to its departments with a reason: community staff and up."""
    with transaction.atomic():
        issue = _lock(issue=issue, actor=actor)
        _require_roles(actor=actor, issue=issue, action="reopen")
        _check_state(issue=issue, action="reopen")
        _check_version(issue=issue, version=version)
        reason = clean_text(reason, field="reason", required=True)

        from_status = issue.status
        issue.status = TRANSITIONS["reopen"].target
        issue.reopen_count += 1
        # No longer closed: the retention clock (closed_at) stops until it closes again.
        issue.closed_at, issue.closed_how = None, ""
        data = _department_data(_restart_dispatches(issue))
        _record(issue=issue, actor=actor, action="reopen", from_status=from_status, note=reason, data=data)
    return issue


# --- supervision --------------------------------------------------------------------------------------------------


def issue_escalate(*, issue, actor, note="", departments=(), version=None) -> Issue:
    """Raise an open issue one level; street officers and up may summon departments too (吹哨报到)."""
    with transaction.atomic():
        issue = _lock(issue=issue, actor=actor)
        roles = _require_roles(actor=actor, issue=issue, action="escalate")
        if departments and not roles & SUPERVISOR_ROLES:
            raise PermissionDenied("Only the street office and up may summon departments.")
        _check_state(issue=issue, action="escalate")
        if issue.escalation_level >= MAX_ESCALATION_LEVEL:
            raise InvalidTransition("The issue is already escalated to the district.")
        _check_version(issue=issue, version=version)
        summoned = _departments_of_district(issue=issue, values=departments, field="departments")
        note = clean_text(note, field="note")

        active = {d.department_id for d in _active_dispatches(issue)}
        created = [
            Dispatch.objects.create(issue=issue, department=d, lead=False, summoned=True, note=note)
            for d in summoned
            if d.pk not in active
        ]
        from_level = issue.escalation_level
        issue.escalation_level = from_level + 1
        _record(
            issue=issue,
            actor=actor,
            action="escalate",
            from_status=issue.status,
            note=note,
            data={
                "from_level": from_level,
                "to_level": issue.escalation_level,
                "summoned": [d.department.code for d in created],
                "summoned_ids": [d.department_id for d in created],
            },
        )
        issue._prefetched_objects_cache.pop("dispatches", None)
    return issue


def issue_extend(*, issue, actor, workdays, reason="", version=None) -> Issue:
    """Move the resolution deadline: department staff request it (pending), street officers and up apply it."""
    with transaction.atomic():
        issue = _lock(issue=issue, actor=actor)
        roles = _require_roles(actor=actor, issue=issue, action="extend")
        supervisor = bool(roles & SUPERVISOR_ROLES)
        _check_state(issue=issue, action="extend")
        mine = _actor_dispatches(actor=actor, issue=issue)
        if not supervisor and not mine:
            raise PermissionDenied("The issue is not dispatched to your department.")
        _check_version(issue=issue, version=version)
        message = f"Give a whole number of working days from {EXTEND_MIN} to {EXTEND_MAX}."
        clean_int(workdays, field="workdays", low=EXTEND_MIN, high=EXTEND_MAX, message=message)
        reason = clean_text(reason, field="reason")
        now = timezone.now()
        pending = issue.extensions.select_for_update().filter(status=ExtensionRequest.Status.PENDING).first()
        if pending is not None and not supervisor:
            raise InvalidTransition("An extension request is already waiting for approval.")

        department = None if supervisor else next((d for d in mine if d.lead), mine[0]).department
        request = ExtensionRequest(
            issue=issue, workdays=workdays, reason=reason, requested_by=actor, department=department
        )
        data = {"workdays": workdays, "pending": not supervisor}
        if supervisor:
            if pending is not None:
                # The street's own decision settles a request still waiting: it is not applied on top.
                pending.status, pending.decided_by, pending.decided_at = ExtensionRequest.Status.REJECTED, actor, now
                pending.save(update_fields=["status", "decided_by", "decided_at"])
                data["superseded_id"] = pending.pk
            data.update(_apply_extension(issue=issue, request=request, actor=actor))
        else:
            request.save()
        data["extension_id"] = request.pk
        _record(issue=issue, actor=actor, action="extend", from_status=issue.status, note=reason, data=data)
    return issue


def issue_approve_extension(*, issue, actor, version=None) -> Issue:
    """Apply the pending extension request of an issue: street officers and up."""
    with transaction.atomic():
        issue = _lock(issue=issue, actor=actor)
        _require_roles(actor=actor, issue=issue, action="approve_extension")
        _check_state(issue=issue, action="approve_extension")
        _check_version(issue=issue, version=version)
        request = issue.extensions.select_for_update().filter(status=ExtensionRequest.Status.PENDING).first()
        if request is None:
            raise InvalidTransition("No extension request is waiting for approval.")
        data = {"workdays": request.workdays, "extension_id": request.pk}
        data.update(_apply_extension(issue=issue, request=request, actor=actor))
        _record(issue=issue, actor=actor, action="approve_extension", from_status=issue.status, data=data)
    return issue


def _apply_extension(*, issue: Issue, request: ExtensionRequest, actor) -> dict:
    """Move the resolution deadline by the request's working days from the current deadline; return old/new."""
    now = timezone.now()
    old = issue.resolution_due_at
    new = add_workdays(start=old or now, workdays=request.workdays)
    issue.resolution_due_at = new
    request.status, request.decided_by, request.decided_at = ExtensionRequest.Status.APPROVED, actor, now
    request.old_due_at, request.new_due_at = old, new
    request.save()
    return {"old_due_at": _iso(old), "new_due_at": _iso(new)}


def issue_comment(*, issue, actor, text, internal=False, version=None) -> Event:
    """Add a note to an issue without changing it: anyone who can see it; internal notes only for its staff.

    A comment changes nothing, so it leaves the version as it is; a stale `version` given is still refused (API.md).
    """
    with transaction.atomic():
        issue = Issue.objects.prefetch_related("dispatches").filter(pk=issue_pk(issue)).first()
        if issue is None or not _can_see(actor=actor, issue=issue):
            raise NotFound("No such issue.")
        internal = bool(clean_bool(internal, field="internal"))
        if internal and not _handles(actor=actor, issue=issue):
            raise PermissionDenied("Only staff handling the issue may write internal notes.")
        _check_version(issue=issue, version=version)
        text = clean_text(text, field="text", required=True)
        event = Event.objects.create(
            issue=issue,
            actor=actor,
            action="comment",
            from_status=issue.status,
            to_status=issue.status,
            note=text,
            internal=internal,
        )
        outbox_write(event=event)
    return event


def issue_actions_for(*, issue: Issue, actor) -> list[str]:
    """Return the actions `actor` may take on `issue` now, in table order, for pages and APIs to offer.

    The same rules as the actions themselves, less the arguments; an action still checks everything when taken.
    `issue` must be one `actor` can see, with its dispatches (prefetch them to save a query).
    """
    roles = roles_on_issue(actor, issue)
    offered = []
    for action, transition in TRANSITIONS.items():
        if action in ("submit", "auto_close") or issue.status not in transition.sources:
            continue
        if action == "rate":
            allowed = actor is not None and actor.pk == issue.reporter_user_id
        elif action == "comment":
            allowed = True
        else:
            allowed = bool(roles & ACTION_ROLES[action]) and _narrowed(action, actor=actor, issue=issue, roles=roles)
        if allowed:
            offered.append(action)
    return offered


def _narrowed(action: str, *, actor, issue: Issue, roles: set[str]) -> bool:
    """Return whether the finer rule of `action` beyond its roles holds (the departments it concerns, …)."""
    if action == "accept":
        return any(d.status == Dispatch.Status.PENDING for d in _actor_dispatches(actor=actor, issue=issue))
    if action == "return":
        return _is_lead_staff(actor=actor, issue=issue)
    if action == "resolve":
        return bool(roles & TRIAGE_ROLES) or _is_lead_staff(actor=actor, issue=issue)
    if action == "extend":
        return bool(roles & SUPERVISOR_ROLES) or bool(_actor_dispatches(actor=actor, issue=issue))
    if action == "escalate":
        return issue.escalation_level < MAX_ESCALATION_LEVEL
    if action == "approve_extension":
        return issue.extensions.filter(status=ExtensionRequest.Status.PENDING).exists()
    return True


# --- the system's own (issues.escalation runs these from Celery beat; actor None) -----------------------------------


def _has_ended(issue: Issue, deadline: str) -> bool:
    """Say whether `deadline` ended for good (Issue.DEADLINE_ENDED_BY), so it can no longer escalate."""
    field = Issue.DEADLINE_ENDED_BY.get(deadline)
    return field is not None and getattr(issue, field) is not None


def _is_overdue(issue: Issue, deadline: str, now: datetime) -> bool:
    due = getattr(issue, f"{deadline}_due_at")
    return (
        issue.status in Issue.DEADLINE_STATUSES[deadline]
        and due is not None
        and due < now
        and getattr(issue, f"{deadline}_escalated_for") != due
        and not _has_ended(issue, deadline)
    )


def issue_escalate_overdue(*, issue, now: datetime | None = None) -> list[dict]:
    """Escalate an issue one level for each of its deadlines that passed and has not escalated yet (system).

    A deadline escalates exactly once: the row is locked with SKIP LOCKED (a row another sweep holds is left to it)
    and the condition re-checked after locking (`*_escalated_for` remembers the deadline already escalated).
    An issue already at the district stays there; the passed deadline is still recorded and the district told.
    Return one dict per escalation: {"issue_id", "number", "deadline", "due_at", "from_level", "to_level"}.
    """
    now = now or timezone.now()
    done = []
    with transaction.atomic():
        issue = Issue.objects.select_for_update(skip_locked=True).filter(pk=issue_pk(issue)).first()
        if issue is None:
            return done
        for deadline in Issue.DEADLINE_STATUSES:
            if not _is_overdue(issue, deadline, now):
                continue
            due = getattr(issue, f"{deadline}_due_at")
            setattr(issue, f"{deadline}_escalated_for", due)
            from_level = issue.escalation_level
            issue.escalation_level = min(from_level + 1, MAX_ESCALATION_LEVEL)
            data = {
                "deadline": deadline,
                "due_at": _iso(due),
                "from_level": from_level,
                "to_level": issue.escalation_level,
                "automatic": True,
            }
            _record(issue=issue, actor=None, action="escalate", from_status=issue.status, data=data)
            done.append({"issue_id": str(issue.pk), "number": issue.number, **data})
    return done


def issue_auto_close(*, issue, now: datetime | None = None) -> Issue | None:
    """Close a resolved issue left unrated for GRIDDESK_AUTO_CLOSE_DAYS days as auto-closed, never as rated (system).

    Return the closed issue, or None when it is not (or no longer) due, or another sweep holds it.
    """
    now = now or timezone.now()
    days = settings.GRIDDESK_AUTO_CLOSE_DAYS
    with transaction.atomic():
        issue = Issue.objects.select_for_update(skip_locked=True).filter(pk=issue_pk(issue)).first()
        if issue is None or issue.status not in TRANSITIONS["auto_close"].sources or issue.resolved_at is None:
            return None
        if issue.resolved_at > now - timedelta(days=days):
            return None
        from_status = issue.status
        issue.status = TRANSITIONS["auto_close"].target
        issue.closed_at, issue.closed_how = now, "auto_closed"
        _record(issue=issue, actor=None, action="auto_close", from_status=from_status, data={"days": days})
    return issue
