"""Hot spots by building, and by near-duplicate text across categories (triage.hotspots)."""

from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from issues.models import Issue
from tests.factories import CategoryFactory, territory_chain
from triage import hotspots
from triage.hotspots import NEAR_DUPLICATE, text_similarities
from triage.models import HotSpot, PlaceDayCount

pytestmark = pytest.mark.django_db

# One report retyped, shortened or forwarded by neighbours (near-duplicates of each other)…
RETYPED = [
    "3栋楼道里堆满了纸箱和旧家具，消防通道走不过去",
    "3栋楼道堆满纸箱和旧家具，消防通道走不过去了",
    "3栋楼道里堆满了纸箱和旧家具，消防通道走不过去！！",
    "【转】3栋楼道里堆满了纸箱和旧家具，消防通道走不过去",
    "3栋楼道里堆满纸箱和旧家具 消防通道走不过去",
    "3栋楼道里堆满了纸箱、旧家具，消防通道走不过去",
]
# …and residents' own words about different problems of one grid.
DIFFERENT = [
    "小区门口的路灯坏了，晚上很黑",
    "自来水管爆了，路面全是水",
    "楼下烧烤店油烟太大，窗户都不敢开",
    "垃圾桶满了三天没人清运",
    "电动车在楼道里充电，很危险",
    "广场舞音响声音太大，晚上十点还在跳",
]


def test_near_duplicates_score_above_the_threshold_and_different_reports_below():
    for text in RETYPED[1:]:
        assert text_similarities(RETYPED[0], [text])[0] >= NEAR_DUPLICATE
    scores = text_similarities(RETYPED[0], DIFFERENT + ["楼道堆放杂物，晚上看不见容易绊倒"])
    assert max(scores) < NEAR_DUPLICATE


@pytest.fixture
def categories(chengguan):
    return [CategoryFactory(code=f"c{i}", name=f"类{i}", department=chengguan) for i in range(3)]


def test_near_duplicate_reports_across_categories_and_without_one_raise_one_alert(territory, report, categories):
    grid = territory["grid"]
    given = [categories[0], categories[1], None, categories[2], categories[0]]
    burst = [
        report(grid, ago=timedelta(minutes=50 - 10 * i), text=RETYPED[i], category=given[i]) for i in range(len(given))
    ]
    spot = HotSpot.objects.get()
    assert set(spot.issues.values_list("pk", flat=True)) == {i.pk for i in burst}
    assert (spot.category_id, spot.observed, spot.building_code) == (categories[0].pk, len(burst), "")
    # One more copy under yet another category joins it; nothing new is raised.
    report(grid, text=RETYPED[5], category=categories[1])
    spot.refresh_from_db()
    assert (HotSpot.objects.count(), spot.observed) == (1, len(burst) + 1)


def test_the_same_mix_of_categories_with_different_texts_raises_nothing(territory, report, categories):
    for i, text in enumerate(DIFFERENT):
        report(territory["grid"], ago=timedelta(minutes=60 - 10 * i), text=text, category=categories[i % 3])
    assert HotSpot.objects.count() == 0


def test_near_duplicates_with_no_category_raise_a_text_alert_shown_on_the_desk(
    client, territory, report, street_officer
):
    burst = [
        report(territory["grid"], ago=timedelta(minutes=50 - 10 * i), text=text, category=None)
        for i, text in enumerate(RETYPED[: hotspots.MIN_COUNT])
    ]
    spot = HotSpot.objects.get()
    assert spot.category_id is None and spot.observed == len(burst)
    assert PlaceDayCount.objects.count() == 0  # nothing counted into a category's baseline
    client.force_login(street_officer)
    page = client.get(reverse("desk-escalations")).content.decode()
    assert f'id="hotspot-{spot.pk}"' in page and "近乎相同" in page


