"""Handling: accept, return and resolve an issue (its departments), rate it (its reporter), reopen it."""

from django.db import transaction
from django.utils import timezone

from config.errors import InvalidTransition, PermissionDenied, ValidationFailed
from issues.arguments import clean_int, clean_text
from issues.models import Dispatch, Issue, Rating
from issues.workflow.guards import (
    _active_dispatches,
    _actor_dispatches,
    _check_state,
    _check_version,
    _department_data,
    _is_lead_staff,
    _lead_dispatch,
    _lock,
    _record,
    _require_roles,
    _restart_dispatches,
    _settle_departed_extensions,
)
from issues.workflow.rules import NOTE_MAX, RATE_REOPEN_TARGET, SCORE_MAX, SCORE_MIN, TRANSITIONS, A, S
from orgs.models import TRIAGE_ROLES, Department

# --- handling -----------------------------------------------------------------------------------------------------


def issue_accept(*, issue, actor, department=None, version=None) -> Issue:
    """Record a department's acceptance (报到); the lead's moves the issue to in_progress: its department staff."""
    with transaction.atomic():
        issue = _lock(issue=issue, actor=actor)
        _require_roles(actor=actor, issue=issue, action=A.ACCEPT)
        _check_state(issue=issue, action=A.ACCEPT)
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
            issue.status = TRANSITIONS[A.ACCEPT].target
            issue.accepted_at = now
        _record(
            issue=issue,
            actor=actor,
            action=A.ACCEPT,
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
        _require_roles(actor=actor, issue=issue, action=A.RETURN)
        _check_state(issue=issue, action=A.RETURN)
        if not _is_lead_staff(actor=actor, issue=issue):
            raise PermissionDenied("Only the lead department may return the issue.")
        _check_version(issue=issue, version=version)
        reason = clean_text(reason, field="reason", required=True, max_length=NOTE_MAX)

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
        issue.status = TRANSITIONS[A.RETURN].target
        _record(issue=issue, actor=actor, action=A.RETURN, from_status=from_status, note=reason, data=data)
    return issue


def issue_resolve(*, issue, actor, note, version=None) -> Issue:
    """Report the result of an issue in progress: staff of the lead department, or community staff and up."""
    with transaction.atomic():
        issue = _lock(issue=issue, actor=actor)
        roles = _require_roles(actor=actor, issue=issue, action=A.RESOLVE)
        _check_state(issue=issue, action=A.RESOLVE)
        if not roles & TRIAGE_ROLES and not _is_lead_staff(actor=actor, issue=issue):
            raise PermissionDenied("Only the lead department or community staff may resolve the issue.")
        _check_version(issue=issue, version=version)
        note = clean_text(note, field="note", required=True)

        from_status = issue.status
        issue.status = TRANSITIONS[A.RESOLVE].target
        issue.resolved_at = timezone.now()
        _record(issue=issue, actor=actor, action=A.RESOLVE, from_status=from_status, note=note)
    return issue


def issue_rate(*, issue, actor, score, comment="", version=None) -> Issue:
    """Rate a resolved issue 1–5: 3–5 closes it, 1–2 reopens it to its departments; only its reporter."""
    with transaction.atomic():
        issue = _lock(issue=issue, actor=actor)
        if actor is None or issue.reporter_user_id != actor.pk:
            raise PermissionDenied("Only the reporter rates the result.")
        _check_state(issue=issue, action=A.RATE)
        _check_version(issue=issue, version=version)
        clean_int(
            score,
            field="score",
            low=SCORE_MIN,
            high=SCORE_MAX,
            message=f"Give a whole number from {SCORE_MIN} to {SCORE_MAX}.",
        )
        comment = clean_text(comment, field="comment", max_length=NOTE_MAX)

        rating = Rating.objects.create(issue=issue, score=score, comment=comment, rated_by=actor)
        from_status, now = issue.status, timezone.now()
        data = {"score": score, "rating_id": rating.pk, "satisfied": rating.satisfied}
        if rating.satisfied:
            issue.status = TRANSITIONS[A.RATE].target
            issue.closed_at, issue.closed_how = now, Issue.ClosedHow.RATED
        else:
            issue.status = RATE_REOPEN_TARGET
            issue.reopen_count += 1
            data.update(_department_data(_restart_dispatches(issue)))
        _record(issue=issue, actor=actor, action=A.RATE, from_status=from_status, note=comment, data=data)
    return issue


def issue_reopen(*, issue, actor, reason, version=None) -> Issue:
    """Send a resolved or closed issue back to its departments with a reason: community staff and up."""
    with transaction.atomic():
        issue = _lock(issue=issue, actor=actor)
        _require_roles(actor=actor, issue=issue, action=A.REOPEN)
        _check_state(issue=issue, action=A.REOPEN)
        _check_version(issue=issue, version=version)
        reason = clean_text(reason, field="reason", required=True, max_length=NOTE_MAX)

        from_status = issue.status
        issue.status = TRANSITIONS[A.REOPEN].target
        issue.reopen_count += 1
        # No longer closed: the retention clock (closed_at) stops until it closes again.
        issue.closed_at, issue.closed_how = None, ""
        data = _department_data(_restart_dispatches(issue))
        _record(issue=issue, actor=actor, action=A.REOPEN, from_status=from_status, note=reason, data=data)
    return issue
