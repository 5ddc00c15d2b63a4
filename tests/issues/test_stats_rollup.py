"""Statistics from rollups answer exactly what the live count over issues, events and ratings answers.

Randomized issues (fixed seeds, so a failure replays) in every status, with and without deadlines, dispatches,
acceptances on time and late, ratings, escalations, created around local midnight (Asia/Shanghai) and month ends,
compared with tests/issues/stats_reference.py (the implementation before rollups) for every level of scope, several
periods (open-ended, whole months, edges, one day) and several moments `now`. On SQLite and PostgreSQL alike.
"""

import io
import random
import re
import uuid
from datetime import date, datetime, time, timedelta
from unittest import mock

import pytest
from django.core.management import call_command
from django.db import connection
from django.db.models import Sum
from django.utils import timezone

from issues.models import DeadlineRollup, Event, Issue, Rating, StatsEntry, StatsPending, StatsRollup
from issues.rollups import (
    CLOCK_DAYS,
    LATE_COUNTS,
    rollup_fold,
    rollup_rebuild,
    rollup_rebuild_deadlines,
    rollup_refresh,
)
from issues.sla import LOCAL_TZ
from issues.stats import issue_stats, stats_by_child_area, stats_weekly_trend
from tests.factories import CategoryFactory, issue_in_status, territory_chain
from tests.issues.stats_reference import live_issue_stats
from tests.issues.test_selectors import make_issue

STATUSES = list(Issue.Status.values)
CHANNELS = list(Issue.Channel.values)
START = datetime(2026, 9, 28, 0, 0, tzinfo=LOCAL_TZ)  # issues over about two months and a half, to mid-December


def _moment(rng: random.Random) -> datetime:
    """Return a creation moment, a third of them within a minute of a local midnight."""
    day = START + timedelta(days=rng.randrange(75))
    if rng.random() < 0.33:
        return day + timedelta(seconds=rng.choice([0, 1, 59, -1, -60]))
    return day + timedelta(minutes=rng.randrange(24 * 60))


def _random_issue(rng: random.Random, places: list, categories: list, rater) -> Issue:
    created = _moment(rng)
    status = rng.choice(STATUSES)
    fields = {"status": status, "channel": rng.choice(CHANNELS), "escalation_level": rng.choice([0, 0, 1, 2])}
    if status != "submitted" or rng.random() < 0.2:
        fields["category"] = rng.choice(categories)
    if rng.random() < 0.8:
        fields["response_due_at"] = created + timedelta(hours=rng.choice([2, 24, 26]))
        fields["resolution_due_at"] = created + timedelta(days=rng.choice([1, 5, 9, 30]))
    if rng.random() < 0.7:
        fields["dispatched_at"] = created + timedelta(hours=1)
    if rng.random() < 0.6:
        fields["accepted_at"] = created + timedelta(hours=rng.choice([3, 30]))
    if status in ("resolved", "closed") or rng.random() < 0.1:
        fields["resolved_at"] = created + timedelta(days=rng.choice([0.5, 2, 6, 12]))
    issue = make_issue(rng.choice(places), created_at=created, **fields)
    for _ in range(rng.choice([0, 0, 1, 2])):
        when = created + timedelta(hours=rng.choice([3, 25, 30]))
        with mock.patch("django.utils.timezone.now", return_value=when):
            Event.objects.create(
                issue=issue, action="accept", from_status=rng.choice(["dispatched", "in_progress"]),
                to_status="in_progress",
            )  # fmt: skip
    for _ in range(rng.choice([0, 0, 1, 2])):
        Rating.objects.create(issue=issue, score=rng.randint(1, 5), rated_by=rater)
    return issue


@pytest.fixture
def world(territory, other_territory, category, chengguan, resident):
    """Return the scopes and the places of a district with two streets, three communities, grids and buildings."""
    d2, s2, c2, g2, b2 = territory_chain(street="360702092", community="360702092001")
    places = [
        territory["grid"],
        territory["building"],
        other_territory["grid"],
        other_territory["building"],
        g2,
        b2,
    ]
    categories = [category, CategoryFactory(code="water", name="供水", department=chengguan)]
    scopes = [
        territory["district"],
        territory["street"],
        s2,
        territory["community"],
        other_territory["community"],
        territory["grid"],
        territory["building"],
    ]
    return {"places": places, "categories": categories, "scopes": scopes, "resident": resident}


