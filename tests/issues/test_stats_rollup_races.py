"""The rollup under concurrency, on real PostgreSQL: changes of issues sharing rollup rows, and a rebuild racing
changes, leave the rollup equal to a rebuild from scratch (issues.rollups' module docstring says why).
"""

from datetime import timedelta

import pytest
from django.db import connection
from django.db.models import IntegerField, Sum
from django.utils import timezone

from issues import workflow
from issues.models import DeadlineRollup, DepartmentRollup, StatsPending, StatsRollup
from issues.rollups import COUNTS, LATE_COUNTS, rollup_fold, rollup_rebuild
from issues.stats import issue_stats
from issues.stats_report import department_stats
from tests.issues.stats_department_reference import live_department_stats
from tests.issues.stats_reference import live_issue_stats
from tests.issues.test_concurrency import race
from tests.issues.test_workflow_submit import DESCRIPTION

pytestmark = [
    pytest.mark.skipif(connection.vendor != "postgresql", reason="row locks need PostgreSQL"),
    pytest.mark.django_db(transaction=True),
]


def _table() -> list[tuple]:
    """Return the rollup rows with counts as comparable tuples: each row's slots (issues.rollups.SLOTS) summed."""
    counts = [f.name for f in StatsRollup._meta.concrete_fields if isinstance(f, IntegerField) and f.name in COUNTS]
    keys = [f.name for f in StatsRollup._meta.concrete_fields if f.name not in {"id", "slot", *counts}]
    summed = StatsRollup.objects.values(*keys).order_by().annotate(**{f"sum_{c}": Sum(c) for c in counts})
    rows = [tuple(row.values()) for row in summed.filter(sum_total__gt=0)]
    departments = [f.attname for f in DepartmentRollup._meta.concrete_fields if f.name != "id"]
    late_keys = [f.name for f in DeadlineRollup._meta.concrete_fields if f.name not in {"id", "slot", *LATE_COUNTS}]
    late = DeadlineRollup.objects.values(*late_keys).order_by().annotate(o=Sum("overdue"), d=Sum("due_running"))
    late_rows = [tuple(row.values()) for row in late if row["o"] or row["d"]]
    return (
        sorted(rows)
        + sorted(DepartmentRollup.objects.filter(dispatched__gt=0).values_list(*departments))
        + sorted(late_rows)
    )


def test_concurrent_submissions_in_one_place_wait_for_the_fold_and_the_sums_stay_exact(territory, resident):
    grid = territory["grid"].code
    submit = lambda: workflow.issue_submit(actor=resident, description=DESCRIPTION, grid=grid)  # noqa: E731
    outcomes = race(*[submit] * 6)
    assert all(not isinstance(o, Exception) for o in outcomes), outcomes
    # No rollup row written by a submission: nothing shared between them to wait on.
    assert not StatsRollup.objects.exists()
    assert StatsPending.objects.count() == 6
    _assert_consistent(territory)


def test_folds_racing_each_other_and_the_changes_of_their_issues_count_each_submission_once(
    territory, resident, community_staff
):
    grid = territory["grid"].code
    issues = [workflow.issue_submit(actor=resident, description=DESCRIPTION, grid=grid) for _ in range(8)]
    # Two folds, and a change of each of half the issues (its refresh counts an issue the fold has not), at once.
    rejects = [
        lambda i=i: workflow.issue_reject(issue=i.pk, actor=community_staff, reason="out_of_scope") for i in issues[:4]
    ]
    outcomes = race(rollup_fold, rollup_fold, *rejects)
    assert all(not isinstance(o, Exception) for o in outcomes), outcomes
    assert outcomes[0] + outcomes[1] == 8  # each pending row folded by one of them
    assert not StatsPending.objects.exists()
    leaf = StatsRollup.objects.filter(level=StatsRollup.Level.LEAF)
    assert sum(leaf.values_list("total", flat=True)) == 8
    assert sum(leaf.values_list("status_rejected", flat=True)) == 4
    _assert_consistent(territory)


def _assert_consistent(territory):
    rollup_fold()  # the submissions not counted yet (a reader folds them before it reads, as issue_stats does)
    incremental = _table()
    today = timezone.localdate()
    args = {"area": territory["street"], "date_from": today - timedelta(days=1), "date_to": today}
    assert issue_stats(**args) == live_issue_stats(**args)
    assert department_stats(**args, now=timezone.now()) == live_department_stats(**args, now=timezone.now())
    rollup_rebuild()
    assert _table() == incremental


def test_changes_of_issues_sharing_rollup_rows_all_land(make, chengguan_staff, territory):
    issues = [make("dispatched") for _ in range(6)]  # one day, one building, one category, one channel
    outcomes = race(*(lambda i=i: workflow.issue_accept(issue=i.pk, actor=chengguan_staff) for i in issues))
    assert all(not isinstance(o, Exception) for o in outcomes), outcomes
    outcomes = race(
        *(lambda i=i: workflow.issue_resolve(issue=i.pk, actor=chengguan_staff, note="已处理") for i in issues)
    )
    assert all(not isinstance(o, Exception) for o in outcomes), outcomes
    _assert_consistent(territory)


def test_a_rebuild_racing_changes_loses_none_of_them(make, chengguan_staff, territory):
    issues = [make("dispatched") for _ in range(4)]
    calls = [lambda i=i: workflow.issue_accept(issue=i.pk, actor=chengguan_staff) for i in issues]
    outcomes = race(rollup_rebuild, *calls)
    assert all(not isinstance(o, Exception) for o in outcomes), outcomes
    _assert_consistent(territory)
