"""The sweeps Celery beat runs: escalation of passed deadlines and auto-close of unrated resolved issues.

Both may run in several workers at the same moment. They only find the candidates (served by the partial indexes
on Issue); the workflow then handles them in short transactions that lock the rows with SKIP LOCKED and re-check
the condition after locking, so a deadline escalates once and an issue closes once.

Escalation reads its candidates through the partial indexes `issue_<deadline>_escalation` (the deadline still runs,
issues.models.escalation_running_q), anti-joined with the EscalationMark rows ("escalated for this deadline value
already"): an index-only range scan from the horizon the last run left to now (EscalationHorizon), plus the issues with
an event since (escalation_horizon), so a run reads what changed, not the backlog of overdue issues escalated for
already; every running deadline once an hour (the backstop). The marks live in their own table so that an escalation
changes no indexed column of the issue row: its update is HOT (no index entry written), where a marker on the row cost
an entry in each of two dozen indexes. It hands the candidates to issues.workflow.issues_escalate_overdue CHUNK at a
time (one transaction and a constant number of queries each); a chunk that fails is retried one issue at a time, so one
broken issue holds up nobody.
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

from issues.models import EscalationHorizon, EscalationMark, Event, Issue, escalation_running_q
from issues.workflow import issue_auto_close, issue_escalate_overdue, issues_escalate_overdue

BATCH = 500  # auto-close: issues per run
ESCALATION_LIMIT = 100_000  # escalation: at most this many issues per deadline per run (the next run takes the rest)
CHUNK = 1000  # escalation: issues per transaction (rows locked together for a fraction of a second)

# How far before the recorded horizon a run reads again: a change recorded (its event's `at`) before the last run read
# the database but committed after it, or stamped by a server whose clock runs behind, is found if it is younger.
HORIZON_MARGIN = timedelta(minutes=10)
# The events that may make a deadline newly due and unmarked: every action but the system's own (escalations, which
# write the mark; auto-close, reminders, retention). Named as the actions they keep, not the ones they leave out, so
# the read goes through the events' (action, at) index and skips a big sweep's 10,000 escalations.
_MAY_MAKE_DUE = tuple(
    action
    for action in Event.Action.values
    if action
    not in (
        Event.Action.ESCALATE,
        Event.Action.AUTO_CLOSE,
        Event.Action.REMIND_RESPONSE,
        Event.Action.REMIND_RESOLUTION,
        Event.Action.RETENTION,
    )
)

logger = logging.getLogger(__name__)


def escalation_due_q(deadline: str, now: datetime) -> Q:
    """Return the filter for issues whose `deadline` passed, still running, before `now` and not escalated for yet."""
    due = f"{deadline}_due_at"
    marked = EscalationMark.objects.filter(issue=OuterRef("pk"), deadline=deadline, due_at=OuterRef(due))
    return escalation_running_q(deadline) & Q(**{f"{due}__lt": now}) & ~Exists(marked)


def escalation_sweep(
    *,
    now: datetime | None = None,
    limit: int = ESCALATION_LIMIT,
    chunk: int = CHUNK,
    parallel: int | None = None,
    full: bool = False,
) -> list[dict]:
    """Escalate every issue whose response or resolution deadline passed, one level per deadline, once per deadline.

    Return one dict per escalation (see issues.workflow.issue_escalate_overdue); at most `limit` issues per deadline
    are taken in one run, the oldest deadlines first, and the next run takes the rest. A backlog of several chunks
    (after an outage, a holiday's deadlines passing at once) is worked off on up to `parallel` database
    connections at once (GRIDDESK_SWEEP_CONNECTIONS), each chunk in its own transaction as always: the chunks hold
    different issues, and their rollup rows are written in key order into each transaction's own slot.
    The candidates are read from the horizon the last run left (escalation_horizon) unless `full` or a full read is
    due; the run then records the horizon it leaves.
    """
    now = now or timezone.now()
    since, reads = escalation_reads(now, full=full)
    candidates = {deadline: list(read[:limit]) for deadline, read in reads.items()}
    pairs = list({pk: created for rows in candidates.values() for pk, created, _ in rows}.items())
    parts = [pairs[start : start + chunk] for start in range(0, len(pairs), chunk)]
    workers = min(settings.GRIDDESK_SWEEP_CONNECTIONS if parallel is None else parallel, len(parts))
    with _collector_spared() if len(parts) > 1 else nullcontext():
        if workers < 2 or not _parallel_possible():
            done = [escalation for part in parts for escalation in _escalate_part(part, now=now)]
        else:
            done = [
                escalation
                for part in _in_threads(_escalate_part, parts, workers=workers, now=now)
                for escalation in part
            ]
    _horizon_record(now=now, full=since is None, candidates=candidates, done=done, limit=limit)
    return done


def escalation_reads(now: datetime, *, full: bool = False) -> tuple[datetime | None, dict]:
    """Return (since, {deadline: the read of its candidates}) of a sweep at `now`: from the horizon the last run left,
    or every running deadline (`since` None) when `full` or a full read is due."""
    since = None if full else escalation_horizon(now)
    changed = () if since is None else escalation_changed(since, now)
    reads = {
        deadline: escalation_candidates(deadline, now=now, since=since, changed=changed)
        for deadline in Issue.DEADLINE_STATUSES
    }
    return since, reads


def escalation_horizon(now: datetime) -> datetime | None:
    """Return the moment a sweep at `now` must read from, or None when it must read every running deadline.

    A deadline becomes due and unmarked in two ways: time passes it (it falls after the horizon), or a change of the
    issue (a new deadline value, a status that makes it run again) lands after the horizon, and every change goes
    through issues.workflow, which records an event. A change that reached the database otherwise (SQL by hand, a
    restore) is found by the next full read, at most GRIDDESK_ESCALATION_FULL_READ_SECONDS later. No horizon yet, a
    clock that went back, or a full read due: None.
    """
    row = EscalationHorizon.objects.filter(name="escalation").first()
    if row is None or now < row.covered_until:
        return None
    if now - row.full_read_at >= timedelta(seconds=settings.GRIDDESK_ESCALATION_FULL_READ_SECONDS):
        return None
    return row.covered_until - HORIZON_MARGIN


def escalation_changed(since: datetime, now: datetime) -> list:
    """Return the issues with an event between `since` and `now` that could have made a deadline newly due.

    Up to `now`, as the deadlines are: an event stamped later (by a clock ahead of this one) is the next runs' to read,
    whose window starts a HORIZON_MARGIN before this run's `now`."""
    changed = Event.objects.filter(action__in=_MAY_MAKE_DUE, at__gte=since, at__lte=now)
    return list(changed.order_by().values_list("issue_id", flat=True).distinct())


def escalation_candidates(deadline: str, *, now: datetime, since: datetime | None = None, changed=()):
    """Return (pk, created_at, due) of the issues due to escalate for `deadline`, the oldest deadline first.

    `since`: only deadlines that passed since then (the partial index's range), and the `changed` issues
    (escalation_changed: their deadline may have moved into the past, or run again; by primary key, or filtered out of
    the partial index where the planner finds that cheaper), so the read does not anti-join the backlog of running
    deadlines escalated for already; None: every running deadline."""
    due = f"{deadline}_due_at"
    overdue = Issue.objects.filter(escalation_due_q(deadline, now)).order_by()
    if since is not None:
        recent = overdue.filter(**{f"{due}__gte": since})
        overdue = recent.union(overdue.filter(pk__any_of=changed)) if changed else recent
    return overdue.values_list("pk", "created_at", due).order_by(due)


def _horizon_record(*, now: datetime, full: bool, candidates: dict, done: list[dict], limit: int) -> None:
    """Record how far this run covered: `now`, or the oldest deadline it read and did not escalate (a row another
    transaction held, a chunk that failed, a deadline beyond `limit`), which the next run then reads again."""
    escalated = {(escalation["issue_id"], escalation["deadline"]) for escalation in done}
    covered = now
    for deadline, rows in candidates.items():
        left = [at for pk, _, at in rows if (str(pk), deadline) not in escalated]
        if len(rows) >= limit:
            left.append(rows[-1][2])
        covered = min([covered, *left])
    # One statement a run (an upsert; the row is made by the first run, always a full read). Sweeps running at once
    # write in turn and the last one wins: each covered what it read, and a row one of them left unescalated is a
    # candidate of the others as well.
    EscalationHorizon.objects.bulk_create(
        [EscalationHorizon(name="escalation", covered_until=covered, full_read_at=now)],
        update_conflicts=True,
        unique_fields=["name"],
        update_fields=["covered_until", "full_read_at"] if full else ["covered_until"],
    )


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