PERIODS = [
    (None, None),
    (date(2026, 10, 1), date(2026, 10, 31)),  # a whole month
    (date(2026, 9, 30), date(2026, 12, 1)),  # two whole months and an edge day on each side
    (date(2026, 10, 15), date(2026, 11, 14)),  # no whole month
    (date(2026, 11, 1), None),
    (None, date(2026, 10, 31)),
    (date(2026, 11, 30), date(2026, 11, 30)),  # one day
]
NOWS = [datetime(2026, 10, 20, 12, tzinfo=LOCAL_TZ), datetime(2026, 12, 20, 0, tzinfo=LOCAL_TZ)]


def _compare(scopes, *, nows=NOWS, periods=PERIODS) -> int:
    """Assert issue_stats equals the live count for every scope, period and moment of reading; return how many."""
    compared = 0
    for area in scopes:
        for date_from, date_to in periods:
            for now in nows:
                args = {"area": area, "date_from": date_from, "date_to": date_to, "now": now}
                assert issue_stats(**args) == live_issue_stats(**args), args
                compared += 1
    return compared


def _table() -> list[tuple]:
    """Return the rollup rows with non-zero counts, as comparable tuples (ids and empty rows aside)."""
    counts = ["total", "status_submitted", "dispatched", "responded_on_time", "resolved", "due_resolved", "ratings"]
    rows = StatsRollup.objects.filter(total__gt=0).values_list("grain", "level", "period", "area_path", *counts)
    return sorted(rows)


@pytest.mark.parametrize("seed", [1, 2])
def test_rollup_statistics_equal_the_live_count_over_randomized_issues(world, seed):
    rng = random.Random(seed)
    for _ in range(120):
        _random_issue(rng, world["places"], world["categories"], world["resident"])
    rollup_rebuild()
    assert StatsEntry.objects.count() == Issue.objects.count()
    assert _compare(world["scopes"]) == len(world["scopes"]) * len(PERIODS) * len(NOWS)


def test_refreshing_changed_issues_equals_a_rebuild_and_the_live_count(world):
    rng = random.Random(7)
    issues = [_random_issue(rng, world["places"], world["categories"], world["resident"]) for _ in range(80)]
    rollup_refresh([i.pk for i in issues])  # each issue counted as the event seam would
    _compare(world["scopes"])
    # Change a third of them behind the rollup's back (status, category, place, deadlines, ratings, acceptances)...
    changed = rng.sample(issues, 30)
    for issue in changed:
        other = _random_issue(rng, world["places"], world["categories"], world["resident"])
        for field in ("status", "category", "escalation_level", "resolution_due_at", "accepted_at", "resolved_at"):
            setattr(issue, field, getattr(other, field))
        place = rng.choice(world["places"])
        codes = place.path.split("/")
        issue.area_path, issue.community_code, issue.street_code = place.path, codes[2], codes[1]
        issue.grid_code = codes[3]
        issue.building_code = codes[4] if len(codes) > 4 else ""
        issue.save()
        Rating.objects.create(issue=issue, score=rng.randint(1, 5), rated_by=world["resident"])
        rollup_refresh([other.pk])
    # ... then refresh them (in two batches, one overlapping): the rollup follows, and equals a rebuild.
    rollup_refresh([i.pk for i in changed[:20]])
    rollup_refresh([i.pk for i in changed[10:]])
    _compare(world["scopes"])
    incremental = _table()
    rollup_rebuild()
    assert _table() == incremental


def test_the_workflow_keeps_the_rollup_current_without_a_rebuild(
    territory, category, resident, community_staff, chengguan_staff, django_capture_on_commit_callbacks
):
    actors = {"reporter": resident, "place": territory["building"], "triage": community_staff}
    for status in ["submitted", "rejected", "dispatched", "in_progress", "resolved", "closed"]:
        issue_in_status(status, category=category, handler=chengguan_staff, **actors)
    today = date.today()
    for area in (territory["street"], territory["grid"]):
        args = {"area": area, "date_from": today - timedelta(days=1), "date_to": today + timedelta(days=1)}
        assert issue_stats(**args, now=NOW_FAR) == live_issue_stats(**args, now=NOW_FAR)
        assert issue_stats(**args)["total"] == 6
    # Counted by their changes' refreshes, or (the one still submitted, on PostgreSQL) by the readers' fold.
    assert StatsEntry.objects.count() == Issue.objects.count() == 6
    assert not StatsPending.objects.exists()


