"""The issue lifecycle: the transition table and one function per action of API.md (the only writer of status).

Every action runs in one transaction and in the same order:

1. lock the issue row and its dispatches (select_for_update), so two actors racing on one issue are serialised;
2. scope: an issue the actor cannot see (orgs.scoping) is NotFound, exactly as one that does not exist;
3. role and 4. state: the action's predicate (predicates.py, one per rule, the same that issue_actions_for offers
   from): the actor's roles on the issue → PermissionDenied, the transition table and finer rules → InvalidTransition;
5. version: a caller's stale `version` → StaleVersion;
6. arguments → ValidationFailed(fields=…);
7. apply, bump `version`, record the Event with its outbox rows (issues.events.event_record).

Where each part lives (import the actions from here, `issues.workflow`):

- `rules`: the transition table (TRANSITIONS, Transition), who may take each action (ACTION_ROLES), the limits;
- `predicates`: one predicate per rule, `<action>_refusal(actor=, issue=)`, and `may(action, actor=, issue=)`;
- `guards`: the steps every action shares (_lock, the scope, state and version checks, _record bumping the
  version and recording the Event through issues.events.event_record) and the dispatch helpers;
- `triage`: issue_submit, issue_classify, issue_dispatch, issue_reject;
- `handling`: issue_accept, issue_return, issue_resolve, issue_rate, issue_reopen;
- `supervision`: issue_escalate, issue_extend, issue_approve_extension, issue_comment, issue_actions_for;
- `oversight`: issue_supervise (督办), issue_refuse_extension, issue_set_privacy (off the public lists);
- `system`: the system's own, run by issues.escalation: issue_escalate_overdue (and issues_escalate_overdue, the
  same for a batch of issues), issue_auto_close.
"""

from issues.workflow.guards import _iso
from issues.workflow.handling import issue_accept, issue_rate, issue_reopen, issue_resolve, issue_return
from issues.workflow.oversight import issue_refuse_extension, issue_set_privacy, issue_supervise
from issues.workflow.predicates import PREDICATES, may, rate_by_phone_refusal
from issues.workflow.rules import (
    ACTION_ROLES,
    ANY_STATE,
    DEPARTMENT,
    DESCRIPTION_MAX,
    DESCRIPTION_MIN,
    EXTEND_MAX,
    EXTEND_MIN,
    MAX_ESCALATION_LEVEL,
    OPEN,
    RATE_REOPEN_TARGET,
    SUPERVISION_HANDLED_BY,
    TRANSITIONS,
    S,
    Transition,
)
from issues.workflow.supervision import (
    issue_actions_for,
    issue_approve_extension,
    issue_comment,
    issue_escalate,
    issue_extend,
)
from issues.workflow.system import issue_auto_close, issue_escalate_overdue, issues_escalate_overdue
from issues.workflow.triage import issue_classify, issue_dispatch, issue_reject, issue_submit

__all__ = [
    "ACTION_ROLES",
    "ANY_STATE",
    "DEPARTMENT",
    "DESCRIPTION_MAX",
    "DESCRIPTION_MIN",
    "EXTEND_MAX",
    "EXTEND_MIN",
    "MAX_ESCALATION_LEVEL",
    "OPEN",
    "PREDICATES",
    "RATE_REOPEN_TARGET",
    "S",
    "SUPERVISION_HANDLED_BY",
    "TRANSITIONS",
    "Transition",
    "_iso",
    "issue_accept",
    "issue_actions_for",
    "issue_approve_extension",
    "issue_auto_close",
    "issue_classify",
    "issue_comment",
    "issue_dispatch",
    "issue_escalate",
    "issue_escalate_overdue",
    "issues_escalate_overdue",
    "issue_extend",
    "issue_rate",
    "issue_refuse_extension",
    "issue_reject",
    "issue_reopen",
    "issue_resolve",
    "issue_return",
    "issue_submit",
    "issue_set_privacy",
    "issue_supervise",
    "may",
    "rate_by_phone_refusal",
]
