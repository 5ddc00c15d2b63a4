"""Statistics: counts and the three rates on a hand-built set of issues whose figures are computed by hand below."""

from datetime import date, datetime, timedelta
from unittest import mock

import pytest
from django.utils import timezone

from issues import workflow
from issues.models import Event, Rating
from issues.rollups import rollup_fold, rollup_rebuild
from issues.selectors import issue_stats
from issues.sla import LOCAL_TZ
from tests.factories import CategoryFactory, territory_chain
from tests.issues.test_selectors import make_issue

NOW = datetime(2026, 11, 20, 12, 0, tzinfo=LOCAL_TZ)
PERIOD = {"date_from": date(2026, 11, 1), "date_to": date(2026, 11, 15)}


def at(month, day, hour=9, minute=0):
    return datetime(2026, month, day, hour, minute, tzinfo=LOCAL_TZ)


def lead_accepts(issue, when):
    """Record the lead department's acceptance (dispatched → in_progress) at `when` (events pin their own time)."""
    with mock.patch("django.utils.timezone.now", return_value=when):
        Event.objects.create(issue=issue, action="accept", from_status="dispatched", to_status="in_progress")


def rate(issue, score, by):
    Rating.objects.create(issue=issue, score=score, rated_by=by)


@pytest.fixture
def water(chengguan):
    return CategoryFactory(code="water", name="供水", department=chengguan)


@pytest.fixture
def dataset(territory, other_territory, category, water, resident):
    """Build the issues of the hand computation (A = category `stairwell`, B = `water`, 005/001 = communities)."""
    here, building, there = territory["grid"], territory["building"], other_territory["grid"]
    i = {}
    # I1 · A · 005: accepted on time, resolved on time, closed, rated 5.
    i[1] = make_issue(
        here, category=category, status="closed", created_at=at(11, 2),
        response_due_at=at(11, 3), resolution_due_at=at(11, 9),
        dispatched_at=at(11, 2, 10), accepted_at=at(11, 2, 15), resolved_at=at(11, 5),
    )  # fmt: skip
    lead_accepts(i[1], at(11, 2, 15))
    rate(i[1], 5, resident)
    # I2 · A · 005 (building): accepted late, resolved late, rated 2 → reopened, accepted again (late), in progress,
    # escalated once; its resolution deadline (11-10) has passed: overdue.
    i[2] = make_issue(
        building, category=category, status="in_progress", created_at=at(11, 3), escalation_level=1,
        response_due_at=at(11, 4), resolution_due_at=at(11, 10),
        dispatched_at=at(11, 3, 10), accepted_at=at(11, 13), resolved_at=at(11, 12),
    )  # fmt: skip
    lead_accepts(i[2], at(11, 4, 12))
    lead_accepts(i[2], at(11, 13))
    rate(i[2], 2, resident)
    # I3 · B · 005: urgent, accepted and resolved on time, closed unrated (auto-close): no rating.
    i[3] = make_issue(
        here, category=water, status="closed", closed_how="auto_closed", urgent=True, created_at=at(11, 4, 8),
        response_due_at=at(11, 4, 11), resolution_due_at=at(11, 5),
        dispatched_at=at(11, 4, 9, 30), accepted_at=at(11, 4, 10, 30), resolved_at=at(11, 5, 8),
    )  # fmt: skip
    lead_accepts(i[3], at(11, 4, 10, 30))
    # I4 · A · 001: dispatched, never accepted, both deadlines passed (overdue), escalated twice.
    i[4] = make_issue(
        there, category=category, status="dispatched", created_at=at(11, 10), escalation_level=2,
        response_due_at=at(11, 11), resolution_due_at=at(11, 17), dispatched_at=at(11, 10, 10),
    )  # fmt: skip
    # I5 · no category · 001: submitted, nothing else.
    i[5] = make_issue(there, created_at=at(11, 14))
    # I6 · B · 005: classified then rejected; its passed deadline does not make it due.
    i[6] = make_issue(
        here, category=water, status="rejected", created_at=at(11, 6),
        response_due_at=at(11, 7), resolution_due_at=at(11, 13),
    )  # fmt: skip
    # I7 · B · 005: accepted on time, in progress, resolution deadline still ahead (11-25): neither due nor overdue.
    i[7] = make_issue(
        here, category=water, status="in_progress", created_at=at(11, 15, 20),
        response_due_at=at(11, 16, 20), resolution_due_at=at(11, 25),
        dispatched_at=at(11, 15, 21), accepted_at=at(11, 16, 8),
    )  # fmt: skip
    lead_accepts(i[7], at(11, 16, 8))
    # I8 · A · 001: accepted on time, resolved a day late (11-14 > 11-13), closed, rated 3.
    i[8] = make_issue(
        there, category=category, status="closed", created_at=at(11, 12),
        response_due_at=at(11, 13), resolution_due_at=at(11, 13), resolved_at=at(11, 14, 10),
        dispatched_at=at(11, 12, 10), accepted_at=at(11, 12, 11),
    )  # fmt: skip
    lead_accepts(i[8], at(11, 12, 11))
    rate(i[8], 3, resident)
    # Outside the population: I9 a minute before the period (its rating must not count), I10 just after it,
    # I11 in the period but in another street.
    i[9] = make_issue(here, category=category, status="closed", created_at=at(10, 31, 23, 59))
    rate(i[9], 5, resident)
    i[10] = make_issue(here, category=category, created_at=at(11, 16, 0))
    _, _, _, other_street_grid, _ = territory_chain(street="360702092", community="360702092001")
    i[11] = make_issue(other_street_grid, category=category, created_at=at(11, 5))
    # The rows above were written directly, not through the event seam that keeps the rollup current.
    rollup_rebuild()
    return i


