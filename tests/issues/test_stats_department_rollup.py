# ruff: noqa: F811  (the `world` fixture, imported from test_stats_rollup, is a parameter of the tests)
"""The statistics page's departments read from the department rollup answer exactly what the live count answered.

Randomized issues (fixed seeds) in every status with random dispatch rounds (several departments, a lead, accepted
on time or late, returned, retired rounds) and ratings, compared with tests/issues/stats_department_reference.py
(the live implementation before the department rollup) for every level of scope, several periods and moments
`now`, after a rebuild and after refreshes of changed issues; the whole stats_report too; the workflow keeps the
rows current. On SQLite and PostgreSQL alike.
"""

import random
from datetime import date, datetime, timedelta
from unittest import mock

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from issues import stats_report as report_module
from issues.figures import OTHER_OPEN_STATUSES
from issues.models import DepartmentEntry, DepartmentRollup, Dispatch, Issue, Rating
from issues.rollups import rollup_rebuild, rollup_refresh
from issues.sla import LOCAL_TZ
from issues.stats_report import department_stats, stats_report
from tests.factories import DepartmentFactory, issue_in_status
from tests.issues.stats_department_reference import live_department_stats
from tests.issues.test_stats_rollup import NOWS, _random_issue, world  # noqa: F401 (world: a fixture)

PERIODS = [
    (date(2026, 10, 1), date(2026, 10, 31)),  # a whole month
    (date(2026, 9, 30), date(2026, 12, 1)),  # two whole months and an edge day on each side
    (date(2026, 10, 15), date(2026, 11, 14)),  # no whole month
    (date(2026, 11, 30), date(2026, 11, 30)),  # one day
    (date(2026, 9, 1), date(2026, 12, 31)),  # everything
]


@pytest.fixture
def departments(world, chengguan, shuiwu):
    district = world["scopes"][0]
    return [chengguan, shuiwu, DepartmentFactory(code="gongan", name="公安", district=district)]


def _dispatch_rounds(rng: random.Random, issue: Issue, departments: list) -> None:
    """Give `issue` 0 to 3 dispatch rounds; only the last one is active, the earlier ones are retired."""
    rounds = rng.choice([0, 1, 1, 2, 3])
    created = issue.created_at
    for n in range(rounds):
        last = n == rounds - 1
        chosen = rng.sample(departments, rng.choice([1, 1, 2, 3]))
        for i, department in enumerate(chosen):
            status = rng.choice(["pending", "accepted", "returned"] if not last else ["pending", "accepted"])
            accepted_at = None
            if status == "accepted" or (status == "returned" and rng.random() < 0.5):
                accepted_at = created + timedelta(hours=rng.choice([1, 3, 25, 30]))
            Dispatch.objects.create(
                issue=issue,
                department=department,
                lead=i == 0,
                status=status,
                active=last,
                accepted_at=accepted_at,
                returned_at=created + timedelta(hours=5) if status == "returned" else None,
            )


def _issues(world, departments, rng: random.Random, n: int) -> list[Issue]:
    issues = []
    for _ in range(n):
        issue = _random_issue(rng, world["places"], world["categories"], world["resident"])
        _dispatch_rounds(rng, issue, departments)
        issues.append(issue)
    return issues


def _compare(scopes) -> int:
    compared = 0
    for area in scopes:
        for date_from, date_to in PERIODS:
            for now in NOWS:
                args = {"area": area, "date_from": date_from, "date_to": date_to, "now": now}
                assert department_stats(**args) == live_department_stats(**args), args
                compared += 1
    return compared


def _table() -> list[tuple]:
    fields = [f.attname for f in DepartmentRollup._meta.concrete_fields if f.name != "id"]
    rows = DepartmentRollup.objects.exclude(dispatched=0, ratings=0, accepted=0).values_list(*fields)
    return sorted(rows)


def _entries() -> list[tuple]:
    fields = [f.attname for f in DepartmentEntry._meta.concrete_fields if f.name != "id"]
    return sorted(DepartmentEntry.objects.values_list(*fields), key=str)


@pytest.mark.parametrize("seed", [21, 22])
def test_department_rows_answer_what_the_live_count_answers_over_randomized_issues(world, departments, seed):
    rng = random.Random(seed)
    _issues(world, departments, rng, 120)
    rollup_rebuild()
    assert DepartmentEntry.objects.count() == Dispatch.objects.values("issue", "department").distinct().count()
    assert _compare(world["scopes"]) == len(world["scopes"]) * len(PERIODS) * len(NOWS)
    # Something to compare: every count of a department row is non-zero somewhere, for several departments.
    rows = department_stats(
        area=world["scopes"][0], date_from=date(2026, 9, 1), date_to=date(2026, 12, 31), now=NOWS[1]
    )
    assert len(rows) == 3
    for key in ["dispatched", "accepted_on_time", "returned", "accepted", "resolved", "due", "resolved_on_time"]:
        assert all(row["counts"][key] for row in rows), key
    assert all(row["counts"]["ratings"] for row in rows)


