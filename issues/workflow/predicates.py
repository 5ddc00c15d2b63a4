"""One predicate per rule: whether an actor may take an action on an issue now, arguments aside.

Each `<action>_refusal(actor=…, issue=…)` returns the error the action raises (PermissionDenied for the role, then
InvalidTransition for the state and the finer rules), or None when the action may be taken. The workflow actions
raise what these return (`_refuse`), and issue_actions_for offers an action exactly when its predicate returns
None: a button is shown exactly when pressing it would be allowed. Arguments (a department named, departments
summoned, a version, a score) are checked by the action afterwards.

`issue` must be one the actor can see, with its dispatches (prefetch them to save a query).
"""

from collections.abc import Callable

from django.utils.translation import gettext_noop

from config.errors import InvalidTransition, NotFound, PermissionDenied, WorkflowError
from issues.arguments import phones_match
from issues.models import Dispatch, ExtensionRequest, Issue
from issues.personal_data import handles_issue
from issues.workflow.guards import _actor_dispatches, _is_lead_staff, cannot
from issues.workflow.rules import ACTION_ROLES, MAX_ESCALATION_LEVEL, REPORTED_FOR_OTHERS, TRANSITIONS
from orgs.models import SUPERVISOR_ROLES, TRIAGE_ROLES
from orgs.scoping import roles_on_issue, scope_for_user

Refusal = WorkflowError | None


def _state(issue: Issue, action: str) -> Refusal:
    if issue.status not in TRANSITIONS[action].sources:
        return cannot(action, issue)
    return None


def _roles(actor, issue: Issue, action: str) -> tuple[set[str], Refusal]:
    roles = roles_on_issue(actor, issue)
    return roles, (None if roles & ACTION_ROLES[action] else PermissionDenied())


def _by_roles_and_state(action: str) -> Callable[..., Refusal]:
    """Return the predicate of an action whose only rules are its roles and its states."""

    def refusal(*, actor, issue: Issue) -> Refusal:
        _roles_held, refused = _roles(actor, issue, action)
        return refused or _state(issue, action)

    refusal.__name__ = f"{action}_refusal"
    refusal.__doc__ = f"Refuse `{action}` to anyone without its roles (ACTION_ROLES) or outside its states."
    return refusal


classify_refusal = _by_roles_and_state("classify")
dispatch_refusal = _by_roles_and_state("dispatch")
reject_refusal = _by_roles_and_state("reject")
reopen_refusal = _by_roles_and_state("reopen")


def escalate_refusal(*, actor, issue: Issue) -> Refusal:
    """Refuse escalation beyond the district (summoning departments is an argument the action checks)."""
    _held, refused = _roles(actor, issue, "escalate")
    refused = refused or _state(issue, "escalate")
    if refused is None and issue.escalation_level >= MAX_ESCALATION_LEVEL:
        return InvalidTransition(gettext_noop("The issue is already escalated to the district."))
    return refused


def accept_refusal(*, actor, issue: Issue) -> Refusal:
    """Refuse acceptance to a department not dispatched on the issue, or one that has accepted already."""
    _held, refused = _roles(actor, issue, "accept")
    refused = refused or _state(issue, "accept")
    if refused:
        return refused
    mine = _actor_dispatches(actor=actor, issue=issue)
    if not mine:
        return PermissionDenied(gettext_noop("The issue is not dispatched to your department."))
    if not any(d.status == Dispatch.Status.PENDING for d in mine):
        return InvalidTransition(gettext_noop("Your department has already accepted this issue."))
    return None


def return_refusal(*, actor, issue: Issue) -> Refusal:
    """Refuse a return (退单) to anyone but the lead department's staff."""
    _held, refused = _roles(actor, issue, "return")
    refused = refused or _state(issue, "return")
    if refused is None and not _is_lead_staff(actor=actor, issue=issue):
        return PermissionDenied(gettext_noop("Only the lead department may return the issue."))
    return refused


def resolve_refusal(*, actor, issue: Issue) -> Refusal:
    """Refuse resolving to department staff other than the lead's (community staff and up may)."""
    roles, refused = _roles(actor, issue, "resolve")
    refused = refused or _state(issue, "resolve")
    if refused is None and not roles & TRIAGE_ROLES and not _is_lead_staff(actor=actor, issue=issue):
        return PermissionDenied(gettext_noop("Only the lead department or community staff may resolve the issue."))
    return refused


def _pending_extension(issue: Issue) -> ExtensionRequest | None:
    return issue.extensions.filter(status=ExtensionRequest.Status.PENDING).first()


def extend_refusal(*, actor, issue: Issue) -> Refusal:
    """Refuse an extension to a department not dispatched on it, or a second request while one waits."""
    roles, refused = _roles(actor, issue, "extend")
    refused = refused or _state(issue, "extend")
    if refused or roles & SUPERVISOR_ROLES:
        return refused
    if not _actor_dispatches(actor=actor, issue=issue):
        return PermissionDenied(gettext_noop("The issue is not dispatched to your department."))
    if _pending_extension(issue) is not None:
        return InvalidTransition(gettext_noop("An extension request is already waiting for approval."))
    return None