NOW_FAR = datetime(2030, 1, 1, tzinfo=LOCAL_TZ)  # every deadline passed: the live part counts


def test_child_areas_and_weekly_trend_read_the_rollup(world):
    rng = random.Random(3)
    for _ in range(60):
        _random_issue(rng, world["places"], world["categories"], world["resident"])
    rollup_rebuild()
    street = world["scopes"][1]
    args = {"area": street, "date_from": date(2026, 10, 1), "date_to": date(2026, 11, 30), "now": NOWS[1]}
    assert stats_by_child_area(**args) == live_issue_stats(**args)["by_child_area"]
    trend = stats_weekly_trend(area=street, date_from=args["date_from"], date_to=args["date_to"])
    assert trend[0]["week"] == "2026-09-28" and trend[-1]["week"] == "2026-11-30"
    assert [date.fromisoformat(w["week"]).weekday() for w in trend] == [0] * len(trend)
    for week in trend:
        monday = date.fromisoformat(week["week"])
        days = (max(monday, args["date_from"]), min(monday + timedelta(days=6), args["date_to"]))
        live = live_issue_stats(area=street, date_from=days[0], date_to=days[1], now=NOWS[1])
        assert (week["intake"], week["resolved"]) == (live["total"], live["counts"]["resolved"])


@pytest.mark.skipif(connection.vendor != "postgresql", reason="query plans are PostgreSQL's")
def test_text_search_uses_the_trigram_indexes(territory):
    from issues.filters import TEXT_PROBE, text_q

    # The probe's statement (issues.filters._text_probe), with the settings it runs under.
    queryset = Issue.objects.filter(text_q("下水道")).order_by().values_list("pk", "created_at")[: TEXT_PROBE + 1]
    sql, params = queryset.query.sql_with_params()
    with connection.cursor() as cursor:
        cursor.execute("SET LOCAL enable_seqscan = off")
        cursor.execute("SET LOCAL enable_indexscan = off")
        cursor.execute(f"EXPLAIN {sql}", params)
        plan = "\n".join(row[0] for row in cursor.fetchall())
    for column in ("number", "title", "description", "address"):
        assert f"issue_{column}_trgm" in plan, plan
    assert "Seq Scan on issues_issue" not in plan


@pytest.mark.parametrize("probe", [1000, 2], ids=["by-key-when-few", "walk-when-many"])
def test_text_search_keeps_its_meaning(territory, probe, monkeypatch):
    """`q`: the number, title, description or address contains the text, whatever the case (served by the index);
    the same whether the trigram indexes found few issues (read by key) or many (issues.filters.TEXT_PROBE)."""
    from issues import filters
    from issues.filters import IssueFilterSet

    monkeypatch.setattr(filters, "TEXT_PROBE", probe)
    monkeypatch.setattr(filters, "COMMON_TEXT", 1.01)  # a handful of rows: any text would count as common

    rng = random.Random(5)
    words = ["下水道", "路灯", "Lamp", "lamp", "NOISE", "楼道堆放", "bk-00", "x"]
    issues = []
    for n in range(40):
        issues.append(
            make_issue(
                territory["grid"],
                number=f"BK-{n:05d}",
                title=" ".join(rng.sample(words, 2)) if n % 3 else "",
                description=" ".join(rng.sample(words, 3)) + "，请处理",
                address=rng.choice(["", "金东南路 12 号", "Lamp Street"]),
            )
        )
    for text in ["下水道", "LAMP", "lamp street", "bk-0001", "楼道", "号", "nothing here"]:
        found = set(IssueFilterSet({"q": text}, queryset=Issue.objects.all()).qs.values_list("pk", flat=True))
        fields = ("number", "title", "description", "address")
        expected = {i.pk for i in issues if any(text.upper() in getattr(i, f).upper() for f in fields)}
        assert found == expected, text


