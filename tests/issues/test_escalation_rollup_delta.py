"""The sweep counts its escalations in the statistics rollup as a delta (issues.rollups.rollup_escalations): only an
issue's first escalation moves a count, once, in the rows a rebuild would put it in; a later one moves nothing."""

from datetime import timedelta

import pytest
from django.db import connection
from django.db.models import Sum
from django.test.utils import CaptureQueriesContext

from issues.escalation import escalation_sweep
from issues.models import Issue, StatsEntry, StatsRollup
from issues.rollups import ESCALATED, KEY_COLUMNS, rollup_rebuild
from issues.workflow import issue_escalate

pytestmark = pytest.mark.django_db

MINUTE = timedelta(minutes=1)


def _sums() -> list[tuple]:
    """Return every row's counts summed over its slot copies (as readers sum them), rows counting nothing aside."""
    rows = StatsRollup.objects.order_by().values(*KEY_COLUMNS).annotate(t=Sum("total"), e=Sum("escalated"))
    return sorted((*(str(row[c]) for c in KEY_COLUMNS), row["t"], row["e"]) for row in rows if row["t"] or row["e"])


def _escalated_in_leaf_rows() -> int:
    leaf = StatsRollup.objects.filter(grain=StatsRollup.Grain.DAY, level=StatsRollup.Level.LEAF)
    return leaf.aggregate(n=Sum("escalated"))["n"] or 0


def test_an_issue_escalated_for_both_deadlines_counts_once_where_a_rebuild_counts_it(make, territory):
    issues = [make("dispatched"), make("dispatched"), make("dispatched", place=territory["grid"])]
    assert _escalated_in_leaf_rows() == 0
    now = max(i.resolution_due_at for i in issues) + MINUTE

    done = escalation_sweep(now=now, chunk=2)  # two transactions: two slots on PostgreSQL

    # Each escalated twice (response, then resolution): from the community, then from the street.
    assert sorted((d["from_level"], d["to_level"]) for d in done) == [(0, 1)] * 3 + [(1, 2)] * 3
    assert _escalated_in_leaf_rows() == 3
    bit = 1 << ESCALATED
    assert all(flags & bit for flags in StatsEntry.objects.values_list("flags", flat=True))
    swept = _sums()
    rollup_rebuild()
    assert _sums() == swept


def test_an_issue_escalated_already_moves_no_rollup_row(make, street_officer):
    issue = issue_escalate(issue=make("in_progress"), actor=street_officer)
    assert issue.escalation_level == Issue.EscalationLevel.STREET
    before = _sums()
    assert _escalated_in_leaf_rows() == 1

    with CaptureQueriesContext(connection) as captured:
        done = escalation_sweep(now=issue.resolution_due_at + MINUTE)

    assert [(d["from_level"], d["to_level"]) for d in done] == [(1, 2)]
    assert _sums() == before
    # Not even read: the level it left already counted as escalated.
    tables = (StatsRollup._meta.db_table, StatsEntry._meta.db_table)
    assert not [q["sql"] for q in captured if any(t in q["sql"] for t in tables)]
