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
    # Staff record the rating a reporter without an account gave on the phone (回访); it counts as their rating
    # and is recorded as a rate event (data: return_visit), so it is a predicate's name, not an Event.Action.
    "return_visit": Transition(frozenset({S.RESOLVED}), S.CLOSED),
    A.REOPEN: Transition(frozenset({S.RESOLVED, S.CLOSED}), S.DISPATCHED),
    A.REJECT: Transition(frozenset({S.SUBMITTED, S.CLASSIFIED}), S.REJECTED),
    A.ESCALATE: Transition(OPEN, None),
    A.EXTEND: Transition(frozenset({S.DISPATCHED, S.IN_PROGRESS}), None),
    A.APPROVE_EXTENSION: Transition(frozenset({S.DISPATCHED, S.IN_PROGRESS}), None),
    # The street's "no" to a pending request (before, a request could only be superseded by the street's own).
    A.REFUSE_EXTENSION: Transition(frozenset({S.DISPATCHED, S.IN_PROGRESS}), None),
    # 督办: a recorded instruction to the handlers, shown on the issue until handled (SUPERVISION_HANDLED_BY).
    A.SUPERVISE: Transition(OPEN, None),
    A.COMMENT: Transition(ANY_STATE, None),
    # Keep an issue off the public lists (or put it back), whatever its state: what is public is decided by
    # issues.publicity, this flag is the staff's "never".
    A.SET_PRIVACY: Transition(ANY_STATE, None),
    # The system's own: unrated resolved issues close after GRIDDESK_AUTO_CLOSE_DAYS (issues.escalation).
    A.AUTO_CLOSE: Transition(frozenset({S.RESOLVED}), S.CLOSED),
}
RATE_REOPEN_TARGET = S.DISPATCHED

DEPARTMENT = frozenset({Role.DEPARTMENT_STAFF})
# Who may take each action (API.md's "who"), as roles reaching the issue (orgs.scoping.roles_on_issue); the action
# then narrows department staff to the departments it concerns (issues.workflow.predicates: one predicate per rule).
# Rate: the reporter only. Comment: anyone who can see the issue; internal notes: the staff handling it.
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
    A.REFUSE_EXTENSION: SUPERVISOR_ROLES,
    A.SUPERVISE: SUPERVISOR_ROLES,
    A.SET_PRIVACY: TRIAGE_ROLES,  # the community staff who triage it, and up
    "return_visit": TRIAGE_ROLES,  # only for a reporter without an account
}

# A supervision (督办) stays open on the issue until one of these actions follows it, by anyone: the work moved
# (classified, dispatched, accepted, returned, resolved, rejected) or the department answered with an extension
# request. Comments, escalations and further supervisions do not handle it; a closed issue shows none.
SUPERVISION_HANDLED_BY = frozenset({"classify", "dispatch", "accept", "return", "resolve", "reject", "extend"})

C = Issue.Channel
# The channels a submitter may name (issue_submit checks; a channel not named is the first of the set):
# - nobody signed in, and a resident: the web form, the one way they reach us themselves;
# - a partner app: its own channel, or the 12345 hotline when the partner is the hotline's system; `open311` is set
#   by the Open311 endpoint (open311.services), which submits through the partner's user too;
# - staff with a node role over the place (grid workers and leaders, building leaders, community staff and up): also
#   what they found on patrol and what they report for a resident (on behalf);
# - a hotline operator (12345 seat) for a place in their territory: also a caller's report (hotline).
RESIDENT_CHANNELS = (C.WEB,)
PARTNER_CHANNELS = (C.PARTNER, C.HOTLINE, C.OPEN311)
PLACE_STAFF_CHANNELS = (C.PATROL, C.ON_BEHALF)
INTAKE_CHANNELS = (C.HOTLINE,)
# A report for someone else names that person's phone: staff call them back, and they follow it by number + phone.
# The account that submitted it is not that person: it does not rate the result (the caller does, by phone).
REPORTED_FOR_OTHERS = frozenset({C.HOTLINE, C.ON_BEHALF})

MAX_ESCALATION_LEVEL = Issue.EscalationLevel.DISTRICT

# The limits the actions check (API.md "Issues"); the API's serializers name the same constants to describe them.
DESCRIPTION_MIN, DESCRIPTION_MAX = 5, 4000
TITLE_MAX, ADDRESS_MAX, REPORTER_NAME_MAX, EXTERNAL_ID_MAX = 200, 300, 60, 100
# A reason or a short note (dispatch, return, reopen, reject, escalate, extend, a rating's comment); the result of
# the work (resolve) and a comment may say more (issues.arguments.TEXT_MAX).
NOTE_MAX = 2000
EXTEND_MIN, EXTEND_MAX = 1, 30
SCORE_MIN, SCORE_MAX = 1, 5
