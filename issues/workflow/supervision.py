"""Supervision: escalate, extend and approve extensions, comment, and the actions an actor may take now."""

from django.db import transaction
from django.utils import timezone

from config.errors import InvalidTransition, NotFound, PermissionDenied
from issues import events as issue_events  # the module: issues.events imports the workflow (via the API)
from issues.arguments import clean_bool, clean_int, clean_text, issue_pk
from issues.models import Dispatch, Event, ExtensionRequest, Issue
from issues.personal_data import handles_issue
from issues.sla import add_workdays
from issues.workflow.guards import (
    _active_dispatches,
    _actor_dispatches,
    _can_see,
    _check_state,
    _check_version,
    _departments_of_district,
    _is_lead_staff,
    _iso,
    _lock,
    _record,
    _require_roles,
)
from issues.workflow.rules import ACTION_ROLES, EXTEND_MAX, EXTEND_MIN, MAX_ESCALATION_LEVEL, NOTE_MAX, TRANSITIONS, A
from orgs.models import SUPERVISOR_ROLES, TRIAGE_ROLES
from orgs.scoping import roles_on_issue

# --- supervision --------------------------------------------------------------------------------------------------


def issue_escalate(*, issue, actor, note="", departments=(), version=None) -> Issue:
    """Raise an open issue one level; street officers and up may summon departments too (吹哨报到)."""
    with transaction.atomic():
        issue = _lock(issue=issue, actor=actor)
        roles = _require_roles(actor=actor, issue=issue, action=A.ESCALATE)
        if departments and not roles & SUPERVISOR_ROLES:
            raise PermissionDenied("Only the street office and up may summon departments.")
        _check_state(issue=issue, action=A.ESCALATE)
        if issue.escalation_level >= MAX_ESCALATION_LEVEL:
            raise InvalidTransition("The issue is already escalated to the district.")
        _check_version(issue=issue, version=version)
        summoned = _departments_of_district(issue=issue, values=departments, field="departments")
        note = clean_text(note, field="note", max_length=NOTE_MAX)

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
            action=A.ESCALATE,
            from_status=issue.status,
            note=note,
            data={
                "from_level": from_level,
                "to_level": issue.escalation_level,
                "summoned": [d.department.code for d in created],
                "department_ids": [d.department_id for d in created],
            },
        )
        issue._prefetched_objects_cache.pop("dispatches", None)
    return issue


def issue_extend(*, issue, actor, workdays, reason="", version=None) -> Issue:
    """Move the resolution deadline: department staff request it (pending), street officers and up apply it."""
    with transaction.atomic():
        issue = _lock(issue=issue, actor=actor)
        roles = _require_roles(actor=actor, issue=issue, action=A.EXTEND)
        supervisor = bool(roles & SUPERVISOR_ROLES)
        _check_state(issue=issue, action=A.EXTEND)
        mine = _actor_dispatches(actor=actor, issue=issue)
        if not supervisor and not mine:
            raise PermissionDenied("The issue is not dispatched to your department.")
        _check_version(issue=issue, version=version)
        message = f"Give a whole number of working days from {EXTEND_MIN} to {EXTEND_MAX}."
        clean_int(workdays, field="workdays", low=EXTEND_MIN, high=EXTEND_MAX, message=message)
        reason = clean_text(reason, field="reason", max_length=NOTE_MAX)
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
        _record(issue=issue, actor=actor, action=A.EXTEND, from_status=issue.status, note=reason, data=data)
    return issue


def issue_approve_extension(*, issue, actor, version=None) -> Issue:
    """Apply the pending extension request of an issue: street officers and up."""
    with transaction.atomic():
        issue = _lock(issue=issue, actor=actor)
        _require_roles(actor=actor, issue=issue, action=A.APPROVE_EXTENSION)
        _check_state(issue=issue, action=A.APPROVE_EXTENSION)
        _check_version(issue=issue, version=version)
        request = issue.extensions.select_for_update().filter(status=ExtensionRequest.Status.PENDING).first()
        if request is None:
            raise InvalidTransition("No extension request is waiting for approval.")
        data = {"workdays": request.workdays, "extension_id": request.pk}
        data.update(_apply_extension(issue=issue, request=request, actor=actor))
        _record(issue=issue, actor=actor, action=A.APPROVE_EXTENSION, from_status=issue.status, data=data)
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
        if internal and not handles_issue(actor, issue):
            raise PermissionDenied("Only staff handling the issue may write internal notes.")
        _check_version(issue=issue, version=version)
        text = clean_text(text, field="text", required=True)
        event = issue_events.event_record(
            issue=issue,
            actor=actor,
            action=A.COMMENT,
            from_status=issue.status,
            to_status=issue.status,
            note=text,
            internal=internal,
        )
    return event


def issue_actions_for(*, issue: Issue, actor) -> list[str]:
    """Return the actions `actor` may take on `issue` now, in table order, for pages and APIs to offer.

    The same rules as the actions themselves, less the arguments; an action still checks everything when taken.
    `issue` must be one `actor` can see, with its dispatches (prefetch them to save a query).
    """
    roles = roles_on_issue(actor, issue)
    offered = []
    for action, transition in TRANSITIONS.items():
        if action in (A.SUBMIT, A.AUTO_CLOSE) or issue.status not in transition.sources:
            continue
        if action == A.RATE:
            allowed = actor is not None and actor.pk == issue.reporter_user_id
        elif action == A.COMMENT:
            allowed = True
        else:
            allowed = bool(roles & ACTION_ROLES[action]) and _narrowed(action, actor=actor, issue=issue, roles=roles)
        if allowed:
            offered.append(action)
    return offered


def _narrowed(action: str, *, actor, issue: Issue, roles: set[str]) -> bool:
    """Return whether the finer rule of `action` beyond its roles holds (the departments it concerns, …)."""
    if action == A.ACCEPT:
        return any(d.status == Dispatch.Status.PENDING for d in _actor_dispatches(actor=actor, issue=issue))
    if action == A.RETURN:
        return _is_lead_staff(actor=actor, issue=issue)
    if action == A.RESOLVE:
        return bool(roles & TRIAGE_ROLES) or _is_lead_staff(actor=actor, issue=issue)
    if action == A.EXTEND:
        return bool(roles & SUPERVISOR_ROLES) or bool(_actor_dispatches(actor=actor, issue=issue))
    if action == A.ESCALATE:
        return issue.escalation_level < MAX_ESCALATION_LEVEL
    if action == A.APPROVE_EXTENSION:
        return issue.extensions.filter(status=ExtensionRequest.Status.PENDING).exists()
    return True