# Hand computation for street 360702091, 11-01..11-15, at 11-20 12:00 — population I1..I8:
#   by status: submitted I5, dispatched I4, in_progress I2 I7, closed I1 I3 I8, rejected I6 → 8
#   dispatched: I1 I2 I3 I4 I7 I8 = 6; accepted on time: I1 (15:00 ≤ 09:00 next day), I3 (10:30 ≤ 11:00),
#     I7, I8 = 4 (I2's 11-04 12:00 and 11-13 are after 11-04 09:00; I4 never) → response rate 4/6 = 0.6667
#   accepted: I1 I2 I3 I7 I8 = 5; resolved or closed among them: I1 I3 I8 = 3 → resolution rate 3/5 = 0.6
#   due: I1 I3 I8 (resolved), I2 (11-10 passed), I4 (11-17 passed) = 5; not I7 (11-25 ahead), I6 (rejected),
#     I5 (no deadline); on time: I1 (11-05 ≤ 11-09), I3 (08:00 ≤ 09:00) = 2; I8 late → 2/5 = 0.4
#   ratings: I1 5, I2 2, I8 3 = 3, satisfied 2 → 0.6667 (I3 auto-closed: in neither; I9 outside the period)
#   overdue: I2 (in progress, resolution passed), I4 (dispatched, both passed) = 2; escalated: I2, I4 = 2
STREET_TOTALS = {
    "total": 8,
    "by_status": {
        "submitted": 1,
        "classified": 0,
        "dispatched": 1,
        "in_progress": 2,
        "resolved": 0,
        "closed": 3,
        "rejected": 1,
    },
    "response_rate": 0.6667,
    "resolution_rate": 0.6,
    "on_time_resolution_rate": 0.4,
    "satisfaction_rate": 0.6667,
    "overdue": 2,
    "escalated": 2,
    "counts": {
        "dispatched": 6,
        "responded_on_time": 4,
        "accepted": 5,
        "resolved": 3,
        "due": 5,
        "resolved_on_time": 2,
        "ratings": 3,
        "satisfied": 2,
    },
}