def test_a_refresh_costs_two_queries_when_nothing_changed_and_writes_only_what_changed(make, chengguan_staff):
    from django.test.utils import CaptureQueriesContext

    from issues.models import DepartmentEntry, DepartmentRollup

    issue = make("dispatched")
    lock = 1 if connection.vendor == "postgresql" else 0  # SQLite has no row locks: one writer at a time
    with CaptureQueriesContext(connection) as unchanged:
        rollup_refresh([issue.pk])
    assert len(unchanged) == 2 + lock  # lock, the read of the issue's counts, the read of its departments' counts
    assert not [q for q in unchanged.captured_queries if "INSERT" in q["sql"]]
    Issue.objects.filter(pk=issue.pk).update(status="in_progress", accepted_at=issue.dispatched_at)
    with CaptureQueriesContext(connection) as changed:
        rollup_refresh([issue.pk])
    # Lock, read, the upsert of the rows, of the deadline rows (its overdue day moved from the response deadline's to
    # the resolution deadline's) and of the entry (one statement on PostgreSQL: issues.rollups._write); read, upsert
    # of the rows, upsert of the entry for its lead department.
    assert len(changed) == lock + 1 + (1 if connection.vendor == "postgresql" else 3) + 3
    entry = StatsEntry.objects.get(issue=issue)
    assert StatsRollup.objects.get(pk=entry.rollup_id).status_in_progress == 1
    assert DepartmentEntry.objects.get(issue=issue).accepted == 1
    assert DepartmentRollup.objects.get(level="district", grain="month").accepted == 1


@pytest.mark.skipif(connection.vendor != "postgresql", reason="the prepared write is PostgreSQL's")
def test_the_rollup_write_sends_each_column_as_one_array_literal(make):
    """Not psycopg2's ARRAY[…] of a constant per value, each adapted in Python and parsed by the server (a third of a
    millisecond of every submission): one literal per column, read by the server's array input."""
    sent = []

    def note(execute, sql, params, many, context):
        if "griddesk_rollup_write" in sql:
            sent.append(params)
        return execute(sql, params, many, context)

    issue = make("dispatched")
    Issue.objects.filter(pk=issue.pk).update(status="in_progress", accepted_at=issue.dispatched_at)
    with connection.execute_wrapper(note):
        rollup_refresh([issue.pk])
    (params,) = sent
    assert params and all(isinstance(p, str) and p.startswith("{") for p in params)
    entry = StatsEntry.objects.get(issue=issue)
    assert StatsRollup.objects.get(pk=entry.rollup_id).status_in_progress == 1


@pytest.mark.skipif(connection.vendor != "postgresql", reason="query plans are PostgreSQL's")
def test_a_districts_rollup_read_is_one_index_range_per_grain_and_period(world):
    """Each scope × period term reaches the index with its grain (a district's year once read every row of its
    streets, 53,000 at 1,000,000 issues, to keep 1,100)."""
    from django.test.utils import CaptureQueriesContext

    district = world["scopes"][0]
    with CaptureQueriesContext(connection) as queries:
        issue_stats(area=district, date_from=date(2026, 9, 30), date_to=date(2026, 12, 1), now=NOWS[0])
    sql = next(q["sql"] for q in queries.captured_queries if '"issues_statsrollup"' in q["sql"])
    with connection.cursor() as cursor:
        cursor.execute("SET LOCAL enable_seqscan = off")
        cursor.execute(f"EXPLAIN {sql}")
        plan = [row[0] for row in cursor.fetchall()]
    conditions = [line for line in plan if "Index Cond" in line]
    # Own rows and children's rows, each for the whole months and the two edge days.
    assert len(conditions) == 6, plan
    assert all("grain" in line and "period" in line for line in conditions), plan


def test_an_issues_counts_read_from_memory_equal_what_the_database_answers(world):
    from issues.rollups import _MEMORY_ANSWERS, _REFRESH_ROWS, _as_date, _created_rows

    rng = random.Random(7)
    issues = [_random_issue(rng, world["places"], world["categories"], world["resident"]) for _ in range(150)]
    told = 0
    _MEMORY_ANSWERS.clear()
    for issue in issues:
        issue = Issue.objects.get(pk=issue.pk)  # as saved
        # Issues with the same values of what the flags read are told once (issues.rollups._told_in_memory).
        memory = _created_rows([issue])
        assert _created_rows([issue]) == memory
        if memory is None:  # a flag memory cannot tell (dispatched: did the lead accept in time?)
            assert issue.dispatched_at is not None
            continue
        (database,) = _REFRESH_ROWS.rows([issue.pk])
        if not issue.ratings.exists():  # a new issue has none; these have counts memory does not hold
            # As rollup_refresh reads them (SQLite answers text for a date and a UUID).
            database |= {"pk": uuid.UUID(str(database["pk"])), "day": _as_date(database["day"])}
            for day in ("resolved_on", *CLOCK_DAYS):
                database[day] = _as_date(database[day])
            assert memory == [{k: database[k] for k in memory[0]}], issue
            told += 1
    assert told >= 20


