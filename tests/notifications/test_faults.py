"""Faults with the real parts: our own redis-server, Celery worker processes, a partner's receiver on loopback.

The outbox row is the truth: a broker or worker outage delays a message and never loses or doubles it. Tests that
share the database with a worker need PostgreSQL (SQLite's test database lives in the test process's memory).
"""

import json
import shutil
import sqlite3
import subprocess
import sys
import textwrap
import time
from datetime import timedelta

import pytest
from django.db import connection
from django.utils import timezone
from standardwebhooks.webhooks import Webhook

from issues.models import Event, Issue
from notifications import tasks
from notifications.models import Channel, Notification, WebhookAttempt
from orgs.models import ApiKey
from tests.factories import issue_in_status
from tests.notifications.processes import (
    BASE_DIR,
    RedisServer,
    base_env,
    celery_worker,
    database_url_of_tests,
    manage,
    wait_for,
)
from tests.notifications.receiver import Receiver

needs_redis = pytest.mark.skipif(shutil.which("redis-server") is None, reason="needs the redis-server binary")


def needs_postgresql():
    if connection.vendor != "postgresql":
        pytest.skip("needs PostgreSQL: a worker process must see the test database (SQLite's is in memory)")


@pytest.fixture
def redis(tmp_path):
    server = RedisServer(tmp_path)
    yield server
    server.stop()


@pytest.fixture
def worker_env(tmp_path, redis):
    """Return the environment of a worker on our Redis and the test database, with fast sweeps and retries."""
    needs_postgresql()
    return base_env(
        tmp_path,
        DJANGO_SETTINGS_MODULE="config.settings.test",
        DATABASE_URL=database_url_of_tests(),
        CELERY_BROKER_URL=redis.url,
        GRIDDESK_OUTBOX_SWEEP_SECONDS=1,
        GRIDDESK_OUTBOX_REQUEUE_AFTER_SECONDS=1,
        GRIDDESK_NOTIFICATION_LEASE_SECONDS=3,
        GRIDDESK_NOTIFICATION_RETRY_SCHEDULE="1,1,1",
    )


@pytest.fixture
def workers(tmp_path):
    """Start workers with `start(env)`; every one of them is stopped when the test ends."""
    started = []

    def start(env):
        worker = celery_worker(env=env, log=tmp_path / f"worker-{len(started)}.log").start()
        started.append(worker)
        return worker

    yield start
    for worker in started:
        worker.kill()


@pytest.fixture
def quiet_queue(monkeypatch):
    """Queue nothing from the test process itself (its broker is not ours); the workers' outbox sweep delivers."""
    monkeypatch.setattr(tasks, "_queue_delivery", lambda ids: 0)


def webhook_row(endpoint, body='{"type":"issue.created"}') -> Notification:
    payload = {"body": body}
    return Notification.objects.create(kind="issue.created", channel=Channel.WEBHOOK, webhook=endpoint, payload=payload)


@pytest.mark.slow
@needs_redis
@pytest.mark.django_db(transaction=True)
def test_submission_succeeds_while_redis_is_down_and_is_delivered_once_when_it_is_back(
    tmp_path, redis, worker_env, workers, partner, endpoint_for, territory
):
    _, key = ApiKey.issue(partner=partner)
    redis.start()
    redis.stop()  # Redis was there, and now it is down
    script = textwrap.dedent(
        f"""
        import json
        from rest_framework.test import APIClient
        client = APIClient(HTTP_HOST="localhost")
        client.credentials(HTTP_AUTHORIZATION="Api-Key {key}")
        body = {{"description": "楼道堆满杂物，消防通道被堵。", "grid": "{territory["grid"].code}",
                 "reporter": {{"name": "刘洋", "phone": "13812345678"}}}}
        response = client.post("/api/v1/issues/", body, format="json")
        print(json.dumps({{"status": response.status_code, "id": response.json().get("id")}}))
        """
    )
    with Receiver() as receiver:
        endpoint = endpoint_for(receiver.url)
        answer = json.loads(manage("shell", "-c", script, env=worker_env).strip().splitlines()[-1])
        assert answer["status"] == 201
        n = Notification.objects.get(issue_id=answer["id"], channel=Channel.WEBHOOK, webhook=endpoint)
        assert (n.status, n.attempts) == ("pending", 0)  # nothing could be queued: the row waits

        redis.start()
        workers(worker_env)
        wait_for(lambda: Notification.objects.get(pk=n.pk).status == "sent", timeout=45, what="delivery")
        time.sleep(2)  # room for a duplicate to show up (the sweep queues every second): none may
        assert receiver.ids() == [str(n.pk)]
    assert json.loads(receiver.requests[0]["body"])["data"]["issue"]["id"] == answer["id"]


@pytest.mark.slow
@needs_redis
@pytest.mark.django_db(transaction=True)
def test_worker_killed_mid_webhook_delivers_exactly_once_per_webhook_id_after_restart(
    redis, worker_env, workers, endpoint_for
):
    redis.start()
    with Receiver(delay_first=8) as receiver:
        endpoint = endpoint_for(receiver.url)
        n = webhook_row(endpoint)
        worker = workers(worker_env)
        wait_for(receiver.first_arrived.is_set, timeout=40, what="the first delivery to arrive")
        worker.kill()  # SIGKILL, worker and beat, while the receiver holds the request
        assert Notification.objects.get(pk=n.pk).status == "sending"

        workers(worker_env)
        wait_for(lambda: Notification.objects.get(pk=n.pk).status == "sent", timeout=40, what="redelivery")
        ids = receiver.ids()
        processed = dict(receiver.processed)
    assert set(ids) == {str(n.pk)}
    assert list(processed) == [str(n.pk)]
    assert {r["body"] for r in receiver.requests} == {processed[str(n.pk)]}
    assert Notification.objects.get(pk=n.pk).attempts == 2


