"""A submission waits for the fold to be counted in the statistics rollup (issues.rollups.rollup_fold): on PostgreSQL
it writes one StatsPending row where it wrote its sixteen rollup rows and its entry; every reader folds first, so
what it answers counts every submission, once, where a rebuild counts it."""

from datetime import timedelta

import pytest
from django.db import connection
from django.db.models import Sum
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from issues import workflow
from issues.models import Issue, StatsEntry, StatsPending, StatsRollup
from issues.rollups import ESCALATED, KEY_COLUMNS, rollup_escalations, rollup_fold, rollup_rebuild
from issues.stats import issue_stats, stats_weekly_trend
from issues.tasks import stats_fold_task
from tests.issues.stats_reference import live_issue_stats
from tests.issues.test_workflow_submit import DESCRIPTION

pytestmark = pytest.mark.django_db

POSTGRESQL = connection.vendor == "postgresql"


def _sums() -> list[tuple]:
    """Return every row's counts summed over its slot copies (as readers sum them), rows counting nothing aside."""
    rows = StatsRollup.objects.order_by().values(*KEY_COLUMNS).annotate(t=Sum("total"), e=Sum("escalated"))
    return sorted((*(str(row[c]) for c in KEY_COLUMNS), row["t"], row["e"]) for row in rows if row["t"] or row["e"])


def _submit(territory, resident, n: int = 1) -> list[Issue]:
    return [
        workflow.issue_submit(actor=resident, description=DESCRIPTION, grid=territory["grid"].code) for _ in range(n)
    ]


def test_a_submission_writes_no_rollup_row_and_a_reader_counts_it(territory, resident):
    issues = _submit(territory, resident, 3)
    if POSTGRESQL:
        assert set(StatsPending.objects.values_list("issue_id", flat=True)) == {i.pk for i in issues}
        assert not StatsRollup.objects.exists() and not StatsEntry.objects.exists()
    else:  # one writer at a time: counted at once
        assert not StatsPending.objects.exists() and StatsEntry.objects.count() == 3
    today = timezone.localdate()
    for area in (territory["street"], territory["community"], territory["grid"]):
        args = {"area": area, "date_from": today - timedelta(days=1), "date_to": today}
        assert issue_stats(**args) == live_issue_stats(**args)
        assert issue_stats(**args)["total"] == 3
    assert sum(week["intake"] for week in stats_weekly_trend(area=territory["street"], date_from=today, date_to=today))
    assert not StatsPending.objects.exists()
    assert StatsEntry.objects.count() == 3
    counted = _sums()
    rollup_rebuild()
    assert _sums() == counted


def test_a_reader_with_nothing_to_fold_pays_one_query(territory, resident):
    _submit(territory, resident)
    rollup_fold()
    with CaptureQueriesContext(connection) as queries:
        assert rollup_fold() == 0
    assert len(queries) == 1
    assert '"issues_statspending"' in queries[0]["sql"]


@pytest.mark.skipif(not POSTGRESQL, reason="submissions wait for the fold on PostgreSQL")
def test_a_change_before_the_fold_counts_the_issue_once(territory, resident, community_staff):
    rejected, waiting = _submit(territory, resident, 2)
    workflow.issue_reject(issue=rejected.pk, actor=community_staff, reason="out_of_scope")
    # The change's refresh counted the issue (no entry yet: counted whole); its pending row is still there.
    assert StatsEntry.objects.filter(issue=rejected).exists()
    assert StatsPending.objects.count() == 2

    assert rollup_fold() == 2

    leaf = StatsRollup.objects.filter(level=StatsRollup.Level.LEAF).aggregate(
        total=Sum("total"), rejected=Sum("status_rejected"), submitted=Sum("status_submitted")
    )
    assert leaf == {"total": 2, "rejected": 1, "submitted": 1}
    counted = _sums()
    rollup_rebuild()
    assert _sums() == counted


@pytest.mark.skipif(not POSTGRESQL, reason="submissions wait for the fold on PostgreSQL")
def test_an_escalation_before_the_fold_counts_the_issue_once_as_escalated(territory, resident):
    (issue,) = _submit(territory, resident)
    Issue.objects.filter(pk=issue.pk).update(escalation_level=Issue.EscalationLevel.STREET)
    issue.refresh_from_db()
    # What the sweep does after escalating it: the delta path finds no entry, and counts the issue whole.
    rollup_escalations([(issue, Issue.EscalationLevel.COMMUNITY, Issue.EscalationLevel.STREET)])
    assert StatsEntry.objects.get(issue=issue).flags & (1 << ESCALATED)

    assert rollup_fold() == 1

    leaf = StatsRollup.objects.filter(level=StatsRollup.Level.LEAF).aggregate(t=Sum("total"), e=Sum("escalated"))
    assert leaf == {"t": 1, "e": 1}
    counted = _sums()
    rollup_rebuild()
    assert _sums() == counted


@pytest.mark.skipif(not POSTGRESQL, reason="submissions wait for the fold on PostgreSQL")
def test_the_fold_counts_in_chunks_and_the_celery_task_runs_it(territory, resident):
    _submit(territory, resident, 5)
    with CaptureQueriesContext(connection) as queries:
        assert rollup_fold(chunk=2) == 5
    # Three chunks, each read, locked, counted and deleted; then one read that finds nothing.
    assert sum('DELETE FROM "issues_statspending"' in q["sql"] for q in queries.captured_queries) == 3
    assert not StatsPending.objects.exists()
    _submit(territory, resident, 2)
    assert stats_fold_task() == 2
    assert StatsRollup.objects.filter(level=StatsRollup.Level.LEAF).aggregate(t=Sum("total"))["t"] == 7
