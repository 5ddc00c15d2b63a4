"""Escalation marks: once per deadline value, kept off the issue row (HOT updates), moved there by a migration."""

import re
from datetime import timedelta

import pytest
from django.db import IntegrityError, connection, transaction
from django.db.migrations.executor import MigrationExecutor
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from issues.escalation import escalation_sweep
from issues.models import EscalationMark, Event, Issue
from issues.workflow import issue_escalate_overdue
from notifications.models import Notification

pytestmark = pytest.mark.django_db

MINUTE = timedelta(minutes=1)
postgresql_only = pytest.mark.skipif(connection.vendor != "postgresql", reason="PostgreSQL's statistics and catalog")


def marks(issue) -> list[tuple]:
    return sorted(EscalationMark.objects.filter(issue=issue).values_list("deadline", "due_at"))


def test_a_deadline_moved_to_another_passed_value_escalates_again_once(make):
    issue = make("in_progress")
    first = issue.resolution_due_at
    now = first + timedelta(days=1)
    [done] = escalation_sweep(now=now)
    assert escalation_sweep(now=now) == []

    # An earlier value, already passed (staff corrected it): a new value, so one more escalation, then none. Set by
    # SQL, without the event the workflow would record: only a full read sees it (tests/issues/test_escalation_horizon).
    Issue.objects.filter(pk=issue.pk).update(resolution_due_at=first - timedelta(hours=1))
    [again] = escalation_sweep(now=now, full=True)
    assert escalation_sweep(now=now, full=True) == []

    assert (done["to_level"], again["to_level"]) == (1, 2)
    assert marks(issue) == [("resolution", first - timedelta(hours=1)), ("resolution", first)]
    assert Event.objects.filter(issue=issue, action="escalate").count() == 2


def test_a_deadline_moved_back_to_a_value_it_escalated_for_does_not_escalate_again(make):
    issue = make("in_progress")
    first = issue.resolution_due_at
    now = first + timedelta(days=1)
    escalation_sweep(now=now)
    Issue.objects.filter(pk=issue.pk).update(resolution_due_at=first - timedelta(hours=1))
    escalation_sweep(now=now, full=True)  # full: the changes are SQL's, with no event (as above)

    Issue.objects.filter(pk=issue.pk).update(resolution_due_at=first)

    assert escalation_sweep(now=now, full=True) == []
    assert issue_escalate_overdue(issue=issue, now=now) == []
    assert Issue.objects.get(pk=issue.pk).escalation_level == 2


def test_the_one_at_a_time_path_writes_the_mark_and_respects_the_batch_ones(make):
    one, other = make("in_progress"), make("in_progress")
    now = max(one.resolution_due_at, other.resolution_due_at) + MINUTE

    [done] = issue_escalate_overdue(issue=one, now=now)

    assert marks(one) == [("resolution", one.resolution_due_at)]
    assert [d["issue_id"] for d in escalation_sweep(now=now)] == [str(other.pk)]
    assert issue_escalate_overdue(issue=other, now=now) == []
    assert done["to_level"] == 1


@postgresql_only
def test_an_escalation_updates_only_columns_no_index_of_the_issue_table_reads(make):
    """The sweep's UPDATEs change no indexed column, so PostgreSQL may update the rows in place (HOT).

    Whether an update is HOT also depends on free room in the row's page, which a test cannot control (a run's
    rolled-back rows fill pages): the test checks the condition the code controls, the columns each UPDATE sets.
    """
    issues = [make("dispatched") for _ in range(3)]
    now = max(issue.resolution_due_at for issue in issues) + MINUTE

    with CaptureQueriesContext(connection) as captured:
        done = escalation_sweep(now=now)
    updates = [q["sql"] for q in captured.captured_queries if q["sql"].startswith('UPDATE "issues_issue" SET')]
    written = {column for sql in updates for column in re.findall(r'"(\w+)" = ', sql.split(" WHERE ")[0])}
    with connection.cursor() as cursor:
        cursor.execute("SELECT indexdef FROM pg_indexes WHERE tablename = 'issues_issue'")
        definitions = [row[0] for row in cursor.fetchall()]

    assert len(done) == 6 and len(updates) == 2  # both deadlines of each: two UPDATEs of three rows
    assert written == {"escalation_level", "version", "updated_at"}
    assert [sql for sql in definitions if any(re.search(rf"\b{column}\b", sql) for column in written)] == []


