"""The system's own actions, run by issues.escalation from Celery beat: overdue escalation and auto-close."""

from datetime import datetime, timedelta
from types import SimpleNamespace

from django.conf import settings
from django.db import transaction
from django.db.models import F, Value
from django.db.models.functions import Least
from django.utils import timezone

from config.bulk import rows_insert
from issues.arguments import issue_pk
from issues.models import EscalationMark, Issue
from issues.rollups import rollup_escalations
from issues.workflow.guards import _iso, _record, _record_many
from issues.workflow.rules import MAX_ESCALATION_LEVEL, TRANSITIONS, A

DEADLINE_DUE_FIELDS = tuple(f"{deadline}_due_at" for deadline in Issue.DEADLINE_STATUSES)

# --- the system's own (issues.escalation runs these from Celery beat; actor None) -----------------------------------


def _has_ended(issue: Issue, deadline: str) -> bool:
    """Say whether `deadline` ended for good (Issue.DEADLINE_ENDED_BY), so it can no longer escalate."""
    field = Issue.DEADLINE_ENDED_BY.get(deadline)
    return field is not None and getattr(issue, field) is not None


# What an overdue escalation reads of an issue: the re-check (_is_overdue), the change and its version, who hears of it
# and what they are told (issues.audience, notifications.outbox._payload), the mark. The batch locks and reads only
# these, not the row's 42 columns, as plain attributes (no model instance): reading any other fails at once
# (AttributeError), which the batch tests catch.
ESCALATION_READS = (
    "id", "number", "status", "kind", "private", "area_path", "reporter_user_id", "duplicate_of_id", "title",
    "description", "reject_reason", "escalation_level", "version", "updated_at", *DEADLINE_DUE_FIELDS,
    *Issue.DEADLINE_ENDED_BY.values(),
)  # fmt: skip


def _locked_with_marks(pks: list, *, fields=None, created_between=None) -> tuple[list, set[tuple]]:
    """Lock the issues of `pks` another sweep does not hold (SKIP LOCKED); return them and their escalation marks.

    `fields`: read only these columns (the batch's ESCALATION_READS), each issue a namespace of them and `pk` (a model
    instance each cost the batch more than the rest of its reading), else whole Issues. The marks are read after the
    lock, in their own statement: it sees what a sweep that held a row before us committed (a subquery of the locking
    statement would see its snapshot, from before that commit). `created_between`: see issues_escalate_overdue.
    """
    locking = Issue.objects.select_for_update(skip_locked=True).filter(pk__any_of=pks).order_by("pk")
    if created_between is not None:
        locking = locking.filter(created_at__range=created_between)
    if fields:
        locked = [
            SimpleNamespace(pk=row[0], **dict(zip(fields, row, strict=True))) for row in locking.values_list(*fields)
        ]
    else:
        locked = list(locking)
    if not locked:
        return [], set()
    marks = EscalationMark.objects.filter(issue_id__any_of=[issue.pk for issue in locked])
    return locked, set(marks.values_list("issue_id", "deadline", "due_at"))


def _is_overdue(issue: Issue, deadline: str, now: datetime, marks: set[tuple]) -> bool:
    due = getattr(issue, f"{deadline}_due_at")
    return (
        issue.status in Issue.DEADLINE_STATUSES[deadline]
        and due is not None
        and due < now
        and (issue.pk, deadline, due) not in marks
        and not _has_ended(issue, deadline)
    )


def _escalation(issue: Issue, deadline: str, now: datetime, marks: set[tuple], tz=None) -> dict | None:
    """Escalate the locked `issue` one level in memory for `deadline` if overdue (adding its mark to `marks`, which
    the caller writes); return the event data or None. `tz`: the current time zone, read once by the batch."""
    if not _is_overdue(issue, deadline, now, marks):
        return None
    due = getattr(issue, f"{deadline}_due_at")
    marks.add((issue.pk, deadline, due))
    from_level = issue.escalation_level
    issue.escalation_level = min(from_level + 1, MAX_ESCALATION_LEVEL)
    return {
        "deadline": deadline,
        "due_at": _iso(due, tz),
        "from_level": from_level,
        "to_level": issue.escalation_level,
        "automatic": True,
    }


def _marks_write(issues: list[Issue], deadline: str) -> None:
    """Write the marks of `deadline` for the escalated `issues`, one statement (the primary key refuses a second)."""
    rows_insert(
        model=EscalationMark,
        columns={
            "issue_id": [issue.pk for issue in issues],
            "deadline": [deadline] * len(issues),
            "due_at": [getattr(issue, f"{deadline}_due_at") for issue in issues],
        },
    )