def test_submissions_nobody_hears_of_count_what_a_rebuild_counts(territory, category, resident):
    from issues import workflow

    # No community staff: each submission's row waiting for the fold goes with its INSERT (issues.events); the fold
    # counts them (issues.rollups.rollup_fold): repeats and changes of place, category and urgency must each count
    # where a rebuild counts them.
    submissions = [
        {"grid": territory["grid"].code},
        {"grid": territory["grid"].code},
        {"grid": territory["grid"].code, "category": category.code},
        {"building": territory["building"].code, "category": category.code},
        {"grid": territory["grid"].code, "urgent": True},
        {"grid": territory["grid"].code},
    ]
    for place in submissions:
        workflow.issue_submit(actor=resident, description="Rubbish in the stairwell.", **place)
    rollup_fold()
    written = _table()
    assert StatsEntry.objects.count() == Issue.objects.count() == len(submissions)

    rollup_rebuild()

    assert _table() == written


# --- the figures `now` changes: deadline rows (DeadlineRollup) and the live part of today's deadlines --------------

# Moments of reading among the deadlines: deadlines earlier today and later today, local midnight and a second either
# side of it, the first of a month (no deadline day of its own month before it) and a month's last second.
CLOCK_NOWS = [
    datetime(2026, 10, 9, 14, 30, tzinfo=LOCAL_TZ),
    datetime(2026, 10, 31, 23, 59, 59, tzinfo=LOCAL_TZ),
    datetime(2026, 11, 1, 0, 0, tzinfo=LOCAL_TZ),
    datetime(2026, 11, 1, 0, 0, 1, tzinfo=LOCAL_TZ),
    datetime(2026, 11, 17, 9, 15, tzinfo=LOCAL_TZ),
    datetime(2026, 12, 31, 16, 0, tzinfo=LOCAL_TZ),
]


def _late_table() -> list[tuple]:
    """Return the deadline rows with counts as comparable tuples: each row's slots summed, empty rows aside."""
    keys = [f.name for f in DeadlineRollup._meta.concrete_fields if f.name not in {"id", "slot", *LATE_COUNTS}]
    summed = DeadlineRollup.objects.values(*keys).order_by().annotate(o=Sum("overdue"), d=Sum("due_running"))
    return sorted(tuple(str(v) for v in row.values()) for row in summed if row["o"] or row["d"])


def _entry_days() -> list[tuple]:
    return sorted((str(pk), str(o), str(d)) for pk, o, d in StatsEntry.objects.values_list("pk", *CLOCK_DAYS))


def test_deadline_rows_answer_the_live_count_at_any_moment(world):
    rng = random.Random(11)
    for _ in range(150):
        _random_issue(rng, world["places"], world["categories"], world["resident"])
    rollup_rebuild()
    assert _late_table(), "no open issue with a deadline: nothing compared"
    assert _compare(world["scopes"], nows=CLOCK_NOWS) == len(world["scopes"]) * len(PERIODS) * len(CLOCK_NOWS)
    # The quick rebuild from the open issues (manage.py rebuild_stats_rollups --deadlines) writes what the full one
    # wrote.
    rebuilt, days = _late_table(), _entry_days()
    out = io.StringIO()
    call_command("rebuild_stats_rollups", "--deadlines", stdout=out)
    assert out.getvalue().endswith("deadline rows.\n") and "open issues counted" in out.getvalue()
    assert _late_table() == rebuilt
    assert _entry_days() == days


def _change(issue: Issue, rng: random.Random) -> None:
    """Change `issue` as an action would (its deadlines, acceptance, status), behind the rollup's back."""
    created = issue.created_at
    change = rng.choice(["accept", "resolve", "reopen", "reject", "extend", "return", "classify", "status"])
    if change == "accept":
        issue.status, issue.accepted_at = "in_progress", created + timedelta(hours=rng.choice([1, 30]))
    elif change == "resolve":
        issue.status, issue.resolved_at = "resolved", created + timedelta(days=rng.choice([1, 3]))
    elif change == "reopen":
        issue.status = "in_progress"
    elif change == "reject":
        issue.status = "rejected"
    elif change == "extend" and issue.resolution_due_at:
        issue.resolution_due_at += timedelta(days=rng.choice([1, 3, 40]), minutes=rng.choice([0, 7]))
    elif change == "return":
        issue.status, issue.accepted_at = "classified", None
    elif change == "classify":
        issue.status = "classified"
        issue.response_due_at = created + timedelta(hours=rng.choice([1, 25, 49]))
        issue.resolution_due_at = created + timedelta(days=rng.choice([2, 8]), hours=rng.choice([0, 13]))
    else:
        issue.status = rng.choice(STATUSES)
    issue.save()