def approve_extension_refusal(*, actor, issue: Issue) -> Refusal:
    """Refuse an approval when no extension request waits (street officers and up only)."""
    _held, refused = _roles(actor, issue, "approve_extension")
    refused = refused or _state(issue, "approve_extension")
    if refused is None and _pending_extension(issue) is None:
        return InvalidTransition(gettext_noop("No extension request is waiting for approval."))
    return refused


def _reported_for_someone_else(issue: Issue) -> bool:
    """Return whether the issue's reporter account took it for another person (a hotline call, on behalf)."""
    return issue.channel in REPORTED_FOR_OTHERS


def refuse_extension_refusal(*, actor, issue: Issue) -> Refusal:
    """Refuse a refusal of an extension when no request waits (street officers and up only)."""
    _held, refused = _roles(actor, issue, "refuse_extension")
    refused = refused or _state(issue, "refuse_extension")
    if refused is None and _pending_extension(issue) is None:
        return InvalidTransition(gettext_noop("No extension request is waiting for approval."))
    return refused


# 督办: street officers and up, on an open issue.
supervise_refusal = _by_roles_and_state("supervise")
# Private or public (issues.publicity): community staff and up, in any state.
set_privacy_refusal = _by_roles_and_state("set_privacy")


def rate_refusal(*, actor, issue: Issue) -> Refusal:
    """Refuse a rating to anyone but the reporter's account (a reporter by phone: rate_by_phone_refusal).

    Staff who took a report for someone (a hotline call, on behalf) hold the reporter account but do not rate for
    that person; a partner app relays its caller's rating (API.md), the hotline's system included.
    """
    if actor is None or not getattr(actor, "is_authenticated", False) or issue.reporter_user_id != actor.pk:
        return PermissionDenied(gettext_noop("Only the reporter rates the result."))
    if _reported_for_someone_else(issue) and not scope_for_user(actor).is_partner:
        return PermissionDenied(
            gettext_noop("The person reported for rates the result, not the staff who took the report.")
        )
    return _state(issue, "rate")


def rate_by_phone_refusal(*, issue: Issue, phone: str) -> Refusal:
    """Refuse a rating by phone unless it is the phone the issue was reported with (NotFound: say nothing more)."""
    if not phones_match(issue.reporter_phone, phone):
        return NotFound(gettext_noop("No such issue."))
    return _state(issue, "rate")


def return_visit_refusal(*, actor, issue: Issue) -> Refusal:
    """Refuse recording a return visit's rating (回访) but for community staff and up, on a reporter with no account.

    A reporter with an account rates for themselves; the visit records what a caller without one said on the phone
    (a hotline caller or a resident reported for on behalf has none: the account is the staff member's who took it).
    """
    _held, refused = _roles(actor, issue, "return_visit")
    refused = refused or _state(issue, "return_visit")
    if refused is None and issue.reporter_user_id is not None and not _reported_for_someone_else(issue):
        return PermissionDenied(gettext_noop("The reporter has an account and rates for themselves."))
    return refused


def comment_refusal(*, actor, issue: Issue) -> Refusal:
    """Refuse nothing: anyone who can see the issue may comment on it (seeing it is checked before)."""
    return _state(issue, "comment")


def comment_internal_refusal(*, actor, issue: Issue) -> Refusal:
    """Refuse an internal note to anyone but the staff handling the issue (the same people read them)."""
    if not handles_issue(actor, issue):
        return PermissionDenied(gettext_noop("Only staff handling the issue may write internal notes."))
    return _state(issue, "comment")


# Every action a person may be offered, in the order pages list them, with its predicate.
PREDICATES: dict[str, Callable[..., Refusal]] = {
    "classify": classify_refusal,
    "dispatch": dispatch_refusal,
    "accept": accept_refusal,
    "return": return_refusal,
    "resolve": resolve_refusal,
    "rate": rate_refusal,
    "return_visit": return_visit_refusal,
    "reopen": reopen_refusal,
    "reject": reject_refusal,
    "escalate": escalate_refusal,
    "extend": extend_refusal,
    "approve_extension": approve_extension_refusal,
    "refuse_extension": refuse_extension_refusal,
    "supervise": supervise_refusal,
    "set_privacy": set_privacy_refusal,
    "comment": comment_refusal,
    "comment_internal": comment_internal_refusal,
}


def may(action: str, *, actor, issue: Issue) -> bool:
    """Return whether `actor` may take `action` on `issue` now, arguments aside."""
    return PREDICATES[action](actor=actor, issue=issue) is None


def _refuse(action: str, *, actor, issue: Issue) -> None:
    """Raise the refusal of `action`'s predicate, if any: the check every action makes after locking the issue."""
    refused = PREDICATES[action](actor=actor, issue=issue)
    if refused is not None:
        raise refused
