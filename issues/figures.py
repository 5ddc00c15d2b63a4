"""The one definition of each statistics figure an issue counts in (docs/API.md's statistics): the filters that
issues.stats counts with and issues.rollups stores a bit of per issue. Kept apart from both so that the readers
(issues.stats) can call the rollup's fold (issues.rollups) without the two importing each other."""

from django.db.models import Exists, F, OuterRef, Q

from issues.models import Event, Issue
from issues.sla import deadline_running_q

S = Issue.Status
STATUSES = list(S.values)
CHANNELS = list(Issue.Channel.values)
RESOLVED_STATUSES = (S.RESOLVED, S.CLOSED)
# Open statuses in which no resolution deadline runs (DEADLINE_STATUSES) but one may be set: counted as due live.
OTHER_OPEN_STATUSES = [
    s for s in STATUSES if s not in (*RESOLVED_STATUSES, S.REJECTED, *Issue.DEADLINE_STATUSES["resolution"])
]


def issue_flags() -> dict[str, Q]:
    """Return {flag: the filter of the issues that count in it}: every per-issue figure that `now` cannot change.

    The one definition of each figure (module docstring): issues.rollups stores one bit per flag for each issue.
    `due_resolved` is the part of `due` that stays: resolved or closed with a deadline (due_running_q is the rest).
    """
    resolved = Q(status__in=RESOLVED_STATUSES)
    lead_accepted_in_time = Exists(
        Event.objects.filter(
            issue_id=OuterRef("pk"),
            action=Event.Action.ACCEPT,
            from_status=S.DISPATCHED,
            to_status=S.IN_PROGRESS,
            at__lte=OuterRef("response_due_at"),
        )
    )
    dispatched = Q(dispatched_at__isnull=False)
    accepted = Q(accepted_at__isnull=False)
    has_deadline = Q(resolution_due_at__isnull=False)
    return {
        **{f"status_{status}": Q(status=status) for status in STATUSES},
        "dispatched": dispatched,
        "responded_on_time": dispatched & Q(lead_accepted_in_time),
        "accepted": accepted,
        "resolved": accepted & resolved,
        "due_resolved": has_deadline & resolved,
        "resolved_on_time": has_deadline & resolved & Q(resolved_at__lte=F("resolution_due_at")),
        "escalated": Q(escalation_level__gt=Issue.EscalationLevel.COMMUNITY),
    }


def clock_terms() -> dict[str, list[tuple[Q, str]]]:
    """Return {figure: [(filter, deadline field)]} for the two figures `now` changes, `overdue` and `due_running`.

    An issue counts in a figure at `now` when, for one of its terms, it matches the filter and the deadline field is
    before `now` (overdue_q, due_running_q: the same terms). As long as the issue does not change, the earliest such
    deadline is the moment it starts counting and it counts from then on: issues.rollups keys its deadline rows by
    that moment's local day, so a reader counts live only the deadlines of the day it reads.
    """
    return {
        "overdue": [
            (deadline_running_q("resolution"), "resolution_due_at"),
            (deadline_running_q("response"), "response_due_at"),
        ],
        "due_running": [
            (Q(status__in=Issue.DEADLINE_STATUSES["resolution"]), "resolution_due_at"),
            (Q(status__in=OTHER_OPEN_STATUSES), "resolution_due_at"),
        ],
    }


CLOCK_FIGURES = list(clock_terms())