@postgresql_only
def test_no_index_of_the_issue_table_reads_a_column_an_escalation_writes():
    """An index on escalation_level (or version, updated_at) would make every escalation write into all indexes."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT indexname, indexdef FROM pg_indexes WHERE tablename = 'issues_issue'")
        definitions = dict(cursor.fetchall())
    written = ("escalation_level", "version", "updated_at")
    assert {name for name, sql in definitions.items() if any(column in sql for column in written)} == set()


@pytest.mark.django_db(transaction=True)
def test_the_migration_moves_the_markers_so_a_sweep_escalates_only_changed_deadlines(territory):
    executor = MigrationExecutor(connection)
    marks_migration = next(
        key for key in executor.loader.disk_migrations if key[0] == "issues" and key[1].endswith("_escalation_marks")
    )
    before = [dep for dep in executor.loader.get_migration(*marks_migration).dependencies if dep[0] == "issues"]
    executor.migrate(before)
    executor.loader.build_graph()
    OldIssue = executor.loader.project_state(before).apps.get_model("issues", "Issue")
    grid = territory["grid"]
    now = timezone.now()
    passed = now - timedelta(hours=3)
    common = {"description": "Boxes block the stairwell.", "grid_id": grid.pk, "area_path": grid.path,
              "district_code": "360702", "street_code": "360702091", "community_code": "360702091005",
              "grid_code": grid.code, "status": "in_progress", "response_due_at": passed - timedelta(days=1),
              "accepted_at": passed - timedelta(days=2), "resolution_due_at": passed}  # fmt: skip
    # Escalated for its current deadline; escalated for an earlier value (then extended); never escalated.
    OldIssue.objects.create(number="GD-OLD-1", escalation_level=1, resolution_escalated_for=passed, **common)
    OldIssue.objects.create(
        number="GD-OLD-2", escalation_level=1, resolution_escalated_for=passed - timedelta(days=3), **common
    )
    OldIssue.objects.create(number="GD-OLD-3", **common)

    executor = MigrationExecutor(connection)
    executor.migrate(executor.loader.graph.leaf_nodes())

    assert sorted(EscalationMark.objects.values_list("issue__number", "deadline", "due_at")) == [
        ("GD-OLD-1", "resolution", passed),
        ("GD-OLD-2", "resolution", passed - timedelta(days=3)),
    ]
    done = escalation_sweep(now=now)
    assert sorted((d["number"], d["to_level"]) for d in done) == [("GD-OLD-2", 2), ("GD-OLD-3", 1)]
    assert escalation_sweep(now=now) == []


@postgresql_only
def test_an_issues_marks_are_read_through_the_primary_key_and_nothing_else_indexes_them(make):
    """The primary key leads with the issue: a second index by issue would cost each escalation one more entry."""
    issue = make("in_progress")
    with connection.cursor() as cursor:
        cursor.execute("SET LOCAL enable_seqscan = off")  # a small table would be scanned otherwise
        cursor.execute("SELECT indexname FROM pg_indexes WHERE tablename = 'issues_escalationmark'")
        indexes = [name for (name,) in cursor.fetchall()]

    assert "issues_escalationmark_pkey" in EscalationMark.objects.filter(issue=issue).explain()
    assert indexes == ["issues_escalationmark_pkey"]


@postgresql_only
def test_the_statistics_rollup_leaves_room_on_its_pages_for_in_place_updates():
    """An escalation adds to counts, which no index reads: with room on the page, the row is rewritten in place."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT relname, reloptions FROM pg_class WHERE relname IN ('issues_statsrollup', 'issues_statsentry')"
        )
        options = dict(cursor.fetchall())
    assert options == {"issues_statsrollup": ["fillfactor=80"], "issues_statsentry": ["fillfactor=90"]}


@postgresql_only
def test_an_issue_with_events_cannot_be_deleted_so_its_marks_and_outbox_rows_need_no_key_check(make):
    """Marks and outbox rows keep their issue key without a database check (each cost a lookup and a lock of the issue
    at commit): they are only ever written about an issue with events, and the events' own key refuses deleting it."""
    issue = make("submitted")  # its submission event and nothing else points at it
    escalated = make("dispatched")
    escalation_sweep(now=escalated.resolution_due_at + MINUTE)
    assert EscalationMark.objects.filter(issue=escalated).exists()
    assert Notification.objects.filter(issue=escalated).exists()

    for pk, refused_by in ((issue.pk, "issues_event_issue_id"), (escalated.pk, None)):
        with pytest.raises(IntegrityError, match=refused_by), transaction.atomic():
            with connection.cursor() as cursor:
                cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")
                cursor.execute("DELETE FROM issues_issue WHERE id = %s", [pk])
