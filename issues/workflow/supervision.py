"""Supervision: escalate, extend and approve extensions, comment, and the actions an actor may take now."""

from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext_noop

from config.errors import Message, NotFound, PermissionDenied
from issues.arguments import clean_bool, clean_int, clean_text, issue_pk
from issues.events import event_record
from issues.models import Dispatch, Event, ExtensionRequest, Issue
from issues.sla import add_workdays
from issues.workflow.guards import (
    _active_dispatches,
    _actor_dispatches,
    _can_see,
    _check_version,
    _departments_of_district,
    _iso,
    _lock,
    _record,
)
from issues.workflow.predicates import PREDICATES, _refuse, may
from issues.workflow.rules import EXTEND_MAX, EXTEND_MIN, NOTE_MAX, A
from orgs.models import SUPERVISOR_ROLES
from orgs.scoping import roles_on_issue

# --- supervision --------------------------------------------------------------------------------------------------


def issue_escalate(*, issue, actor, note="", departments=(), version=None) -> Issue:
    """Raise an open issue one level; street officers and up may summon departments too (吹哨报到)."""
    with transaction.atomic():
        issue = _lock(issue=issue, actor=actor)
        _refuse("escalate", actor=actor, issue=issue)
        if departments and not roles_on_issue(actor, issue) & SUPERVISOR_ROLES:
            raise PermissionDenied(gettext_noop("Only the street office and up may summon departments."))
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
        _refuse("extend", actor=actor, issue=issue)
        supervisor = bool(roles_on_issue(actor, issue) & SUPERVISOR_ROLES)
        mine = _actor_dispatches(actor=actor, issue=issue)
        _check_version(issue=issue, version=version)
        message = Message(
            gettext_noop("Give a whole number of working days from %(min)s to %(max)s."), min=EXTEND_MIN, max=EXTEND_MAX
        )
        clean_int(workdays, field="workdays", low=EXTEND_MIN, high=EXTEND_MAX, message=message)
        reason = clean_text(reason, field="reason", max_length=NOTE_MAX)
        now = timezone.now()
        # The predicate refused a department's second request; the street's own decision settles a waiting one.
        pending = issue.extensions.select_for_update().filter(status=ExtensionRequest.Status.PENDING).first()

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
        _refuse("approve_extension", actor=actor, issue=issue)
        _check_version(issue=issue, version=version)
        # The predicate saw it waiting; the issue row's lock keeps it so until this transaction ends.
        request = issue.extensions.select_for_update().filter(status=ExtensionRequest.Status.PENDING).get()
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
            raise NotFound(gettext_noop("No such issue."))
        internal = bool(clean_bool(internal, field="internal"))
        _refuse("comment_internal" if internal else "comment", actor=actor, issue=issue)
        _check_version(issue=issue, version=version)
        text = clean_text(text, field="text", required=True)
        event = event_record(
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
    """Return the actions `actor` may take on `issue` now, for pages and APIs to offer (issues.workflow.predicates).

    The same predicates the actions raise from, arguments aside: an action offered is one that, taken with valid
    arguments, is not refused. Besides the actions, "comment_internal" (an internal note) and "return_visit"
    (recording a return visit's rating). `issue` must be one `actor` can see, with its dispatches prefetched.
    """
    return [action for action in PREDICATES if may(action, actor=actor, issue=issue)]
