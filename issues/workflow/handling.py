"""Handling: accept, return and resolve an issue (its departments), rate it (its reporter), reopen it."""

from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext_noop

from config.errors import InvalidTransition, Message, NotFound, PermissionDenied, ValidationFailed
from issues.arguments import clean_int, clean_text, issue_pk
from issues.models import Dispatch, Issue, Photo, Rating
from issues.photos import photos_clean, photos_store
from issues.workflow.guards import (
    _active_dispatches,
    _actor_dispatches,
    _check_version,
    _department_data,
    _lead_dispatch,
    _lock,
    _record,
    _restart_dispatches,
    _settle_departed_extensions,
)
from issues.workflow.predicates import _refuse, rate_by_phone_refusal
from issues.workflow.rules import NOTE_MAX, RATE_REOPEN_TARGET, SCORE_MAX, SCORE_MIN, TRANSITIONS, A, S
from orgs.models import Department

# --- handling -----------------------------------------------------------------------------------------------------


def issue_accept(*, issue, actor, department=None, version=None) -> Issue:
    """Record a department's acceptance (报到); the lead's moves the issue to in_progress: its department staff."""
    with transaction.atomic():
        issue = _lock(issue=issue, actor=actor)
        _refuse("accept", actor=actor, issue=issue)
        _check_version(issue=issue, version=version)
        mine = _actor_dispatches(actor=actor, issue=issue)
        if department not in (None, ""):
            # The argument narrows to one of the actor's departments: the predicate held for some, maybe not this one.
            code = department.code if isinstance(department, Department) else str(department)
            mine = [d for d in mine if d.department.code == code]
            if not mine:
                raise PermissionDenied(gettext_noop("The issue is not dispatched to that department of yours."))
        pending = [d for d in mine if d.status == Dispatch.Status.PENDING]
        if not pending:
            raise InvalidTransition(gettext_noop("That department has already accepted this issue."))
        if len(pending) > 1:
            raise ValidationFailed.on(
                "department", gettext_noop("You belong to several dispatched departments: name one.")
            )
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
        _refuse("return", actor=actor, issue=issue)
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


def issue_resolve(*, issue, actor, note, photos=(), version=None) -> Issue:
    """Report the result of an issue in progress: staff of the lead department, or community staff and up.

    `photos` (uploads, or issues.photos.CleanPhoto) are stored as the "after" photos, in the same transaction: the
    result and its evidence appear together or not at all. They are decoded before the row is locked.
    """
    photos = photos_clean(files=photos) if photos else []
    with transaction.atomic():
        issue = _lock(issue=issue, actor=actor)
        _refuse("resolve", actor=actor, issue=issue)
        _check_version(issue=issue, version=version)
        note = clean_text(note, field="note", required=True)

        from_status = issue.status
        issue.status = TRANSITIONS[A.RESOLVE].target
        issue.resolved_at = timezone.now()
        stored = photos_store(issue=issue, actor=actor, files=photos, stage=Photo.Stage.RESOLUTION) if photos else []
        data = {"photos": len(stored)} if stored else None
        _record(issue=issue, actor=actor, action="resolve", from_status=from_status, note=note, data=data)
    return issue


def issue_rate(*, issue, actor, score, comment="", version=None, reporter_phone=None, return_visit=False) -> Issue:
    """Rate a resolved issue 1–5: 3–5 closes it, 1–2 reopens it to its departments; only its reporter.

    The reporter is the account that reported it, or, for anyone following by number (the follow page), whoever
    gives the phone it was reported with (`reporter_phone`: a wrong one is NotFound, as the page must not say the
    number exists). `return_visit`: community staff and up record what a reporter without an account said on the
    phone (回访); the event names them and says so.
    """
    with transaction.atomic():
        if reporter_phone is not None:
            issue = _lock_for_reporter_phone(issue=issue, phone=reporter_phone)
            refused = rate_by_phone_refusal(issue=issue, phone=reporter_phone)
            if refused:
                raise refused
            actor, via = None, Rating.Via.FOLLOW
        else:
            issue = _lock(issue=issue, actor=actor)
            _refuse("return_visit" if return_visit else "rate", actor=actor, issue=issue)
            via = Rating.Via.RETURN_VISIT if return_visit else Rating.Via.REPORTER
        _check_version(issue=issue, version=version)
        clean_int(
            score,
            field="score",
            low=SCORE_MIN,
            high=SCORE_MAX,
            message=Message(gettext_noop("Give a whole number from %(min)s to %(max)s."), min=SCORE_MIN, max=SCORE_MAX),
        )
        comment = clean_text(comment, field="comment", max_length=NOTE_MAX)

        rated_by = actor if via == Rating.Via.REPORTER else None
        rating = Rating.objects.create(issue=issue, score=score, comment=comment, rated_by=rated_by, via=via)
        from_status, now = issue.status, timezone.now()
        data = {"score": score, "rating_id": rating.pk, "satisfied": rating.satisfied}
        if via == Rating.Via.FOLLOW:
            data["via"] = "follow"
        if via == Rating.Via.RETURN_VISIT:
            data["return_visit"] = True
        if rating.satisfied:
            issue.status = TRANSITIONS[A.RATE].target
            issue.closed_at, issue.closed_how = now, Issue.ClosedHow.RATED
        else:
            issue.status = RATE_REOPEN_TARGET
            issue.reopen_count += 1
            data.update(_department_data(_restart_dispatches(issue)))
        _record(issue=issue, actor=actor, action=A.RATE, from_status=from_status, note=comment, data=data)
    return issue


def _lock_for_reporter_phone(*, issue, phone) -> Issue:
    """Return the issue locked for a rating by phone; NotFound if there is none (the phone is the predicate's)."""
    locked = (
        Issue.objects.select_for_update(of=("self",))
        .select_related("category")
        .prefetch_related("dispatches")
        .filter(pk=issue_pk(issue))
        .first()
    )
    if locked is None:
        raise NotFound(gettext_noop("No such issue."))
    return locked


def issue_reopen(*, issue, actor, reason, version=None) -> Issue:
    """Send a resolved or closed issue back to its departments with a reason: community staff and up."""
    with transaction.atomic():
        issue = _lock(issue=issue, actor=actor)
        _refuse("reopen", actor=actor, issue=issue)
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
