"""A hot spot closes when its issues do: on the events that end them, and by the beat sweep (triage.hotspots)."""

import json
from datetime import timedelta

import pytest
from django.urls import reverse

from issues import workflow
from issues.models import Issue, WebhookType
from notifications.models import Channel, Notification
from tests.factories import territory_chain
from triage import hotspots
from triage.hotspots import hotspots_close_sweep_task, hotspots_open_for
from triage.models import HotSpot

pytestmark = pytest.mark.django_db


@pytest.fixture
def burst(territory, report):
    issues = [report(territory["grid"], ago=timedelta(minutes=10 - i)) for i in range(hotspots.MIN_COUNT)]
    return HotSpot.objects.get(), issues


@pytest.fixture
def checks_run_at_once(monkeypatch):
    """Run the after-commit closing check in place of queueing it (as a worker would)."""
    monkeypatch.setattr(hotspots, "_detect_publish", lambda pks: None)
    monkeypatch.setattr(
        hotspots.hotspots_close_ended_task, "delay", lambda pks: hotspots.hotspots_close_ended(issue_ids=pks)
    )


def closed_hooks():
    return Notification.objects.filter(kind=WebhookType.HOTSPOT_CLOSED, channel=Channel.WEBHOOK)


def test_ending_the_last_issue_closes_the_alert_tells_partners_once_and_it_leaves_the_desk(
    client,
    burst,
    community_staff,
    street_officer,
    partner_endpoint,
    checks_run_at_once,
    django_capture_on_commit_callbacks,
):
    spot, issues = burst
    client.force_login(street_officer)
    # Merged as duplicates of the first (from the desk): the first is still open, so the alert stays.
    with django_capture_on_commit_callbacks(execute=True):
        client.post(reverse("desk-hotspot-handle", args=[spot.pk, "duplicates"]))
    spot.refresh_from_db()
    assert spot.status == HotSpot.Status.OPEN and not closed_hooks().exists()
    with django_capture_on_commit_callbacks(execute=True):
        workflow.issue_reject(issue=Issue.objects.get(pk=issues[0].pk), actor=community_staff, reason="invalid")
    spot.refresh_from_db()
    assert spot.status == HotSpot.Status.CLOSED and spot.closed_at is not None
    [hook] = closed_hooks()
    assert hook.webhook_id == partner_endpoint.pk
    body = json.loads(hook.payload["body"])
    assert body["type"] == "hotspot.closed"
    assert body["data"]["hotspot"]["id"] == spot.pk and body["data"]["hotspot"]["closed_at"]
    assert sorted(body["data"]["hotspot"]["issues"]) == sorted(i.number for i in issues)
    # Nobody's inbox hears of it; it leaves the escalation desk.
    assert not Notification.objects.filter(kind=WebhookType.HOTSPOT_CLOSED).exclude(channel=Channel.WEBHOOK).exists()
    assert hotspots_open_for(user=street_officer) == []
    assert f'id="hotspot-{spot.pk}"' not in client.get(reverse("desk-escalations")).content.decode()
    # Checking again closes nothing and sends nothing more.
    assert hotspots.hotspots_close_ended(issue_ids=[i.pk for i in issues]) == 0
    assert closed_hooks().count() == 1


def test_resolved_issues_close_it_too(burst, checks_run_at_once, django_capture_on_commit_callbacks):
    spot, issues = burst
    # Resolved by the department (the queryset stands for the workflow's many steps); the event hook gets the last.
    Issue.objects.filter(pk__in=[i.pk for i in issues[1:]]).update(status=Issue.Status.RESOLVED)
    assert hotspots.hotspots_close_ended(issue_ids=[issues[1].pk]) == 0  # the first is still open
    Issue.objects.filter(pk=issues[0].pk).update(status=Issue.Status.CLOSED)
    assert hotspots.hotspots_close_ended(issue_ids=[issues[0].pk]) == 1


def test_the_sweep_closes_what_a_lost_check_left_open_and_nothing_else(territory, report, partner_endpoint):
    first = [report(territory["grid"], ago=timedelta(minutes=10 - i)) for i in range(hotspots.MIN_COUNT)]
    second_grid = territory_chain(grid_seq=2)[3]
    for i in range(hotspots.MIN_COUNT):
        report(second_grid, ago=timedelta(minutes=10 - i))
    ended, still = HotSpot.objects.order_by("pk")
    Issue.objects.filter(pk__in=[i.pk for i in first]).update(status=Issue.Status.REJECTED)  # no event: lost
    assert hotspots_close_sweep_task() == 1
    ended.refresh_from_db()
    still.refresh_from_db()
    assert (ended.status, still.status) == (HotSpot.Status.CLOSED, HotSpot.Status.OPEN)
    assert closed_hooks().count() == 1
    assert hotspots_close_sweep_task() == 0


def test_the_sweep_is_on_the_beat_schedule():
    from django.conf import settings

    assert "triage.hotspots_close_sweep" in {entry["task"] for entry in settings.CELERY_BEAT_SCHEDULE.values()}


def test_a_closed_alerts_place_raises_a_new_one_for_a_new_burst(territory, report):
    burst = [report(territory["grid"], ago=timedelta(hours=30, minutes=-i)) for i in range(hotspots.MIN_COUNT)]
    Issue.objects.filter(pk__in=[i.pk for i in burst]).update(status=Issue.Status.CLOSED)
    assert hotspots.hotspots_close_ended(issue_ids=[burst[0].pk]) == 1
    for i in range(hotspots.MIN_COUNT):
        report(territory["grid"], ago=timedelta(minutes=10 - i))
    assert list(HotSpot.objects.order_by("pk").values_list("status", flat=True)) == ["closed", "open"]


def test_a_partner_subscribes_to_both_hot_spot_events_beside_the_issue_events(territory, partner_endpoint):
    from django.core.cache import cache
    from rest_framework.test import APIClient

    from notifications.models import WebhookEndpoint
    from orgs.models import ApiKey

    cache.clear()
    _, raw = ApiKey.issue(partner=partner_endpoint.partner)
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Api-Key {raw}")
    every = list(WebhookEndpoint.EVENTS)
    answer = client.post("/api/v1/webhooks/", {"url": "https://hot.example/all", "events": every}, format="json")
    assert answer.status_code == 201, answer.content
    assert answer.json()["events"] == every
    assert {"hotspot.raised", "hotspot.closed"} <= set(every)
