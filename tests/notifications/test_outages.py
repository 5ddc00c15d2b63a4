"""A Redis outage degrades, never refuses: our own redis-server as cache AND broker, stopped and restarted mid-run.

With Redis down, submissions and reads keep answering (throttles count in the process, the outbox rows wait), and
every notification is delivered once Redis is back; a worker survives the broker restarting again and again.
"""

# The fixtures (our own redis-server, the worker's environment, workers) are test_faults.py's, imported by name.
# ruff: noqa: F811

import json
import textwrap
import time
from collections import Counter

import pytest

from notifications.models import Channel, Notification, WebhookAttempt
from orgs.models import ApiKey
from tests.notifications.processes import CELERY, Process, manage, wait_for
from tests.notifications.receiver import Receiver
from tests.notifications.test_faults import needs_redis, redis, webhook_row, worker_env, workers  # noqa: F401

SUBMIT = textwrap.dedent(
    """
    import json, pathlib, sys, time
    from rest_framework.test import APIClient
    phase, count, key, grid = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4]
    client = APIClient(HTTP_HOST="localhost")
    client.credentials(HTTP_AUTHORIZATION="Api-Key " + key)
    statuses, ids = [], []
    for i in range(count):
        body = {"description": f"楼道堆满杂物，消防通道被堵（{phase} {i}）。", "grid": grid,
                "reporter": {"name": "刘洋", "phone": "13812345678"}}
        response = client.post("/api/v1/issues/", body, format="json")
        statuses.append(response.status_code)
        if response.status_code == 201:
            ids.append(response.json()["id"])
            statuses.append(client.get("/api/v1/issues/" + ids[-1] + "/").status_code)
            comment = client.post("/api/v1/issues/" + ids[-1] + "/comment/", {"text": "已派人核实。"}, format="json")
            statuses.append(comment.status_code)
    statuses.append(client.get("/api/v1/issues/").status_code)
    ready = client.get("/readyz")
    print(json.dumps({"statuses": statuses, "ids": ids, "ready": [ready.status_code, ready.json()]}))
    """
)


def submit(env, *, phase: str, count: int, key: str, grid: str) -> dict:
    """Submit `count` issues (reading and commenting each) through the whole Django stack in a process of its own."""
    script = f"import sys; sys.argv = ['-', {phase!r}, '{count}', {key!r}, {grid!r}]\n" + SUBMIT
    return json.loads(manage("shell", "-c", script, env=env, timeout=240).strip().splitlines()[-1])


@pytest.fixture
def outage_env(worker_env, redis):
    """The worker's environment with the cache on the same redis-server as the broker (as docker-compose.yml)."""
    return {**worker_env, "REDIS_URL": redis.url.removesuffix("/0") + "/1"}


