"""The embedded default: the README's run command (bin/run-local) serves the app and runs the worker and beat on
SQLite and the filesystem broker, with no Redis; notifications are delivered; stopping it stops all of it."""

import signal
import socket
import sqlite3
import textwrap
import urllib.request

import pytest

from tests.notifications.processes import BASE_DIR, Process, base_env, free_port, manage, wait_for


def test_run_local_runs_worker_with_beat_on_one_machine():
    script = (BASE_DIR / "bin" / "run-local").read_text()
    assert "celery -A config worker -B --pool=solo" in script
    assert "manage.py runserver" in script


def _get(url: str) -> int:
    try:
        with urllib.request.urlopen(url, timeout=2) as response:
            return response.status
    except OSError:
        return 0


def _port_open(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=1):
            return True
    except OSError:
        return False


@pytest.mark.slow
def test_run_local_serves_delivers_and_stops_everything(tmp_path):
    port = free_port()
    # No DATABASE_URL, no CELERY_BROKER_URL: the defaults, SQLite and the filesystem broker under var/.
    env = base_env(tmp_path, DJANGO_SETTINGS_MODULE="config.settings.local", GRIDDESK_ADDR=f"127.0.0.1:{port}")
    manage("migrate", "--noinput", env=env, timeout=180)
    script = textwrap.dedent(
        """
        from django.contrib.auth import get_user_model
        from django.db import transaction
        from notifications.models import Notification
        from notifications.tasks import notifications_queue_on_commit
        user = get_user_model().objects.create_user("resident1", email="resident1@example.test")
        with transaction.atomic():
            n = Notification.objects.create(kind="issue.resolved", channel="email", recipient=user,
                                            payload={"number": "GD-20261122-00001", "note": "已清理。"})
            notifications_queue_on_commit(ids=[str(n.pk)])
        print(n.pk.hex)
        """
    )
    notification_id = manage("shell", "-c", script, env=env).strip().splitlines()[-1]
    database = tmp_path / "var" / "griddesk.sqlite3"

    def status():
        with sqlite3.connect(database, timeout=20) as db:
            row = db.execute("SELECT status FROM notifications_notification WHERE id = ?", [notification_id])
            return row.fetchone()[0]

    run = Process([str(BASE_DIR / "bin" / "run-local")], env=env, log=tmp_path / "run-local.log").start()
    try:
        wait_for(lambda: _get(f"http://127.0.0.1:{port}/healthz") == 200, timeout=60, what="the web server")
        wait_for(lambda: status() == "sent", timeout=60, what="the worker to deliver")
    except AssertionError:
        raise AssertionError(run.output()[-3000:]) from None
    finally:
        run.proc.send_signal(signal.SIGTERM)  # what Ctrl-C does: the script stops every part it started
        run.proc.wait(timeout=30)
        run.kill()
    wait_for(lambda: not _port_open(port), timeout=15, what="the web server to stop")
    assert "GD-20261122-00001" in run.output()  # the console email backend printed the message
