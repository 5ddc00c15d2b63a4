"""Races on real PostgreSQL: two actors on one issue, two sweeps at once, many submissions at once.

Each thread has its own database connection (Django opens one per thread), so the row locks are real. Skipped on
SQLite: its test database is in memory with shared-cache table locks that fail at once instead of waiting (the file
database of the embedded deployment serialises writers with BEGIN IMMEDIATE and a busy timeout instead).
"""

import threading
from collections import Counter

import pytest
from django.db import connection, connections

from config.errors import InvalidTransition, StaleVersion, WorkflowError
from issues import workflow
from issues.escalation import escalation_sweep
from issues.models import Dispatch, Event, Issue

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