def issue_escalate_overdue(*, issue, now: datetime | None = None) -> list[dict]:
    """Escalate an issue one level for each of its deadlines that passed and has not escalated yet (system).

    A deadline escalates exactly once per value: the row is locked with SKIP LOCKED (a row another sweep holds is left
    to it) and the condition re-checked after locking against the issue's EscalationMark rows, and the escalation
    writes its mark. An issue already at the district stays there; the passed deadline is still recorded and the
    district told. Return one dict per escalation: {"issue_id", "number", "deadline", "due_at", "from_level",
    "to_level"}.
    """
    now = now or timezone.now()
    done = []
    with transaction.atomic():
        locked, marks = _locked_with_marks([issue_pk(issue)])
        if not locked:
            return done
        [issue] = locked
        for deadline in Issue.DEADLINE_STATUSES:
            data = _escalation(issue, deadline, now, marks)
            if data is None:
                continue
            _record(issue=issue, actor=None, action=A.ESCALATE, from_status=issue.status, data=data)
            _marks_write([issue], deadline)
            done.append({"issue_id": str(issue.pk), "number": issue.number, **data})
    return done


def issues_escalate_overdue(*, issues, now: datetime | None = None, created_between: tuple | None = None) -> list[dict]:
    """Escalate many issues as issue_escalate_overdue escalates each, in one transaction and a few queries (system).

    The same rule, row locks and re-check (SKIP LOCKED: rows another sweep holds are left to it), the same events,
    outbox rows and marks; one deadline at a time, so an issue passing both is recorded exactly as the one-at-a-time
    path records it (response first, each event seeing the issue as that step left it). Per deadline, the issue rows
    change in one UPDATE (escalation_level, version, updated_at: no indexed column, so HOT), the marks in one insert,
    the events and their outbox rows in bulk (issues.events.events_record_many), the statistics rollups as a delta
    (issues.rollups.rollup_escalations: only an issue's first escalation moves a count).
    `created_between`: (earliest, latest) created_at of `issues`, when the caller knows it (the sweep's candidate read
    does): the lock and the update name that span as well as the ids, so that on a table partitioned by month
    (issues.partitioning) they read those months' partitions only, not every partition once per id. An issue outside
    it is left alone (the caller's span must hold them all).
    Return one dict per escalation, as issue_escalate_overdue does.
    """
    now = now or timezone.now()
    done = []
    with transaction.atomic():
        pks = [issue_pk(issue) for issue in issues]
        locked, marks = _locked_with_marks(pks, fields=ESCALATION_READS, created_between=created_between)
        tz = timezone.get_current_timezone()
        for deadline in Issue.DEADLINE_STATUSES:
            records = []
            for issue in locked:
                data = _escalation(issue, deadline, now, marks, tz)
                if data is not None:
                    records.append({"issue": issue, "actor": None, "action": A.ESCALATE, "data": data})
            if not records:
                continue
            # What _escalation did to each row in memory, done to all of them by the database (they are locked).
            changes = {"escalation_level": Least(F("escalation_level") + 1, Value(MAX_ESCALATION_LEVEL))}
            # Only escalation_level changed: the rollups take it as a delta (issues.rollups.rollup_escalations).
            _record_many(records=records, changes=changes, rollups=False, created_between=created_between)
            rollup_escalations((r["issue"], r["data"]["from_level"], r["data"]["to_level"]) for r in records)
            _marks_write([r["issue"] for r in records], deadline)
            done += [{"issue_id": str(r["issue"].pk), "number": r["issue"].number, **r["data"]} for r in records]
    return done


def issue_auto_close(*, issue, now: datetime | None = None) -> Issue | None:
    """Close a resolved issue left unrated for GRIDDESK_AUTO_CLOSE_DAYS days as auto-closed, never as rated (system).

    Return the closed issue, or None when it is not (or no longer) due, or another sweep holds it.
    """
    now = now or timezone.now()
    days = settings.GRIDDESK_AUTO_CLOSE_DAYS
    with transaction.atomic():
        issue = Issue.objects.select_for_update(skip_locked=True).filter(pk=issue_pk(issue)).first()
        if issue is None or issue.status not in TRANSITIONS[A.AUTO_CLOSE].sources or issue.resolved_at is None:
            return None
        if issue.resolved_at > now - timedelta(days=days):
            return None
        from_status = issue.status
        issue.status = TRANSITIONS[A.AUTO_CLOSE].target
        issue.closed_at, issue.closed_how = now, Issue.ClosedHow.AUTO_CLOSED
        _record(issue=issue, actor=None, action=A.AUTO_CLOSE, from_status=from_status, data={"days": days})
    return issue