def test_near_duplicates_in_other_grids_are_not_grouped(territory, report):
    for i, text in enumerate(RETYPED[: hotspots.MIN_COUNT]):
        report(territory_chain(grid_seq=2 + i)[3], text=text, category=None)
    assert HotSpot.objects.count() == 0


def test_a_burst_in_one_building_raises_the_buildings_alert_not_a_second_for_the_grid(
    territory, report, category, client, street_officer
):
    grid, building = territory["grid"], territory["building"]
    other_building = territory_chain(building_seq=2)[4]
    today = timezone.localdate()
    # The grid usually has eight a day of this category (elsewhere than this building): its own rule stays quiet.
    PlaceDayCount.objects.bulk_create(
        PlaceDayCount(place_code=grid.code, category_pk=category.pk, day=today - timedelta(days=d), count=8)
        for d in range(2, 2 + hotspots.BASELINE_DAYS)
    )
    burst = [report(building, ago=timedelta(minutes=60 - 10 * i)) for i in range(hotspots.MIN_COUNT)]
    spot = HotSpot.objects.get()
    assert (spot.building_code, spot.building_id, spot.grid_code) == (building.code, building.pk, grid.code)
    assert spot.expected < 1 < hotspots.BASELINE_DAYS * 8 / hotspots.BASELINE_DAYS  # the building's own baseline
    assert set(spot.issues.values_list("pk", flat=True)) == {i.pk for i in burst}
    # A report in another building of the grid does not join the building's alert, nor raise the grid's.
    elsewhere = report(other_building)
    assert HotSpot.objects.count() == 1 and not elsewhere.hotspots.exists()
    # One more in the building joins its alert.
    report(building)
    spot.refresh_from_db()
    assert spot.observed == hotspots.MIN_COUNT + 1
    client.force_login(street_officer)
    page = client.get(reverse("desk-escalations")).content.decode()
    assert f"{grid.name} · {building.name}" in page


def test_a_building_burst_is_one_alert_even_where_the_grid_would_raise_too(territory, report):
    burst = [report(territory["building"], ago=timedelta(minutes=50 - 10 * i)) for i in range(hotspots.MIN_COUNT)]
    spot = HotSpot.objects.get()
    assert spot.building_code == territory["building"].code
    assert [list(Issue.objects.get(pk=i.pk).hotspots.values_list("pk", flat=True)) for i in burst] == [[spot.pk]] * 5
    # A sixth anywhere in the grid: one alert still (the grid's rule counts only reports in no open alert).
    report(territory["grid"])
    assert HotSpot.objects.count() == 1


def test_the_building_counts_its_own_baseline(territory, report, category):
    report(territory["building"])
    report(territory["grid"])
    counts = dict(PlaceDayCount.objects.values_list("place_code", "count"))
    assert counts == {territory["grid"].code: 2, territory["building"].code: 1}


def test_a_report_seen_at_submission_is_counted_when_classified(territory, report, category, community_staff):
    from issues import workflow

    issue = report(territory["grid"], category=None)
    assert PlaceDayCount.objects.count() == 0
    workflow.issue_classify(issue=Issue.objects.get(pk=issue.pk), actor=community_staff, category=category)
    hotspots.hotspot_detect(issue_id=issue.pk)
    hotspots.hotspot_detect(issue_id=issue.pk)
    assert PlaceDayCount.objects.get(place_code=territory["grid"].code).count == 1


def test_dispatching_a_text_alert_refuses_the_reports_with_no_category_and_changes_nothing(
    territory, report, street_officer
):
    from triage.hotspot_actions import hotspot_dispatch

    burst = [report(territory["grid"], text=text, category=None) for text in RETYPED[: hotspots.MIN_COUNT]]
    spot = HotSpot.objects.get()
    done, refused = hotspot_dispatch(spot=spot, actor=street_officer)
    assert done == [] and len(refused) == len(burst)
    assert all("classify it first" in line for line in refused)
    assert set(Issue.objects.filter(hotspots=spot).values_list("status", flat=True)) == {Issue.Status.SUBMITTED}
