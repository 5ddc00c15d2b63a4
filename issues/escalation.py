"""The sweeps Celery beat runs: escalation of passed deadlines and auto-close of unrated resolved issues.

Both may run in several workers at the same moment. They only find the candidates (served by the partial indexes
on Issue); the workflow then handles them in short transactions that lock the rows with SKIP LOCKED and re-check
the condition after locking, so a deadline escalates once and an issue closes once.

Escalation reads its candidates through the partial indexes `issue_<deadline>_escalation` (the deadline still runs,
issues.models.escalation_running_q), from the oldest deadline to now, anti-joined with the EscalationMark rows
("escalated for this deadline value already"): one index-only range scan and a primary-key probe per running overdue
issue. The marks live in their own table so that an escalation changes no indexed column of the issue row: its
update is HOT (no index entry written), where a marker on the row cost an entry in each of two dozen indexes. It hands
the candidates to issues.workflow.issues_escalate_overdue CHUNK at a time (one transaction and a constant number of
queries each); a chunk that fails is retried one issue at a time, so one broken issue holds up nobody.
"""

import gc
import logging
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack, contextmanager, nullcontext
from datetime import datetime, timedelta
from queue import Empty, SimpleQueue

from django.conf import settings
from django.db import connection, connections
from django.db.models import Exists, OuterRef, Q
from django.utils import timezone

from issues.models import EscalationMark, Issue, escalation_running_q
from issues.workflow import issue_auto_close, issue_escalate_overdue, issues_escalate_overdue

BATCH = 500  # auto-close: issues per run
ESCALATION_LIMIT = 100_000  # escalation: at most this many issues per deadline per run (the next run takes the rest)
CHUNK = 1000  # escalation: issues per transaction (rows locked together for a fraction of a second)

logger = logging.getLogger(__name__)


def escalation_due_q(deadline: str, now: datetime) -> Q:
    """Return the filter for issues whose `deadline` passed, still running, before `now` and not escalated for yet."""
    due = f"{deadline}_due_at"
    marked = EscalationMark.objects.filter(issue=OuterRef("pk"), deadline=deadline, due_at=OuterRef(due))
    return escalation_running_q(deadline) & Q(**{f"{due}__lt": now}) & ~Exists(marked)


def escalation_sweep(
    *, now: datetime | None = None, limit: int = ESCALATION_LIMIT, chunk: int = CHUNK, parallel: int | None = None
) -> list[dict]:
    """Escalate every issue whose response or resolution deadline passed, one level per deadline, once per deadline.

    Return one dict per escalation (see issues.workflow.issue_escalate_overdue); at most `limit` issues per deadline
    are taken in one run, the oldest deadlines first, and the next run takes the rest. A backlog of several chunks
    (after an outage, a holiday's deadlines passing at once) is worked off on up to `parallel` database
    connections at once (GRIDDESK_SWEEP_CONNECTIONS), each chunk in its own transaction as always: the chunks hold
    different issues, and their rollup rows are written in key order into each transaction's own slot.
    """
    now = now or timezone.now()
    candidates: dict = {}  # pk → created_at, the oldest deadline first
    for deadline in Issue.DEADLINE_STATUSES:
        overdue = Issue.objects.filter(escalation_due_q(deadline, now)).order_by(f"{deadline}_due_at")
        candidates.update(overdue.values_list("pk", "created_at")[:limit])
    pairs = list(candidates.items())
    parts = [pairs[start : start + chunk] for start in range(0, len(pairs), chunk)]
    workers = min(settings.GRIDDESK_SWEEP_CONNECTIONS if parallel is None else parallel, len(parts))
    with _collector_spared() if len(parts) > 1 else nullcontext():
        if workers < 2 or not _parallel_possible():
            return [escalation for part in parts for escalation in _escalate_part(part, now=now)]
        done = _in_threads(_escalate_part, parts, workers=workers, now=now)
    return [escalation for part in done for escalation in part]


@contextmanager
def _collector_spared():
    """Keep the garbage collector's full collections off the objects alive before the sweep (gc.freeze) until it ends.

    A backlog's chunks allocate rows, events and payloads by the ten thousand, which sets off full collections, and
    each of those walks every object of the process (Django's, Celery's, the app's: a fifth of the sweep's Python time
    at 10,000 escalations, under the GIL). Frozen objects are only left out of collections meanwhile: unfreezing puts
    them back in the oldest generation, so whatever became garbage among them is freed later, not never. A process
    that froze its objects itself (a pre-forking server keeping pages shared) is left as it is.
    """
    if gc.get_freeze_count():
        yield
        return
    gc.freeze()
    try:
        yield
    finally:
        gc.unfreeze()


def _escalate_part(part: list[tuple], *, now: datetime) -> list[dict]:
    """Escalate one chunk of (pk, created_at) in one transaction; a chunk that fails goes one issue at a time.

    The chunk names the span of its issues' created_at: on a table partitioned by month the lock and the update then
    read the partitions of those months, not every partition once per id."""
    pks = [pk for pk, _ in part]
    created = [at for _, at in part]
    try:
        return issues_escalate_overdue(issues=pks, now=now, created_between=(min(created), max(created)))
    except Exception:  # noqa: BLE001 — find the broken issue: the others of its chunk go one at a time
        logger.exception("escalation of %d issues failed; retrying them one at a time", len(part))
        return _escalate_one_by_one(pks, now=now)


def _parallel_possible() -> bool:
    """Say whether chunks may run on connections of their own: PostgreSQL (SQLite has one writer at a time), and no
    transaction open here, whose rows other connections could not see (a test's, a caller's)."""
    return connection.vendor == "postgresql" and not connection.in_atomic_block


def _in_threads(function, items: list, *, workers: int, **kwargs) -> list:
    """Return [function(item, **kwargs) for item in items], run by `workers` threads, each on its own database
    connection (Django's are per thread; closed when the thread is done) with the caller's execute wrappers (query
    counters, tracing)."""
    wrappers = list(connection.execute_wrappers)
    queue = SimpleQueue()
    for item in enumerate(items):
        queue.put(item)
    results: dict[int, object] = {}

    def work() -> None:
        try:
            with ExitStack() as stack:
                for wrapper in wrappers:
                    stack.enter_context(connection.execute_wrapper(wrapper))
                while True:
                    try:
                        n, item = queue.get_nowait()
                    except Empty:
                        return
                    results[n] = function(item, **kwargs)
        finally:
            connections.close_all()

    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="sweep") as pool:
        for future in [pool.submit(work) for _ in range(workers)]:
            future.result()
    return [results[n] for n in range(len(items))]


def _escalate_one_by_one(pks, *, now: datetime) -> list[dict]:
    done = []
    for pk in pks:
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
