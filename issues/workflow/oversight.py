"""Oversight by the street office: supervise an issue (督办) and refuse a pending extension request."""

from django.db import transaction
from django.utils import timezone

from issues.arguments import clean_text
from issues.models import ExtensionRequest, Issue
from issues.workflow.guards import _check_version, _lock, _record
from issues.workflow.predicates import _refuse


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
