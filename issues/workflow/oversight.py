"""Oversight by the street office: supervise an issue (督办) and refuse a pending extension request."""

from django.db import transaction
from django.utils import timezone

from config.errors import ValidationFailed
from issues.arguments import clean_text
from issues.models import ExtensionRequest, Issue
from issues.workflow.guards import _check_version, _lock, _record
from issues.workflow.predicates import _refuse
from issues.workflow.rules import NOTE_MAX


def issue_supervise(*, issue, actor, note, version=None) -> Issue:
    """Record an instruction to an open issue's handlers and remind them: street officers and up (督办).

    The instruction shows on the issue until handled (issues.workflow.rules.SUPERVISION_HANDLED_BY); the lead and
    active departments' staff and the community staff hear of it (notifications.outbox).
    """
    with transaction.atomic():
        issue = _lock(issue=issue, actor=actor)
        _refuse("supervise", actor=actor, issue=issue)
        _check_version(issue=issue, version=version)
        note = clean_text(note, field="note", required=True)
        departments = [d.department_id for d in issue.dispatches.all() if d.active]
        _record(
            issue=issue,
            actor=actor,
            action="supervise",
            from_status=issue.status,
            note=note,
            data={"department_ids": departments},
        )
    return issue


def issue_refuse_extension(*, issue, actor, reason="", version=None) -> Issue:
    """Refuse the pending extension request of an issue, with an optional reason: street officers and up.

    The deadline stays as it is; the requesting department hears of the refusal and may ask again.
    """
    with transaction.atomic():
        issue = _lock(issue=issue, actor=actor)
        _refuse("refuse_extension", actor=actor, issue=issue)
        _check_version(issue=issue, version=version)
        reason = clean_text(reason, field="reason")
        request = issue.extensions.select_for_update().filter(status=ExtensionRequest.Status.PENDING).get()
        request.status, request.decided_by, request.decided_at = ExtensionRequest.Status.REJECTED, actor, timezone.now()
        request.save(update_fields=["status", "decided_by", "decided_at"])
        data = {"workdays": request.workdays, "extension_id": request.pk, "department_id": request.department_id}
        _record(issue=issue, actor=actor, action="refuse_extension", from_status=issue.status, note=reason, data=data)
    return issue


def issue_set_privacy(*, issue, actor, private, note="", version=None) -> Issue:
    """Keep an issue off every public list, or put it back: community staff and up, in any state.

    What is public is issues.publicity's rule; this is the staff's "never" on top of it (a neighbour dispute, a
    report naming a household). The event is internal: its note says why, for the staff.
    """
    with transaction.atomic():
        issue = _lock(issue=issue, actor=actor)
        _refuse("set_privacy", actor=actor, issue=issue)
        _check_version(issue=issue, version=version)
        if not isinstance(private, bool):
            raise ValidationFailed.on("private", "Give private as true or false.")
        if issue.private == private:
            message = "The issue is already private." if private else "The issue is already public."
            raise ValidationFailed.on("private", message)
        note = clean_text(note, field="note", max_length=NOTE_MAX)
        issue.private = private
        _record(
            issue=issue,
            actor=actor,
            action="set_privacy",
            from_status=issue.status,
            note=note,
            internal=True,
            data={"private": private},
        )
    return issue