def test_street_totals_match_the_hand_computation(dataset, territory):
    stats = issue_stats(area=territory["street"], now=NOW, **PERIOD)
    assert {k: stats[k] for k in STREET_TOTALS} == STREET_TOTALS
    assert stats["area"] == {"code": "360702091", "name": "黄金岭街道", "level": "street"}
    assert (stats["date_from"], stats["date_to"]) == ("2026-11-01", "2026-11-15")


def _rates(row):
    keys = ("total", "response_rate", "resolution_rate", "on_time_resolution_rate", "satisfaction_rate")
    return (row["code"], *(row[k] for k in keys), row["overdue"], row["escalated"])


def test_by_category_carries_the_same_figures_per_category(dataset, territory):
    stats = issue_stats(area=territory["street"], now=NOW, **PERIOD)
    # A (stairwell) I1 I2 I4 I8: responded I1 I8 / dispatched 4 = 0.5; resolved I1 I8 / accepted I1 I2 I8 = 0.6667;
    #   on time I1 / due I1 I2 I4 I8 = 0.25; satisfied 5, 3 / ratings 5, 2, 3 = 0.6667; overdue I2 I4; escalated I2 I4.
    # B (water) I3 I6 I7: responded I3 I7 / 2 = 1.0; resolved I3 / accepted I3 I7 = 0.5; on time I3 / due I3 = 1.0;
    #   no ratings → None.
    # Unclassified: I5 alone, nothing counted → every rate None.
    assert [_rates(row) for row in stats["by_category"]] == [
        ("stairwell", 4, 0.5, 0.6667, 0.25, 0.6667, 2, 2),
        ("water", 3, 1.0, 0.5, 1.0, None, 0, 0),
        (None, 1, None, None, None, None, 0, 0),
    ]
    assert stats["by_category"][0]["name"] == "楼道堆物"
    assert stats["by_category"][1]["by_status"]["rejected"] == 1


def test_by_child_area_lists_every_community_of_the_street(dataset, territory):
    stats = issue_stats(area=territory["street"], now=NOW, **PERIOD)
    # 001 (I4 I5 I8): responded I8 / dispatched I4 I8 = 0.5; resolved I8 / accepted I8 = 1.0; on time 0 / due I4 I8
    #   = 0.0; satisfied 1 / 1 rating = 1.0; overdue I4; escalated I4.
    # 005 (I1 I2 I3 I6 I7): responded I1 I3 I7 / dispatched I1 I2 I3 I7 = 0.75; resolved I1 I3 / accepted 4 = 0.5;
    #   on time I1 I3 / due I1 I2 I3 = 0.6667; satisfied 1 / ratings 5, 2 = 0.5; overdue I2; escalated I2.
    assert [_rates(row) for row in stats["by_child_area"]] == [
        ("360702091001", 3, 0.5, 1.0, 0.0, 1.0, 1, 1),
        ("360702091005", 5, 0.75, 0.5, 0.6667, 0.5, 1, 1),
    ]


def test_by_child_area_of_a_district_is_its_streets_and_of_a_grid_its_buildings(dataset, territory):
    district = issue_stats(area=territory["district"], now=NOW, **PERIOD)
    assert district["total"] == 9  # I1..I8 and I11
    assert [(r["code"], r["total"]) for r in district["by_child_area"]] == [("360702091", 8), ("360702092", 1)]

    grid = issue_stats(area=territory["grid"], now=NOW, **PERIOD)
    # Grid 005001: I2 at its building; I1 I3 I6 I7 at no building (listed under None).
    assert [(r["code"], r["total"]) for r in grid["by_child_area"]] == [(territory["building"].code, 1), (None, 4)]
    assert grid["by_child_area"][0]["satisfaction_rate"] == 0.0  # I2's one rating, 2
    assert issue_stats(area=territory["building"], now=NOW, **PERIOD)["by_child_area"] == []