@pytest.mark.slow
@needs_redis
@pytest.mark.django_db(transaction=True)
def test_redis_down_mid_run_answers_no_5xx_and_every_notification_arrives_once_it_is_back(
    redis, outage_env, workers, partner, endpoint_for, territory
):
    _, key = ApiKey.issue(partner=partner)
    grid = territory["grid"].code
    redis.start()
    with Receiver() as receiver:
        endpoint = endpoint_for(receiver.url)
        worker = workers(outage_env)
        before = submit(outage_env, phase="before", count=5, key=key, grid=grid)
        redis.stop()
        during = submit(outage_env, phase="during", count=40, key=key, grid=grid)
        redis.start()
        after = submit(outage_env, phase="after", count=5, key=key, grid=grid)

        rows = Notification.objects.filter(channel=Channel.WEBHOOK, webhook=endpoint)
        wait_for(
            lambda: set(rows.values_list("status", flat=True)) == {"sent"}, timeout=90, interval=1, what="delivery"
        )
        assert worker.proc.poll() is None, worker.output()[-3000:]
        ids = receiver.ids()

    # Submits, read-backs, comments (an action), the list: all answered.
    assert Counter(s // 100 for s in during["statuses"]) == {2: 40 * 3 + 1}
    assert all(s < 500 for s in before["statuses"] + after["statuses"])
    assert len(before["ids"] + during["ids"] + after["ids"]) == 50
    # Readiness says what is down while the site keeps serving (docs/api.md "Probes").
    assert during["ready"][0] == 503
    assert during["ready"][1]["error"]["fields"] == {
        "database": ["ok"],
        "broker": ["unreachable"],
        "cache": ["unreachable"],
    }
    assert after["ready"] == [200, {"status": "ok", "checks": {"database": "ok", "broker": "ok", "cache": "ok"}}]
    assert rows.count() >= 50
    assert sorted(ids) == sorted(str(pk) for pk in rows.values_list("pk", flat=True))  # each once, none lost


@pytest.mark.slow
@needs_redis
@pytest.mark.django_db(transaction=True)
def test_worker_survives_four_broker_restarts_with_tasks_in_flight_and_still_runs_a_task(
    tmp_path, redis, worker_env, endpoint_for
):
    """Each restart hits while a delivery runs (acks late: its message is unacknowledged), as compose's worker."""
    redis.start()
    args = [CELERY, "-A", "config", "worker", "-B", "--loglevel=INFO", "--concurrency=2"]
    worker = Process(args, env=worker_env, log=tmp_path / "prefork.log").start()
    try:
        with Receiver(delay=3) as receiver:
            endpoint = endpoint_for(receiver.url)
            rows = []
            for restart in range(4):
                rows.append(webhook_row(endpoint, body=f'{{"type":"issue.created","n":{restart}}}'))
                arrived = len(receiver.requests)
                wait_for(
                    lambda arrived=arrived: len(receiver.requests) > arrived or worker.proc.poll() is not None,
                    timeout=60,
                    what="a delivery to be under way",
                )
                assert worker.proc.poll() is None, worker.output()[-4000:]
                lost = worker.output().count("Connection to broker lost")
                redis.stop()
                wait_for(
                    lambda lost=lost: (
                        worker.output().count("Connection to broker lost") > lost or worker.proc.poll() is not None
                    ),
                    timeout=30,
                    what=f"the worker to notice restart {restart + 1}",
                )
                time.sleep(1)
                redis.start()  # same port, empty: what was queued is gone, the outbox sweep queues it again
                assert worker.proc.poll() is None, worker.output()[-4000:]
            last = webhook_row(endpoint, body='{"type":"issue.closed"}')
            rows.append(last)
            wait_for(
                lambda: Notification.objects.get(pk=last.pk).status == "sent" or worker.proc.poll() is not None,
                timeout=90,
                what="a delivery after the restarts",
            )
            assert worker.proc.poll() is None, worker.output()[-4000:]
            assert "Unrecoverable error" not in worker.output()
            wait_for(
                lambda: (
                    set(Notification.objects.filter(pk__in=[r.pk for r in rows]).values_list("status", flat=True))
                    == {"sent"}
                ),
                timeout=90,
                what="every delivery",
            )
    finally:
        worker.kill()


@pytest.mark.slow
@needs_redis
@pytest.mark.django_db(transaction=True)
def test_a_worker_killed_mid_webhook_leaves_its_attempt_in_the_log(redis, worker_env, workers, endpoint_for):
    redis.start()
    with Receiver(delay_first=8) as receiver:
        endpoint = endpoint_for(receiver.url)
        n = webhook_row(endpoint)
        worker = workers(worker_env)
        wait_for(receiver.first_arrived.is_set, timeout=40, what="the first delivery to arrive")
        worker.kill()  # SIGKILL while the receiver holds the request: no outcome can be written

        killed = list(WebhookAttempt.objects.filter(notification=n).values("attempt", "status_code", "finished_at"))
        assert killed == [{"attempt": 1, "status_code": None, "finished_at": None}]

        workers(worker_env)
        wait_for(lambda: Notification.objects.get(pk=n.pk).status == "sent", timeout=40, what="redelivery")
    log = WebhookAttempt.objects.filter(notification=n).order_by("attempt")
    assert [(a.attempt, a.status_code, a.finished_at is not None) for a in log] == [(1, None, False), (2, 200, True)]
    assert len(receiver.requests) == log.count()  # one row per request that left