def test_refreshing_changed_issues_keeps_the_department_rows_equal_to_a_rebuild_and_the_live_count(world, departments):
    rng = random.Random(23)
    issues = _issues(world, departments, rng, 80)
    rollup_refresh([i.pk for i in issues])  # each issue counted as the event seam would
    _compare(world["scopes"])
    changed = rng.sample(issues, 30)
    for issue in changed:
        other = _random_issue(rng, world["places"], world["categories"], world["resident"])
        for field in ("status", "resolution_due_at", "response_due_at", "accepted_at", "resolved_at"):
            setattr(issue, field, getattr(other, field))
        place = rng.choice(world["places"])
        codes = place.path.split("/")
        issue.area_path, issue.community_code, issue.street_code = place.path, codes[2], codes[1]
        issue.grid_code = codes[3]
        issue.building_code = codes[4] if len(codes) > 4 else ""
        issue.save()
        # A new round: the current one returned and retired, new dispatches (sometimes none).
        issue.dispatches.filter(active=True).update(active=False, status="returned")
        _dispatch_rounds(rng, issue, departments)
        Rating.objects.create(issue=issue, score=rng.randint(1, 5), rated_by=world["resident"])
        rollup_refresh([other.pk])
    rollup_refresh([i.pk for i in changed[:20]])
    rollup_refresh([i.pk for i in changed[10:]])
    _compare(world["scopes"])
    incremental, entries = _table(), _entries()
    rollup_rebuild()
    assert _table() == incremental
    assert _entries() == entries


def test_the_whole_report_is_what_the_live_departments_gave(world, departments):
    rng = random.Random(24)
    _issues(world, departments, rng, 100)
    rollup_rebuild()
    for area in world["scopes"]:
        for now in NOWS:
            args = {"area": area, "date_from": date(2026, 10, 1), "date_to": date(2026, 11, 30), "now": now}
            report = stats_report(**args)
            with mock.patch.object(report_module, "department_stats", live_department_stats):
                assert report == stats_report(**args), (area.path, now)


def test_the_departments_cost_two_queries_and_read_neither_issues_nor_dispatches_nor_ratings(world, departments):
    rng = random.Random(25)
    district = world["scopes"][0]
    counts = []
    for n in (40, 160):
        _issues(world, departments, rng, n)
        rollup_rebuild()
        with CaptureQueriesContext(connection) as queries:
            department_stats(area=district, date_from=date(2026, 10, 1), date_to=date(2026, 12, 15), now=NOWS[1])
        counts.append(len(queries))
    assert counts == [2, 2]
    assert not any('"issues_rating"' in q["sql"] for q in queries.captured_queries)
    # Neither reads the issues or their dispatches: the rollup rows and the entries of open issues past a deadline.
    assert not any('"issues_issue"' in q["sql"] or '"issues_dispatch"' in q["sql"] for q in queries.captured_queries)
    live = [q["sql"] for q in queries.captured_queries if '"issues_departmententry"' in q["sql"]]
    assert len(live) == 1 and '"lead_due_at" <' in live[0]


def test_the_workflow_keeps_the_department_rows_current_without_a_rebuild(
    territory, category, resident, community_staff, chengguan_staff
):
    actors = {"reporter": resident, "place": territory["building"], "triage": community_staff}
    for status in ["submitted", "rejected", "dispatched", "in_progress", "resolved", "closed", "closed"]:
        issue_in_status(status, category=category, handler=chengguan_staff, **actors)
    today = date.today()
    far = datetime(2030, 1, 1, tzinfo=LOCAL_TZ)  # every deadline passed: the live part counts
    for area in (territory["district"], territory["street"], territory["grid"]):
        args = {"area": area, "date_from": today - timedelta(days=1), "date_to": today + timedelta(days=1)}
        rows = department_stats(**args, now=far)
        assert rows == live_department_stats(**args, now=far)
        assert [(r["code"], r["counts"]["dispatched"], r["counts"]["resolved"]) for r in rows] == [("chengguan", 5, 3)]
    incremental, entries = _table(), _entries()
    rollup_rebuild()
    assert (_table(), _entries()) == (incremental, entries)


def test_the_partial_index_of_other_open_statuses_holds_exactly_those_statuses():
    """issue_resolution_due_other serves due_running_q's second term: its condition must name the same statuses."""
    index = next(i for i in Issue._meta.indexes if i.name == "issue_resolution_due_other")
    assert index.condition.children == [("status", "submitted")] and OTHER_OPEN_STATUSES == ["submitted"]