def test_an_area_with_nothing_in_the_period_has_zero_counts_and_no_rates(dataset, territory):
    stats = issue_stats(area=territory["street"], now=NOW, date_from=date(2026, 1, 1), date_to=date(2026, 1, 31))
    assert stats["total"] == 0
    assert set(stats["by_status"].values()) == {0}
    rates = ("response_rate", "resolution_rate", "on_time_resolution_rate", "satisfaction_rate")
    assert [stats[k] for k in rates] == [None] * 4
    assert stats["by_category"] == []
    assert [(r["code"], r["total"], r["response_rate"]) for r in stats["by_child_area"]] == [
        ("360702091001", 0, None),
        ("360702091005", 0, None),
    ]


def test_statistics_take_five_queries_whatever_the_data_size(
    dataset, territory, category, resident, django_assert_num_queries
):
    rollup_fold()  # the dataset's submissions, counted (a Celery beat does it every few seconds)
    # The look for submissions not counted yet (issues.rollups.rollup_fold), the rollup rows, the live part (open
    # issues past a deadline), the category names, the child areas.
    with django_assert_num_queries(5):
        issue_stats(area=territory["street"], now=NOW, **PERIOD)
    for n in range(20):
        issue = make_issue(
            territory["building"], category=category, status="closed", created_at=at(11, 8),
            response_due_at=at(11, 9), resolution_due_at=at(11, 14), dispatched_at=at(11, 8, 10),
            accepted_at=at(11, 8, 11), resolved_at=at(11, 9),
        )  # fmt: skip
        lead_accepts(issue, at(11, 8, 11))
        rate(issue, 1 + n % 5, resident)
    rollup_rebuild()
    rollup_fold()
    with django_assert_num_queries(5) as captured:
        stats = issue_stats(area=territory["street"], now=NOW, **PERIOD)
    assert stats["total"] == 28
    assert stats["counts"]["ratings"] == 23
    # Ratings and events come from the rollup: no query reads them at all.
    assert not [q for q in captured.captured_queries if '"issues_rating"' in q["sql"] or '"issues_event"' in q["sql"]]


def test_rates_follow_issues_driven_through_the_workflow(
    territory, category, resident, community_staff, chengguan_staff
):
    """Guard the definitions against the workflow's real columns and events (not only hand-built rows)."""

    def handle(*, accept_after_hours: int, score: int):
        issue = workflow.issue_submit(actor=resident, description="楼道堆满纸箱", building=territory["building"].code)
        issue = workflow.issue_classify(issue=issue, actor=community_staff, category=category.code)
        issue = workflow.issue_dispatch(issue=issue, actor=community_staff, departments=["chengguan"])
        with mock.patch(
            "django.utils.timezone.now", return_value=issue.classified_at + timedelta(hours=accept_after_hours)
        ):
            issue = workflow.issue_accept(issue=issue, actor=chengguan_staff)
            issue = workflow.issue_resolve(issue=issue, actor=chengguan_staff, note="已清理")
            workflow.issue_rate(issue=issue, actor=resident, score=score)

    handle(accept_after_hours=1, score=4)  # closed
    handle(accept_after_hours=25, score=1)  # past the 24-hour response deadline; reopened: back to dispatched

    today = timezone.localdate()
    stats = issue_stats(area=territory["community"], date_from=today - timedelta(days=1), date_to=today)
    # Responded: the on-time one only (1/2). Accepted both, resolved now only the first (1/2). Due: the first
    # (resolved); the reopened one's deadline is five working days ahead (1/1 on time). Ratings 4 and 1 (1/2).
    assert stats["counts"] == {
        "dispatched": 2,
        "responded_on_time": 1,
        "accepted": 2,
        "resolved": 1,
        "due": 1,
        "resolved_on_time": 1,
        "ratings": 2,
        "satisfied": 1,
    }
    assert stats["by_status"]["closed"] == 1 and stats["by_status"]["dispatched"] == 1
    assert (stats["response_rate"], stats["resolution_rate"], stats["satisfaction_rate"]) == (0.5, 0.5, 0.5)
