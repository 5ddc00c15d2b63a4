"""Hot spots (triage.hotspots): a burst of one category in one grid, far above its own baseline, raises ONE alert."""

import json
from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from issues import workflow
from issues.models import Issue, Notice, WebhookType
from notifications.models import Channel, Notification
from tests.factories import territory_chain
from triage import hotspots
from triage.hotspots import hotspot_detect, hotspots_close_ended, poisson_tail
from triage.models import HotSpot, PlaceDayCount

pytestmark = pytest.mark.django_db


def test_poisson_tail():
    assert poisson_tail(0, 1.0) == 1.0
    assert poisson_tail(1, 1.0) == pytest.approx(1 - 0.36787944, abs=1e-6)
    assert poisson_tail(5, 0.2) < 1e-4 < poisson_tail(5, 4.0)


def test_a_burst_raises_one_alert_which_grows_and_tells_once(
    territory, report, street_officer, partner_endpoint, category
):
    grid = territory["grid"]
    burst = [report(territory["building"], ago=timedelta(minutes=30 * (8 - i))) for i in range(hotspots.MIN_COUNT - 1)]
    assert HotSpot.objects.count() == 0  # below the minimum count
    burst.append(report(grid, ago=timedelta(minutes=30)))
    spot = HotSpot.objects.get()
    assert (spot.grid_code, spot.category_id, spot.status) == (grid.code, category.pk, HotSpot.Status.OPEN)
    assert spot.street_code == territory["street"].code
    assert set(spot.issues.values_list("pk", flat=True)) == {i.pk for i in burst}
    assert spot.observed == hotspots.MIN_COUNT and spot.expected < 1 and spot.p_value < hotspots.P_THRESHOLD

    rows = Notification.objects.filter(kind=Notice.HOTSPOT_RAISED).exclude(channel=Channel.WEBHOOK)
    assert {(r.recipient_id, r.channel) for r in rows} >= {(street_officer.pk, Channel.INBOX)}
    hooks = Notification.objects.filter(kind=WebhookType.HOTSPOT_RAISED, channel=Channel.WEBHOOK)
    assert [h.webhook_id for h in hooks] == [partner_endpoint.pk]
    body = json.loads(hooks[0].payload["body"])
    assert body["type"] == "hotspot.raised"
    assert sorted(body["data"]["hotspot"]["issues"]) == sorted(i.number for i in burst)

    told = list(Notification.objects.filter(kind="hotspot.raised").order_by("pk").values_list("pk", flat=True))
    assert len(told) == rows.count() + 1
    # The burst grows: the same alert takes the new reports; nothing new is raised or sent.
    more = [report(grid, ago=timedelta(minutes=5)), report(territory["building"])]
    assert HotSpot.objects.count() == 1
    spot.refresh_from_db()
    assert spot.observed == len(burst) + 2
    assert set(spot.issues.values_list("pk", flat=True)) == {i.pk for i in burst + more}
    assert list(Notification.objects.filter(kind="hotspot.raised").order_by("pk").values_list("pk", flat=True)) == told
    assert rows.count() == len({(r.recipient_id, r.channel) for r in rows})


def test_the_same_volume_spread_over_the_streets_grids_raises_nothing(territory, report):
    grids = [territory["grid"]] + [territory_chain(grid_seq=n)[3] for n in range(2, 2 + hotspots.MIN_COUNT + 2)]
    for grid in grids:
        report(grid, ago=timedelta(minutes=10))
    assert Issue.objects.count() == len(grids) > hotspots.MIN_COUNT
    assert HotSpot.objects.count() == 0


