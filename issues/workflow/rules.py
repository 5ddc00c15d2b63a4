"""The transition table, who may take each action, and the limits the actions check (DESIGN.md, API.md)."""

from dataclasses import dataclass

from issues.models import Event, Issue
from orgs.models import SUPERVISOR_ROLES, TRIAGE_ROLES, Role

S = Issue.Status
A = Event.Action


@dataclass(frozen=True)
class Transition:
    """The states an action may start from, and where it leads (None: the status does not change)."""

    sources: frozenset[str]
    target: str | None


ANY_STATE = frozenset(S.values)
OPEN = frozenset(Issue.OPEN_STATUSES)

# The transition table (DESIGN.md's diagram, API.md's action table). Nothing else assigns Issue.status.
TRANSITIONS: dict[str, Transition] = {
    A.SUBMIT: Transition(frozenset(), S.SUBMITTED),
    A.CLASSIFY: Transition(frozenset({S.SUBMITTED}), S.CLASSIFIED),
    A.DISPATCH: Transition(frozenset({S.CLASSIFIED}), S.DISPATCHED),
    # The lead's acceptance starts the work; a co-handling (or summoned) department may accept later too.
    A.ACCEPT: Transition(frozenset({S.DISPATCHED, S.IN_PROGRESS}), S.IN_PROGRESS),
    A.RETURN: Transition(frozenset({S.DISPATCHED}), S.CLASSIFIED),
    A.RESOLVE: Transition(frozenset({S.IN_PROGRESS}), S.RESOLVED),
    # Score 3–5 closes; 1–2 sends it back to the departments (see RATE_REOPEN_TARGET).
    A.RATE: Transition(frozenset({S.RESOLVED}), S.CLOSED),
    A.REOPEN: Transition(frozenset({S.RESOLVED, S.CLOSED}), S.DISPATCHED),
    A.REJECT: Transition(frozenset({S.SUBMITTED, S.CLASSIFIED}), S.REJECTED),
    A.ESCALATE: Transition(OPEN, None),
    A.EXTEND: Transition(frozenset({S.DISPATCHED, S.IN_PROGRESS}), None),
    A.APPROVE_EXTENSION: Transition(frozenset({S.DISPATCHED, S.IN_PROGRESS}), None),
    A.COMMENT: Transition(ANY_STATE, None),
    # The system's own: unrated resolved issues close after GRIDDESK_AUTO_CLOSE_DAYS (issues.escalation).
    A.AUTO_CLOSE: Transition(frozenset({S.RESOLVED}), S.CLOSED),
}
RATE_REOPEN_TARGET = S.DISPATCHED

DEPARTMENT = frozenset({Role.DEPARTMENT_STAFF})
# Who may take each action (API.md's "who"), as roles reaching the issue (orgs.scoping.roles_on_issue); the action
# then narrows department staff to the departments it concerns. Rate: the reporter only. Comment: anyone who can
# see the issue; internal notes: anyone with a role on it.
ACTION_ROLES: dict[str, frozenset[str]] = {
    A.CLASSIFY: TRIAGE_ROLES,
    A.DISPATCH: TRIAGE_ROLES,
    A.REJECT: TRIAGE_ROLES,
    A.REOPEN: TRIAGE_ROLES,
    A.ESCALATE: TRIAGE_ROLES,  # summoning departments (吹哨): SUPERVISOR_ROLES
    A.ACCEPT: DEPARTMENT,  # a department with a pending dispatch
    A.RETURN: DEPARTMENT,  # the lead department
    A.RESOLVE: TRIAGE_ROLES | DEPARTMENT,  # department staff: the lead department
    A.EXTEND: SUPERVISOR_ROLES | DEPARTMENT,  # department staff: a dispatched department, as a request
    A.APPROVE_EXTENSION: SUPERVISOR_ROLES,
}

MAX_ESCALATION_LEVEL = Issue.EscalationLevel.DISTRICT

# The limits the actions check (API.md "Issues"); the API's serializers name the same constants to describe them.
DESCRIPTION_MIN, DESCRIPTION_MAX = 5, 4000
TITLE_MAX, ADDRESS_MAX, REPORTER_NAME_MAX, EXTERNAL_ID_MAX = 200, 300, 60, 100
# A reason or a short note (dispatch, return, reopen, reject, escalate, extend, a rating's comment); the result of
# the work (resolve) and a comment may say more (issues.arguments.TEXT_MAX).
NOTE_MAX = 2000
EXTEND_MIN, EXTEND_MAX = 1, 30
SCORE_MIN, SCORE_MAX = 1, 5
