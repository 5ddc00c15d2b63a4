"""The sweeps Celery beat runs: escalation of passed deadlines and auto-close of unrated resolved issues.

Both may run in several workers at the same moment. They only find the candidates (served by the partial indexes
on Issue); each issue is then handled by its workflow function in its own short transaction, which locks the row
with SKIP LOCKED and re-checks the condition after locking, so a deadline escalates once and an issue closes once.
"""

import logging
from datetime import datetime, timedelta

from django.conf import settings
from django.db.models import F, Q
from django.utils import timezone

from issues.models import Issue
from issues.sla import deadline_passed_q
from issues.workflow import issue_auto_close, issue_escalate_overdue

BATCH = 500

logger = logging.getLogger(__name__)


def escalation_due_q(deadline: str, now: datetime) -> Q:
    """Return the filter for issues whose `deadline` passed, still running, before `now` and not escalated for yet."""
    due, done = f"{deadline}_due_at", f"{deadline}_escalated_for"
    return deadline_passed_q(deadline, now=now) & (Q(**{f"{done}__isnull": True}) | ~Q(**{done: F(due)}))


def escalation_sweep(*, now: datetime | None = None, limit: int = BATCH) -> list[dict]:
    """Escalate every issue whose response or resolution deadline passed, one level per deadline, once per deadline.

    Return one dict per escalation (see issues.workflow.issue_escalate_overdue); at most `limit` issues per deadline
    are taken in one run, the oldest deadlines first, and the next run takes the rest.
    """
    now = now or timezone.now()
    candidates: dict = {}
    for deadline in Issue.DEADLINE_STATUSES:
        overdue = Issue.objects.filter(escalation_due_q(deadline, now)).order_by(f"{deadline}_due_at")
        candidates.update(dict.fromkeys(overdue.values_list("pk", flat=True)[:limit]))
    done = []
    for pk in candidates:
        try:
            done.extend(issue_escalate_overdue(issue=pk, now=now))
        except Exception:  # noqa: BLE001 — one broken issue must not hold up the others; the next run retries it
            logger.exception("escalation of issue %s failed", pk)
    return done


def auto_close_sweep(*, now: datetime | None = None, limit: int = BATCH) -> int:
    """Close the resolved issues left unrated for GRIDDESK_AUTO_CLOSE_DAYS days; return how many it closed."""
    now = now or timezone.now()
    cutoff = now - timedelta(days=settings.GRIDDESK_AUTO_CLOSE_DAYS)
    waiting = Issue.objects.filter(status=Issue.Status.RESOLVED, resolved_at__lte=cutoff).order_by("resolved_at")
    closed = 0
    for pk in waiting.values_list("pk", flat=True)[:limit]:
        try:
            closed += issue_auto_close(issue=pk, now=now) is not None
        except Exception:  # noqa: BLE001 — one broken issue must not hold up the others; the next run retries it
            logger.exception("auto-close of issue %s failed", pk)
    return closed
