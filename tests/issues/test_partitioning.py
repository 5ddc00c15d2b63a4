"""Issues and events partitioned by month (issues.partitioning): the app's flows answer the same after the conversion.

PostgreSQL's DDL is transactional: each test converts inside its own transaction, which rolls the conversion back
with everything else (the last test checks that nothing stayed partitioned for the tests that follow).
"""

import re
from datetime import timedelta
from http import HTTPStatus

import pytest
from django.core.management import CommandError, call_command
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from issues.escalation import escalation_sweep
from issues.models import EscalationMark, Event, Issue, StatsRollup
from issues.partitioning import (
    PARTITION_KEYS,
    PartitioningRefused,
    is_partitioned,
    month_next,
    month_start,
    partition_by_month,
    partition_name,
    partitions_ensure,
)
from issues.retention import issue_remove_personal_data
from issues.rollups import rollup_rebuild
from issues.stats import issue_stats
from issues.tasks import partitions_ensure_task
from tests.api.test_issues_list import all_pages
from tests.api.test_issues_support import client_for, submit_body

pytestmark = pytest.mark.django_db
postgresql_only = pytest.mark.skipif(connection.vendor != "postgresql", reason="declarative partitioning: PostgreSQL")
ISSUES = "/api/v1/issues/"
MONTHS_BACK = 4


def _table_of(table: str, pk) -> str:
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT tableoid::regclass::text FROM {table} WHERE id = %s", [pk])
        return cursor.fetchone()[0]


def _foreign_keys_to_issues() -> int:
    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM pg_constraint WHERE confrelid = 'issues_issue'::regclass")
        return cursor.fetchone()[0]


def _declared_foreign_keys_to_issues() -> int:
    """Return how many database foreign keys the models declare to Issue (with their many-to-many tables)."""
    from django.apps import apps

    return sum(
        1
        for model in apps.get_models(include_auto_created=True)
        for field in model._meta.local_fields
        if field.is_relation and field.related_model is Issue and getattr(field, "db_constraint", False)
    )