def test_a_place_whose_baseline_is_that_high_raises_nothing(territory, report, category):
    grid = territory["grid"]
    today = timezone.localdate()
    # Eight a day over the baseline's four weeks, as counted by detection day after day.
    PlaceDayCount.objects.bulk_create(
        PlaceDayCount(place_code=grid.code, category_pk=category.pk, day=today - timedelta(days=d), count=8)
        for d in range(2, 2 + hotspots.BASELINE_DAYS)
    )
    for i in range(8):
        report(grid, ago=timedelta(minutes=20 * (8 - i)))
    assert HotSpot.objects.count() == 0
    # Without that history the same eight would have been a hot spot.
    PlaceDayCount.objects.exclude(day=today).delete()
    hotspot_detect(issue_id=Issue.objects.order_by("-created_at").values_list("pk", flat=True).first())
    assert HotSpot.objects.count() == 1


def test_an_old_burst_outside_the_window_raises_nothing(territory, report):
    for i in range(hotspots.MIN_COUNT):
        report(territory["grid"], ago=timedelta(hours=6 * i))  # five in 24 h… minus the window's edge
    assert HotSpot.objects.count() == 0


def test_each_issue_is_counted_once(territory, report, category):
    issue = report(territory["grid"])
    hotspot_detect(issue_id=issue.pk)
    hotspot_detect(issue_id=issue.pk)
    assert PlaceDayCount.objects.get(place_code=territory["grid"].code, category_pk=category.pk).count == 1


def test_the_alert_closes_when_all_its_issues_have_ended(territory, report, community_staff):
    burst = [report(territory["grid"], ago=timedelta(minutes=10 - i)) for i in range(hotspots.MIN_COUNT)]
    spot = HotSpot.objects.get()
    for issue in burst[:-1]:
        workflow.issue_reject(issue=Issue.objects.get(pk=issue.pk), actor=community_staff, reason="invalid")
    assert hotspots_close_ended(issue_ids=[burst[0].pk]) == 0
    spot.refresh_from_db()
    assert spot.status == HotSpot.Status.OPEN
    workflow.issue_reject(issue=Issue.objects.get(pk=burst[-1].pk), actor=community_staff, reason="invalid")
    assert hotspots_close_ended(issue_ids=[burst[-1].pk]) == 1
    spot.refresh_from_db()
    assert spot.status == HotSpot.Status.CLOSED and spot.closed_at is not None


def test_submission_and_ending_queue_the_checks_after_commit(
    territory, resident, community_staff, category, monkeypatch, django_capture_on_commit_callbacks
):
    queued = []
    monkeypatch.setattr(hotspots, "_detect_publish", lambda pks: queued.append(("detect", *pks)))
    monkeypatch.setattr(hotspots.hotspots_close_ended_task, "delay", lambda pks: queued.append(("close", pks)))
    with django_capture_on_commit_callbacks(execute=True):
        issue = workflow.issue_submit(
            actor=resident, description="Bags of rubbish in the stairwell.", grid=territory["grid"].code
        )
    with django_capture_on_commit_callbacks(execute=True):
        workflow.issue_reject(issue=issue, actor=community_staff, reason="invalid")
    assert queued == [("detect", issue.pk), ("close", [issue.pk])]


def test_a_broker_outage_never_fails_a_submission(territory, resident, monkeypatch, django_capture_on_commit_callbacks):
    def down(*args):
        raise ConnectionError("broker down")

    monkeypatch.setattr(hotspots, "_queue_client", lambda: None)  # a task per issue
    monkeypatch.setattr(hotspots.hotspot_detect_task, "delay", down)
    with django_capture_on_commit_callbacks(execute=True):
        issue = workflow.issue_submit(
            actor=resident, description="Bags of rubbish in the stairwell.", grid=territory["grid"].code
        )
    assert Issue.objects.filter(pk=issue.pk).exists()


def _cost(issue) -> int:
    with CaptureQueriesContext(connection) as ctx:
        hotspot_detect(issue_id=issue.pk)
    return len(ctx.captured_queries)