@pytest.mark.slow
@needs_redis
@pytest.mark.django_db(transaction=True)
def test_receiver_failing_twice_gets_the_message_on_the_third_attempt_signed(redis, worker_env, workers, endpoint_for):
    redis.start()
    with Receiver(answers=[500, 500]) as receiver:
        endpoint = endpoint_for(receiver.url)
        n = webhook_row(endpoint, body='{"type":"issue.created","data":{"issue":{"number":"GD-1"}}}')
        workers(worker_env)
        wait_for(lambda: Notification.objects.get(pk=n.pk).status == "sent", timeout=45, what="the third attempt")
    assert receiver.ids() == [str(n.pk)] * 3
    third = receiver.requests[2]
    assert Webhook(endpoint.secret).verify(third["body"], third["headers"])["data"]["issue"]["number"] == "GD-1"
    log = list(WebhookAttempt.objects.filter(notification=n).values_list("attempt", "status_code"))
    assert log == [(1, 500), (2, 500), (3, 200)]


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_two_sweeps_at_the_same_moment_escalate_each_overdue_issue_once(
    tmp_path, quiet_queue, resident, community_staff, chengguan_staff, category, territory
):
    needs_postgresql()
    issues = [
        issue_in_status(
            "dispatched",
            reporter=resident,
            place=territory["grid"],
            triage=community_staff,
            category=category,
            handler=chengguan_staff,
        )
        for _ in range(8)
    ]
    Issue.objects.update(response_due_at=timezone.now() - timedelta(minutes=5))
    go = tmp_path / "go"
    script = textwrap.dedent(
        f"""
        import pathlib, time
        from issues.escalation import escalation_sweep
        pathlib.Path("{tmp_path}/ready-" + str(__import__("os").getpid())).touch()
        while not pathlib.Path("{go}").exists():
            time.sleep(0.01)
        print(len(escalation_sweep()))
        """
    )
    env = base_env(tmp_path, DJANGO_SETTINGS_MODULE="config.settings.test", DATABASE_URL=database_url_of_tests())
    sweeps = [
        subprocess.Popen(
            [sys.executable, "manage.py", "shell", "-c", script],
            cwd=BASE_DIR,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(2)
    ]
    try:
        wait_for(lambda: len(list(tmp_path.glob("ready-*"))) == 2, timeout=40, what="both sweepers")
        go.touch()
        outputs = [p.communicate(timeout=40) for p in sweeps]
    finally:
        for p in sweeps:
            if p.poll() is None:
                p.kill()
    assert [p.returncode for p in sweeps] == [0, 0], outputs
    escalated = [int(out.strip().splitlines()[-1]) for out, _ in outputs]
    assert sum(escalated) == len(issues)
    assert set(Issue.objects.values_list("escalation_level", flat=True)) == {1}
    for issue in issues:
        assert Event.objects.filter(issue=issue, action="escalate").count() == 1


@pytest.mark.slow
def test_embedded_default_escalates_an_overdue_issue_with_no_redis(tmp_path):
    """The run command's worker and beat on SQLite and the filesystem broker escalate an overdue issue."""
    env = base_env(
        tmp_path,
        DJANGO_SETTINGS_MODULE="config.settings.local",
        DJANGO_DEBUG="false",
        GRIDDESK_ESCALATION_SWEEP_SECONDS=2,
    )
    manage("migrate", "--noinput", env=env, timeout=180)
    script = textwrap.dedent(
        """
        from datetime import timedelta
        from django.utils import timezone
        from issues.models import Issue
        from orgs.models import Role
        from tests.factories import CategoryFactory, DepartmentFactory, UserFactory, member, territory_chain
        from tests.factories import issue_in_status
        d, s, c, g, b = territory_chain()
        dept = DepartmentFactory(code="chengguan", name="城管", district=d)
        category = CategoryFactory(code="stairwell", name="楼道堆物", department=dept)
        staff = member(UserFactory(username="community1"), Role.COMMUNITY_STAFF, area=c)
        issue = issue_in_status("dispatched", reporter=UserFactory(username="resident1"), place=g, triage=staff,
                                category=category)
        Issue.objects.filter(pk=issue.pk).update(response_due_at=timezone.now() - timedelta(minutes=1))
        print(issue.pk.hex)
        """
    )
    issue_id = manage("shell", "-c", script, env=env).strip().splitlines()[-1]
    database = tmp_path / "var" / "griddesk.sqlite3"

    def level():
        with sqlite3.connect(database, timeout=20) as db:
            return db.execute("SELECT escalation_level FROM issues_issue WHERE id = ?", [issue_id]).fetchone()[0]

    assert level() == 0
    worker = celery_worker(env=env, log=tmp_path / "embedded.log").start()
    try:
        wait_for(lambda: level() == 1, timeout=90, interval=1, what="the beat to escalate")
    except AssertionError:
        raise AssertionError(worker.output()[-3000:]) from None
    finally:
        worker.kill()