@pytest.fixture
def spread(make):
    """Return issues in every status, created over the last MONTHS_BACK months (oldest first), rollups rebuilt."""
    statuses = ["submitted", "classified", "dispatched", "in_progress", "resolved", "closed", "rejected"]
    issues = [make(status) for status in statuses * 2]
    for n, issue in enumerate(issues):
        # Older by whole months and a few hours, so several issues share each month; deadlines move along.
        age = timedelta(days=31 * (MONTHS_BACK - n * MONTHS_BACK // len(issues)), hours=n)
        Issue.objects.filter(pk=issue.pk).update(created_at=issue.created_at - age)
    rollup_rebuild()
    return list(Issue.objects.order_by("created_at"))


@pytest.mark.skipif(connection.vendor == "postgresql", reason="the SQLite refusal")
def test_conversion_is_refused_on_sqlite_and_changes_nothing(spread):
    with pytest.raises(CommandError, match="needs PostgreSQL"):
        call_command("partition_by_month", "--no-progress")
    assert partitions_ensure() == []
    assert Issue.objects.count() == len(spread)


@postgresql_only
def test_conversion_moves_every_row_into_its_month_and_refuses_a_second_time(spread):
    events = Event.objects.count()
    foreign_keys = _foreign_keys_to_issues()

    done = partition_by_month(ahead=2)

    assert [c.table for c in done] == list(PARTITION_KEYS)
    assert all(is_partitioned(table) for table in PARTITION_KEYS)
    assert (done[0].rows, done[1].rows) == (len(spread), events)
    assert (Issue.objects.count(), Event.objects.count()) == (len(spread), events)
    for issue in spread:
        assert _table_of("issues_issue", issue.pk) == partition_name("issues_issue", month_start(issue.created_at))
    # The oldest month to two past this one, and one for anything older.
    this_month = month_start(timezone.now())
    assert done[0].partitions[0] == "issues_issue_before"
    assert done[0].partitions[-1] == partition_name("issues_issue", month_next(this_month, 2))
    assert len(done[0].dropped_foreign_keys) == foreign_keys and _foreign_keys_to_issues() == 0
    with pytest.raises(PartitioningRefused, match="already partitioned"):
        partition_by_month()
    with pytest.raises(CommandError, match="already partitioned"):
        call_command("partition_by_month", "--no-progress")


@postgresql_only
def test_lists_details_and_statistics_answer_the_same_after_conversion(
    spread, street_officer, community_staff, territory
):
    officer, staff = client_for(street_officer), client_for(community_staff)
    now = timezone.now()
    since = timezone.localdate() - timedelta(days=31 * MONTHS_BACK + 5)

    def answers() -> dict:
        """What the API, the statistics and the rollups answer now."""
        return {
            "pages": all_pages(officer, {"page_size": 3}),
            "oldest_first": all_pages(officer, {"page_size": 4, "ordering": "created_at"}),
            "details": [staff.get(f"{ISSUES}{issue.pk}/").json() for issue in spread],
            "stats": issue_stats(area=territory["street"], date_from=since, date_to=timezone.localdate(), now=now),
            "stats_all": issue_stats(area=territory["community"], date_from=None, date_to=None, now=now),
            "rollups": sorted(StatsRollup.objects.values_list("grain", "level", "period", "area_path", "total")),
        }

    before = answers()

    partition_by_month()
    rollup_rebuild()  # reads the issues month by month: the same rows from the partitioned table

    after = answers()
    assert len(before["pages"]) == len(spread) and all(d.get("events") for d in before["details"])
    assert after == before


@postgresql_only
def test_submit_and_actions_through_the_api_write_into_this_months_partitions(
    spread, resident, community_staff, category, territory
):
    partition_by_month()

    submitted = client_for(resident).post(ISSUES, submit_body(territory), format="json")
    assert submitted.status_code == HTTPStatus.CREATED, submitted.content
    issue = submitted.json()
    staff = client_for(community_staff)
    classified = staff.post(
        f"{ISSUES}{issue['id']}/classify/", {"category": category.code, "version": issue["version"]}, format="json"
    )
    assert classified.status_code == HTTPStatus.OK, classified.content
    dispatched = staff.post(
        f"{ISSUES}{issue['id']}/dispatch/", {"departments": [category.department.code]}, format="json"
    )
    assert dispatched.status_code == HTTPStatus.OK, dispatched.content

    this_month = month_start(timezone.now())
    assert _table_of("issues_issue", issue["id"]) == partition_name("issues_issue", this_month)
    events = Event.objects.filter(issue_id=issue["id"]).order_by("at", "id")
    assert [e.action for e in events] == ["submit", "classify", "dispatch"]
    assert {_table_of("issues_event", e.pk) for e in events} == {partition_name("issues_event", this_month)}
    detail = staff.get(f"{ISSUES}{issue['id']}/").json()
    assert detail["status"] == "dispatched" and [e["action"] for e in detail["events"]] == [
        "submit",
        "classify",
        "dispatch",
    ]
    # The event ids go on from the old table's sequence.
    assert events[0].pk > max(Event.objects.exclude(issue_id=issue["id"]).values_list("pk", flat=True))


@postgresql_only
def test_the_sweep_escalates_each_deadline_once_after_conversion(spread):
    partition_by_month()
    running = list(Issue.objects.filter(status__in=["classified", "dispatched", "in_progress"]))
    now = max(i.resolution_due_at for i in running) + timedelta(days=1)

    done = escalation_sweep(now=now)

    marks = EscalationMark.objects.filter(deadline="resolution")
    assert sorted(marks.values_list("issue_id", flat=True)) == sorted(i.pk for i in running)
    assert [d["deadline"] for d in done].count("resolution") == len(running)
    assert escalation_sweep(now=now) == []
    assert Event.objects.filter(action="escalate").count() == len(done)


def _lean_plans() -> dict[str, tuple[int, int]]:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT name, generic_plans, custom_plans FROM pg_prepared_statements WHERE name LIKE 'griddesk_lean_%%'"
        )
        return {name: (generic, custom) for name, generic, custom in cursor.fetchall()}


def _details_on_a_new_session(staff, issues) -> dict[str, tuple[int, int]]:
    """Ask for each issue's detail three times on a session that starts (its statements prepared anew); return the
    lean statements' (generic, custom) plan counts."""
    with connection.cursor() as cursor:
        cursor.execute("DEALLOCATE ALL")
    connection.griddesk_prepared = None
    for _ in range(3):
        for issue in issues:
            assert staff.get(f"{ISSUES}{issue.pk}/").status_code == HTTPStatus.OK
    return _lean_plans()


@postgresql_only
def test_lean_statements_are_planned_generically_from_the_first_request_once_partitioned(spread, community_staff):
    """Custom plans over every month's partitions cost more than running them (config.compiled); unpartitioned,
    PostgreSQL's own choice stays."""
    staff = client_for(community_staff)
    issues = spread[:4]
    before = _details_on_a_new_session(staff, issues)
    assert before and all(custom > 0 for _, custom in before.values())

    partition_by_month()
    after = _details_on_a_new_session(staff, issues)

    assert after.keys() == before.keys()
    assert all(custom == 0 and generic == 3 * len(issues) for generic, custom in after.values()), after


@postgresql_only
def test_each_sweep_chunk_reads_and_updates_only_the_months_of_its_issues(spread):
    partition_by_month()
    running = list(Issue.objects.filter(status__in=["classified", "dispatched", "in_progress"]))
    now = max(i.resolution_due_at for i in running) + timedelta(days=1)

    with CaptureQueriesContext(connection) as captured:
        done = escalation_sweep(now=now, chunk=1)  # a chunk per issue: its span is its own moment

    assert sorted({d["issue_id"] for d in done}) == sorted(str(i.pk) for i in running)
    statements = [
        q["sql"]
        for q in captured.captured_queries
        if q["sql"].rstrip().endswith("SKIP LOCKED") or q["sql"].startswith('UPDATE "issues_issue"')
    ]
    months = {partition_name("issues_issue", month_start(i.created_at)) for i in running}
    assert len(months) > 1
    for sql in statements:
        # The span is written into the statement: the planner keeps the one month it falls in, for any id.
        planned = _planned_partitions(sql)
        assert len(planned) == 1 and planned <= months, (planned, sql[:120])


def _planned_partitions(sql: str) -> set[str]:
    with connection.cursor() as cursor:
        cursor.execute(f"EXPLAIN (COSTS OFF) {sql}")
        lines = [row[0] for row in cursor.fetchall()]
    return {m.group(1) for line in lines for m in [re.search(r" on (issues_issue_\w+)", line)] if m}


@postgresql_only
def test_the_text_estimate_reads_the_text_and_the_table_apart_once_partitioned(spread):
    from issues.filters import _estimated_share, text_q

    partition_by_month()
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE issues_issue")

    assert _estimated_share(connection, Issue.objects.all()) == 1
    assert 0 < _estimated_share(connection, Issue.objects.filter(text_q("no such text anywhere"))) < 1


@postgresql_only
def test_retention_removes_personal_data_and_scrubs_event_notes_after_conversion(spread, community_staff):
    issue = next(i for i in spread if i.status == "closed")
    partition_by_month()

    assert issue_remove_personal_data(issue_id=issue.pk) == 1

    issue.refresh_from_db()
    assert (issue.reporter_name, issue.reporter_phone, issue.personal_data_removed_at is not None) == ("", "", True)
    assert Event.objects.filter(issue=issue).order_by("at", "id").last().action == "retention"
    assert issue_remove_personal_data(issue_id=issue.pk) == 0


def _executed_partitions(sql: str) -> tuple[set[str], set[str]]:
    """EXPLAIN ANALYZE a captured statement (the list's is prepared: EXECUTE name(…)); return the issue partitions in
    its plan and those it actually read."""
    with connection.cursor() as cursor:
        cursor.execute(f"EXPLAIN (ANALYZE, COSTS OFF, TIMING OFF, SUMMARY OFF) {sql}")
        lines = [row[0] for row in cursor.fetchall()]
    planned = {m.group(1) for line in lines for m in [re.search(r" on (issues_issue_\w+)", line)] if m}
    read = {
        m.group(1)
        for line in lines
        for m in [re.search(r" on (issues_issue_\w+)", line)]
        if m and "never executed" not in line
    }
    return planned, read


def _list_statement(client, url, params=None) -> tuple[dict, str]:
    with CaptureQueriesContext(connection) as queries:
        page = client.get(url, params).json()
    [sql] = [q["sql"] for q in queries.captured_queries if "issues_issue" in q["sql"] or "EXECUTE" in q["sql"]][-1:]
    executed = re.search(r"EXECUTE \w+(\(.*\))?$", sql, re.S)
    return page, executed.group(0) if executed else sql


@postgresql_only
def test_a_list_page_reads_only_the_months_it_shows(spread, street_officer):
    partition_by_month()
    officer = client_for(street_officer)
    with connection.cursor() as cursor:
        # A few rows per partition: the planner would read them all and sort; at scale it walks the newest first
        # (bench/plans/partitioned_list_street.txt). The plan shape is what is checked here, not its costs.
        cursor.execute("SET LOCAL enable_seqscan = off")
        cursor.execute("SET LOCAL enable_bitmapscan = off")
    newest = partition_name("issues_issue", month_start(spread[-1].created_at))

    first, sql = _list_statement(officer, ISSUES, {"page_size": 2})
    planned, read = _executed_partitions(sql)
    # Newest first: the empty months ahead, then the newest month with rows, which fills the page; no older one.
    assert newest in read and all(name >= newest for name in read)
    assert {name for name in planned if name < newest} and not {name for name in read if name < newest}

    # Follow `next` until the page lies in an older month: the newer months are pruned from the plan.
    page = first
    while month_start(Issue.objects.get(pk=page["results"][0]["id"]).created_at) == month_start(spread[-1].created_at):
        page, sql = _list_statement(officer, page["next"])
    shown = {
        partition_name("issues_issue", month_start(Issue.objects.get(pk=r["id"]).created_at)) for r in page["results"]
    }
    planned, read = _executed_partitions(sql)
    assert newest not in planned
    assert read <= shown | {min(planned)} and shown <= read


@postgresql_only
def test_partitions_ensure_fills_the_months_ahead_once_and_does_nothing_unpartitioned(spread):
    assert partitions_ensure() == [] and partitions_ensure_task() == 0  # not partitioned: nothing to do
    partition_by_month(ahead=1)
    this_month = month_start(timezone.now())

    later = timezone.now() + timedelta(days=62)  # the beat stopped for two months
    created = partitions_ensure(ahead=2, now=later)

    months = [month_next(this_month, n) for n in (2, 3, 4)]
    assert created == [partition_name(t, m) for t in PARTITION_KEYS for m in months]
    assert partitions_ensure(ahead=2, now=later) == []
    out = call_command("partition_by_month", "--ensure", "--ahead", "2")
    assert out is None  # written to stdout; nothing left to create for now
    issue = Issue.objects.first()
    Issue.objects.filter(pk=issue.pk).update(created_at=later)  # a row of the new month moves into it
    assert _table_of("issues_issue", issue.pk) == partition_name("issues_issue", month_start(later))


@postgresql_only
def test_each_conversion_rolled_back_with_its_test(db):
    """Runs after the converting tests of this file (one worker runs a whole file, in order)."""
    assert not any(is_partitioned(table) for table in PARTITION_KEYS)
    assert _foreign_keys_to_issues() == _declared_foreign_keys_to_issues()
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(*) FROM pg_class WHERE relname ~ '^issues_(issue|event)_(p[0-9]{6}|before|unpartitioned)$'"
        )
        assert cursor.fetchone()[0] == 0
