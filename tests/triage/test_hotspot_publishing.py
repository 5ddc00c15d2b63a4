"""Publishing new issues for detection through the broker's Redis: one list of ids, one drain task at a time, and
nothing dropped before it was detected (triage.hotspots._detect_publish, hotspots_drain)."""

import os
import uuid

import pytest
import redis
from django.db import connection
from django.test.utils import CaptureQueriesContext

from issues import workflow
from triage import hotspots
from triage.models import HotSpot, SeenIssue

pytestmark = pytest.mark.django_db

REDIS_URL = os.environ.get("CELERY_BROKER_URL", "")
if not REDIS_URL.startswith("redis://"):
    REDIS_URL = "redis://127.0.0.1:6379/0"


@pytest.fixture
def queue(settings, monkeypatch):
    """The broker is this Redis, with list and flag keys of this test's own; drain tasks are recorded, not sent."""
    client = redis.Redis.from_url(REDIS_URL, socket_connect_timeout=1)
    try:
        client.ping()
    except redis.RedisError:
        pytest.skip("no Redis at " + REDIS_URL)
    settings.CELERY_BROKER_URL = REDIS_URL
    settings.CELERY_TASK_ALWAYS_EAGER = False
    suffix = uuid.uuid4().hex
    monkeypatch.setattr(hotspots, "DETECT_QUEUE", f"test:hotspots:detect:{suffix}")
    monkeypatch.setattr(hotspots, "DRAINING", f"test:hotspots:draining:{suffix}")
    drains = []
    monkeypatch.setattr(hotspots.hotspots_drain_task, "delay", lambda: drains.append(1))
    monkeypatch.setattr(
        hotspots.hotspot_detect_task, "delay", lambda pk: pytest.fail("a task per issue on a Redis broker")
    )
    yield client, drains
    client.delete(hotspots.DETECT_QUEUE, hotspots.DRAINING)


@pytest.fixture
def submit(territory, resident, django_capture_on_commit_callbacks):
    """Return a function that submits one issue in the grid as the resident and runs its on-commit work (the
    publishing); it returns the issue."""

    def submit_one():
        with django_capture_on_commit_callbacks(execute=True):
            return workflow.issue_submit(
                actor=resident, description="Bags of rubbish in the stairwell.", grid=territory["grid"].code
            )

    return submit_one


def _listed(client) -> list[str]:
    return [raw.decode() for raw in client.lrange(hotspots.DETECT_QUEUE, 0, -1)]


def test_submissions_are_listed_and_one_drain_is_queued_until_it_ran(queue, submit):
    client, drains = queue
    issues = [submit() for _ in range(3)]
    assert _listed(client) == [str(issue.pk) for issue in issues]
    assert drains == [1]  # one drain for the three
    assert SeenIssue.objects.count() == 0  # nothing detected on the request's path

    assert hotspots.hotspots_drain(held=True) == 3
    assert _listed(client) == [] and not client.exists(hotspots.DRAINING)
    assert set(SeenIssue.objects.values_list("issue_id", flat=True)) == {issue.pk for issue in issues}

    submit()
    assert drains == [1, 1]  # the flag went with the drain: the next submission queues another


def test_a_burst_drained_raises_its_alert(territory, report, queue, django_capture_on_commit_callbacks):
    client, _ = queue
    for _ in range(hotspots.MIN_COUNT):
        with django_capture_on_commit_callbacks(execute=True):
            report(territory["grid"], detect=False)
    assert HotSpot.objects.count() == 0
    hotspots.hotspots_drain(held=True)
    spot = HotSpot.objects.get()
    assert spot.issues.count() == hotspots.MIN_COUNT and _listed(client) == []


def test_an_id_stays_listed_until_detected(queue, monkeypatch, submit):
    client, _ = queue
    issue = submit()

    def dies(**kwargs):
        raise SystemExit("worker lost")  # not an Exception: the drain does not log it and go on

    monkeypatch.setattr(hotspots, "hotspot_detect", dies)
    with pytest.raises(SystemExit):
        hotspots.hotspots_drain(held=True)
    assert _listed(client) == [str(issue.pk)]


def test_a_failed_detection_keeps_its_id_behind_the_others(queue, monkeypatch, submit):
    client, _ = queue
    issues = [submit() for _ in range(2)]

    def fails(**kwargs):
        raise RuntimeError("database gone")

    detect = hotspots.hotspot_detect

    monkeypatch.setattr(hotspots, "hotspot_detect", fails)
    with pytest.raises(RuntimeError):
        hotspots.hotspots_drain(held=True)
    assert _listed(client) == [str(issues[1].pk), str(issues[0].pk)]
    monkeypatch.setattr(hotspots, "hotspot_detect", detect)
    client.delete(hotspots.DRAINING)  # expired
    assert hotspots.hotspots_drain(held=False) == 2 and _listed(client) == []


def test_the_sweep_drains_only_when_no_drain_holds_the_flag(queue, submit):
    client, drains = queue
    submit()
    assert hotspots.hotspots_drain(held=False) == 0  # the queued drain holds it
    client.delete(hotspots.DRAINING)  # that drain was lost, and its flag expired
    assert hotspots.hotspots_close_sweep_task() == 0 and _listed(client) == []
    assert SeenIssue.objects.count() == 1


def test_publishing_is_one_redis_round_trip_and_no_query(queue, monkeypatch):
    client, drains = queue
    client.set(hotspots.DRAINING, 1)  # a drain is pending
    calls = []
    send = redis.connection.AbstractConnection.send_packed_command
    monkeypatch.setattr(
        redis.connection.AbstractConnection,
        "send_packed_command",
        lambda self, *a, **k: calls.append(1) or send(self, *a, **k),
    )
    with CaptureQueriesContext(connection) as queries:
        hotspots.hotspot_queue(issue_ids=["abc"], detect=True)
    assert calls == [1] and len(queries) == 0 and drains == [] and _listed(client) == ["abc"]


@pytest.mark.django_db(transaction=True)
def test_a_submission_through_the_api_is_listed_and_queues_a_drain(queue, territory, resident):
    from rest_framework.test import APIClient

    client, drains = queue
    api = APIClient()
    api.force_authenticate(resident)
    body = {"description": "Bags of rubbish in the stairwell.", "grid": territory["grid"].code}

    response = api.post("/api/v1/issues/", body, format="json")

    # The publishing's replies were read when the request finished (config.redis_cache.send_unread).
    assert response.status_code == 201
    assert _listed(client) == [response.json()["id"]] and drains == [1]
