"""Races on real PostgreSQL: two actors on one issue, two sweeps at once, many submissions at once.

Each thread has its own database connection (Django opens one per thread), so the row locks are real. Skipped on
SQLite: its test database is in memory with shared-cache table locks that fail at once instead of waiting (the file
database of the embedded deployment serialises writers with BEGIN IMMEDIATE and a busy timeout instead).
"""

import threading
import time
from collections import Counter
from datetime import timedelta

import pytest
from django.db import connection, connections

from config.errors import InvalidTransition, StaleVersion, WorkflowError
from issues import escalation, workflow
from issues.escalation import escalation_sweep
from issues.models import Dispatch, Event, Issue
from issues.rollups import rollup_rebuild
from tests.issues.test_escalation_rollup_delta import _sums

pytestmark = [
    pytest.mark.skipif(connection.vendor != "postgresql", reason="row locks and SKIP LOCKED need PostgreSQL"),
    pytest.mark.django_db(transaction=True),
]


def race(*calls) -> list:
    """Run each call in its own thread, released together; return what each returned or raised."""
    barrier = threading.Barrier(len(calls))
    outcomes: list = [None] * len(calls)

    def run(i, call):
        try:
            barrier.wait(timeout=10)
            outcomes[i] = call()
        except Exception as exc:  # noqa: BLE001 — the outcome is what the test looks at
            outcomes[i] = exc
        finally:
            connections.close_all()

    threads = [threading.Thread(target=run, args=(i, call)) for i, call in enumerate(calls)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    return outcomes


def test_two_classifications_racing_one_wins_the_other_conflicts(make, community_staff, street_officer):
    issue = make("submitted")
    outcomes = race(
        lambda: workflow.issue_classify(issue=issue.pk, actor=community_staff, category="stairwell", version=1),
        lambda: workflow.issue_classify(issue=issue.pk, actor=street_officer, category="stairwell", version=1),
    )
    winners = [o for o in outcomes if isinstance(o, Issue)]
    losers = [o for o in outcomes if isinstance(o, WorkflowError)]
    assert len(winners) == 1 and len(losers) == 1, outcomes
    assert isinstance(losers[0], InvalidTransition | StaleVersion)
    assert Event.objects.filter(issue=issue, action="classify").count() == 1
    assert Issue.objects.get(pk=issue.pk).version == 2


def test_two_dispatches_racing_one_wins(make, community_staff, street_officer, shuiwu, chengguan_staff):
    issue = make("classified")
    outcomes = race(
        lambda: workflow.issue_dispatch(issue=issue.pk, actor=community_staff, departments=["chengguan"]),
        lambda: workflow.issue_dispatch(issue=issue.pk, actor=street_officer, departments=["shuiwu"]),
    )
    assert sum(isinstance(o, Issue) for o in outcomes) == 1, outcomes
    assert sum(isinstance(o, InvalidTransition) for o in outcomes) == 1, outcomes
    assert Event.objects.filter(issue=issue, action="dispatch").count() == 1
    assert Dispatch.objects.filter(issue=issue).count() == 1


def test_two_acceptances_by_the_lead_one_wins(make, chengguan_staff):
    issue = make("dispatched")
    other = type(chengguan_staff).objects.get(pk=chengguan_staff.pk)  # a second session of the same department
    outcomes = race(
        lambda: workflow.issue_accept(issue=issue.pk, actor=chengguan_staff, version=issue.version),
        lambda: workflow.issue_accept(issue=issue.pk, actor=other, version=issue.version),
    )
    assert sum(isinstance(o, Issue) for o in outcomes) == 1, outcomes
    assert sum(isinstance(o, InvalidTransition | StaleVersion) for o in outcomes) == 1, outcomes
    assert Event.objects.filter(issue=issue, action="accept").count() == 1
    assert Issue.objects.get(pk=issue.pk).status == Issue.Status.IN_PROGRESS


def test_parallel_escalation_sweeps_escalate_each_deadline_once(make):
    issues = [make("dispatched") for _ in range(6)]
    now = max(i.response_due_at for i in issues) + (issues[0].resolution_due_at - issues[0].response_due_at) / 2

    outcomes = race(*[lambda: escalation_sweep(now=now) for _ in range(3)])

    assert not [o for o in outcomes if isinstance(o, Exception)], outcomes
    done = Counter(d["issue_id"] for o in outcomes for d in o)
    assert done == Counter({str(i.pk): 1 for i in issues})
    for issue in issues:
        assert Event.objects.filter(issue=issue, action="escalate").count() == 1
        assert Issue.objects.get(pk=issue.pk).escalation_level == 1


def test_parallel_submissions_get_distinct_numbers(territory, resident):
    outcomes = race(
        *[
            lambda: workflow.issue_submit(actor=resident, description="Bins overflowing.", grid=territory["grid"].code)
            for _ in range(4)
        ]
    )
    assert all(isinstance(o, Issue) for o in outcomes), outcomes
    assert len({o.number for o in outcomes}) == 4


def test_a_backlog_of_chunks_is_worked_off_on_several_connections_each_deadline_once(make, territory, monkeypatch):
    issues = [make("dispatched") for _ in range(5)] + [make("dispatched", place=territory["grid"]) for _ in range(2)]
    now = max(i.resolution_due_at for i in issues) + timedelta(minutes=1)
    # The first two chunks wait for each other: the sweep must have them on two connections at once.
    both_started, connections_used, calls = threading.Barrier(2, timeout=20), set(), []
    original = escalation._escalate_part

    def chunk(part, *, now):
        connection.ensure_connection()
        connections_used.add(connection.connection.info.backend_pid)
        calls.append(part)
        if len(calls) <= 2:
            both_started.wait()
        return original(part, now=now)

    monkeypatch.setattr(escalation, "_escalate_part", chunk)
    backends = _backends()

    done = escalation_sweep(now=now, chunk=2, parallel=3)

    assert len(connections_used) >= 2 and connection.connection.info.backend_pid not in connections_used
    assert Counter((d["issue_id"], d["deadline"]) for d in done) == Counter(
        {(str(i.pk), deadline): 1 for i in issues for deadline in ("response", "resolution")}
    )
    for issue in issues:
        assert Event.objects.filter(issue=issue, action="escalate").count() == 2
        assert Issue.objects.get(pk=issue.pk).escalation_level == 2
    swept = _sums()
    rollup_rebuild()
    assert _sums() == swept
    assert escalation_sweep(now=now, chunk=2, parallel=3) == []
    for _ in range(50):  # the worker threads closed their connections (the server ends each backend shortly after)
        if _backends() <= backends:
            break
        time.sleep(0.1)
    assert _backends() <= backends


def _backends() -> int:
    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM pg_stat_activity WHERE datname = current_database()")
        return cursor.fetchone()[0]