def test_detection_costs_a_constant_number_of_queries(territory, report):
    quiet = [_cost(report(territory["grid"], ago=timedelta(days=d + 3), detect=False)) for d in range(3)]
    assert len(set(quiet)) == 1
    grown = []
    for i in range(hotspots.MIN_COUNT + 6):
        issue = report(territory["building"], ago=timedelta(minutes=60 - i), detect=False)
        grown.append(_cost(issue))
    raised = hotspots.MIN_COUNT - 1
    # Below the threshold: the first of the day creates its places' day rows, then every report costs the same.
    assert len(set(grown[1:raised])) == 1 and grown[0] > grown[1]
    assert len(set(grown[raised + 1 :])) == 1  # growing the alert: as cheap for the 2nd as for the 6th addition
    assert HotSpot.objects.get().issues.count() == len(grown)


@pytest.mark.parametrize("days", [60])
def test_detection_queries_do_not_grow_with_history(report, days):
    """The same new report costs the same queries in a grid with no history and in one with `days` of it (a report
    a day, counted and in the baseline), beside other grids' reports."""

    def cost_in(grid_seq: int, history: int) -> int:
        _, _, _, grid, building = territory_chain(grid_seq=grid_seq)
        for d in range(history):
            report(building, ago=timedelta(days=d + 2))
            report(territory_chain(grid_seq=grid_seq + 1)[3], ago=timedelta(days=d + 2))
        report(building, ago=timedelta(hours=2))  # today's first: its day rows exist for the next
        return _cost(report(building, ago=timedelta(hours=1), detect=False))

    small, large = cost_in(3, 0), cost_in(5, days)
    assert PlaceDayCount.objects.filter(place_code=territory_chain(grid_seq=5)[3].code).count() == days + 1
    assert small == large


@pytest.fixture
def burst(territory, report):
    issues = [report(territory["grid"], ago=timedelta(minutes=10 - i)) for i in range(hotspots.MIN_COUNT)]
    return HotSpot.objects.get(), issues


def test_the_escalation_desk_lists_open_hot_spots_with_their_issues(
    client, street_officer, burst, other_community_staff
):
    spot, issues = burst
    client.force_login(street_officer)
    page = client.get(reverse("desk-escalations")).content.decode()
    assert f'id="hotspot-{spot.pk}"' in page
    assert all(issue.number in page for issue in issues)
    # Someone who sees none of its issues is not shown it.
    assert [s.pk for s in hotspots.hotspots_open_for(user=other_community_staff)] == []


def test_link_the_cluster_as_duplicates_of_the_first(client, street_officer, burst):
    spot, issues = burst
    client.force_login(street_officer)
    answer = client.post(reverse("desk-hotspot-handle", args=[spot.pk, "duplicates"]))
    assert answer.status_code == 302
    first, *rest = (Issue.objects.get(pk=i.pk) for i in issues)
    assert first.status == Issue.Status.CLASSIFIED
    assert {(i.status, i.reject_reason, i.duplicate_of_id) for i in rest} == {
        (Issue.Status.REJECTED, Issue.RejectReason.DUPLICATE, first.pk)
    }


def test_dispatch_the_cluster_together(client, street_officer, burst, category):
    spot, issues = burst
    client.force_login(street_officer)
    client.post(reverse("desk-hotspot-handle", args=[spot.pk, "dispatch"]))
    assert set(Issue.objects.filter(pk__in=[i.pk for i in issues]).values_list("status", flat=True)) == {
        Issue.Status.DISPATCHED
    }


def test_only_a_post_from_the_escalation_desk_handles_a_cluster(client, resident, street_officer, burst):
    spot, issues = burst
    client.force_login(resident)
    assert client.post(reverse("desk-hotspot-handle", args=[spot.pk, "duplicates"])).status_code == 404
    client.force_login(street_officer)
    assert client.get(reverse("desk-hotspot-handle", args=[spot.pk, "duplicates"])).status_code == 404
    assert set(Issue.objects.filter(pk__in=[i.pk for i in issues]).values_list("status", flat=True)) == {
        Issue.Status.CLASSIFIED
    }