def test_changed_deadlines_and_statuses_move_their_deadline_rows(world):
    rng = random.Random(13)
    issues = [_random_issue(rng, world["places"], world["categories"], world["resident"]) for _ in range(100)]
    rollup_refresh([i.pk for i in issues])
    _compare(world["scopes"][:4], nows=CLOCK_NOWS, periods=PERIODS[:3])
    # Two rounds of changes, each refreshed as the event seam refreshes: some issues change twice.
    for _ in range(2):
        changed = rng.sample(issues, 40)
        for issue in changed:
            _change(issue, rng)
        rollup_refresh([i.pk for i in changed])
    assert _compare(world["scopes"], nows=CLOCK_NOWS) == len(world["scopes"]) * len(PERIODS) * len(CLOCK_NOWS)
    incremental, days = _late_table(), _entry_days()
    rollup_rebuild_deadlines()
    assert (_late_table(), _entry_days()) == (incremental, days)
    rollup_rebuild()
    assert (_late_table(), _entry_days()) == (incremental, days)


def test_the_workflows_deadline_changes_keep_the_deadline_rows_current(
    territory, category, resident, community_staff, chengguan_staff, street_officer
):
    from issues import workflow

    actors = {"reporter": resident, "place": territory["building"], "triage": community_staff}
    make = lambda status: issue_in_status(status, category=category, handler=chengguan_staff, **actors)  # noqa: E731
    for status in ["submitted", "classified", "dispatched", "in_progress", "resolved"]:
        make(status)
    workflow.issue_extend(issue=make("in_progress"), actor=street_officer, workdays=3)
    workflow.issue_extend(issue=make("dispatched"), actor=street_officer, workdays=1)
    workflow.issue_reopen(issue=make("resolved"), actor=community_staff, reason="Still blocked.")
    workflow.issue_return(issue=make("dispatched"), actor=chengguan_staff, reason="Not ours.")
    workflow.issue_reject(issue=make("classified"), actor=community_staff, reason="invalid")
    assert _late_table()
    moments = {NOW_FAR}
    for response, resolution in Issue.objects.values_list("response_due_at", "resolution_due_at"):
        for due in filter(None, (response, resolution)):
            midnight = datetime.combine(due.astimezone(LOCAL_TZ).date() + timedelta(days=1), time.min, LOCAL_TZ)
            moments |= {due - timedelta(seconds=1), due, due + timedelta(seconds=1), midnight, midnight - timedelta(1)}
    today = timezone.localdate()
    periods = [(None, None), (today - timedelta(days=1), today), (today.replace(day=1), None)]
    scopes = [territory["district"], territory["street"], territory["community"], territory["building"]]
    _compare(scopes, nows=sorted(moments), periods=periods)
    incremental, days = _late_table(), _entry_days()
    rollup_rebuild()
    assert (_late_table(), _entry_days()) == (incremental, days)


@pytest.mark.skipif(connection.vendor != "postgresql", reason="the prepared write is PostgreSQL's")
def test_only_a_change_of_deadline_rows_sends_the_statement_with_their_part(make, territory, resident):
    """A submission (no deadline yet) is counted by the fold with the rollup statement without the deadline part:
    an INSERT of no rows still opens the table and its indexes."""
    from issues import workflow

    sent = []

    def note(execute, sql, params, many, context):
        sent.extend(name for name in re.findall(r"EXECUTE (griddesk_rollup_write\w*)", sql))
        return execute(sql, params, many, context)

    with connection.execute_wrapper(note):
        workflow.issue_submit(actor=resident, description="Rubbish in the stairwell.", grid=territory["grid"].code)
        assert sent == []  # a submission writes no rollup row
        rollup_fold()
    assert sent == ["griddesk_rollup_write"]
    issue = make("dispatched")
    Issue.objects.filter(pk=issue.pk).update(status="in_progress", accepted_at=issue.dispatched_at)
    sent.clear()
    with connection.execute_wrapper(note):
        rollup_refresh([issue.pk])
    assert sent == ["griddesk_rollup_write_late"]
    entry = StatsEntry.objects.get(issue=issue)
    assert entry.overdue_on == entry.due_on == issue.resolution_due_at.astimezone(LOCAL_TZ).date()
