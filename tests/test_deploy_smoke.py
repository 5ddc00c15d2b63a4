"""The deployment's own commands, run as docker-compose.yml runs them but outside containers (no Docker engine here).

Each service's `command` and the app's environment come from docker-compose.yml itself, with only the addresses
changed: a fresh PostgreSQL database of the machine's server, a redis-server of the test's own (broker and cache,
as compose has them), gunicorn on a free loopback port. migrate runs first, then web (gunicorn with
gunicorn.conf.py), worker and beat; an issue submitted over HTTP through the "proxy" (X-Forwarded-Proto: https, as
the TLS proxy sends it) is answered 201 and its notification is delivered by the worker.
"""

import json
import os
import secrets
import time
import urllib.request
from pathlib import Path

import pytest
import yaml

from tests.notifications.processes import BASE_DIR, Process, RedisServer, free_port, manage, wait_for

pytestmark = pytest.mark.slow
COMPOSE = yaml.safe_load((BASE_DIR / "docker-compose.yml").read_text(encoding="utf-8"))
DATABASE_URL = os.environ.get("DATABASE_URL", "")


@pytest.fixture
def smoke_database():
    """Create an empty PostgreSQL database for the deployment; drop it afterwards."""
    if not DATABASE_URL.startswith("postgres"):
        pytest.skip("the deployment runs on PostgreSQL: set DATABASE_URL (CI does)")
    import environ
    import psycopg2

    conf = environ.Env.db_url_config(DATABASE_URL)
    name = f"griddesk_smoke_{os.getpid()}"
    admin = psycopg2.connect(
        dbname="postgres", user=conf["USER"], password=conf["PASSWORD"], host=conf["HOST"], port=conf["PORT"] or 5432
    )
    admin.autocommit = True
    with admin.cursor() as cursor:
        cursor.execute(f'DROP DATABASE IF EXISTS "{name}"')
        cursor.execute(f'CREATE DATABASE "{name}"')
    url = DATABASE_URL.rsplit("/", 1)[0] + f"/{name}"
    yield (
        url,
        lambda: psycopg2.connect(
            dbname=name, user=conf["USER"], password=conf["PASSWORD"], host=conf["HOST"], port=conf["PORT"] or 5432
        ),
    )
    with admin.cursor() as cursor:
        cursor.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    admin.close()


def compose_env(tmp_path: Path, *, database_url: str, redis: RedisServer, port: int) -> dict:
    """Return the app's environment from docker-compose.yml (x-app), with this machine's addresses."""
    app = COMPOSE["services"]["web"]["environment"]
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DJANGO_", "GRIDDESK_", "CELERY_", "DATABASE"))}
    for key in app:
        env.pop(key, None)
    env.update(
        {
            "DJANGO_SETTINGS_MODULE": app["DJANGO_SETTINGS_MODULE"],
            "DJANGO_SECRET_KEY": secrets.token_urlsafe(50),
            "DJANGO_ALLOWED_HOSTS": "localhost,127.0.0.1",
            "DATABASE_URL": database_url,
            "CELERY_BROKER_URL": redis.url,
            "REDIS_URL": redis.url.rsplit("/", 1)[0] + "/1",
            "GRIDDESK_TRUSTED_PROXIES": "127.0.0.1/32",
            "GRIDDESK_WEBHOOK_ALLOW_LOOPBACK_HTTP": "false",
            # No mail or SMS provider on this machine: the console backends, explicitly allowed for this trial.
            "EMAIL_URL": "consolemail://",
            "GRIDDESK_SMS_BACKEND": "notifications.sms.ConsoleSmsBackend",
            "GRIDDESK_ALLOW_CONSOLE_BACKENDS": "true",
            "GRIDDESK_VAR_DIR": str(tmp_path / "var"),
            "GUNICORN_BIND": f"127.0.0.1:{port}",
            "PYTHONUNBUFFERED": "1",
        }
    )
    return env


def command_of(service: str) -> list[str]:
    """Return the compose service's command, with python and its tools taken from this virtualenv."""
    command = list(COMPOSE["services"][service]["command"])
    bin_dir = Path(os.sys.executable).parent
    return [str(bin_dir / command[0]) if (bin_dir / command[0]).exists() else command[0], *command[1:]]


def _http(port: int, path: str, *, body=None, token=None) -> tuple[int, dict]:
    request = urllib.request.Request(
        f"http://127.0.0.1:{port}{path}",
        data=json.dumps(body).encode() if body is not None else None,
        headers={
            "Content-Type": "application/json",
            "X-Forwarded-Proto": "https",  # what the TLS proxy in front sends
            **({"Authorization": f"Token {token}"} if token else {}),
        },
    )
    try:
        with urllib.request.urlopen(request, timeout=20) as answer:
            return answer.status, json.loads(answer.read() or b"{}")
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read() or b"{}")


def test_compose_commands_serve_an_issue_and_deliver_its_notification(tmp_path, smoke_database):
    database_url, connect = smoke_database
    redis = RedisServer(tmp_path).start()
    port = free_port()
    env = compose_env(tmp_path, database_url=database_url, redis=redis, port=port)
    processes = []
    try:
        migrate = command_of("migrate")
        assert migrate[-3:] == ["manage.py", "migrate", "--noinput"]
        manage(*migrate[2:], env=env, timeout=300)
        # Demo data through the local settings on the same database (production refuses demo passwords).
        manage("seed_demo", env={**env, "DJANGO_SETTINGS_MODULE": "config.settings.local"}, timeout=300)

        for service in ("web", "worker", "worker-sweeps", "worker-exports", "beat"):
            processes.append(Process(command_of(service), env=env, log=tmp_path / f"{service}.log").start())
        web = processes[0]
        wait_for(lambda: _ok(port), timeout=60, what=f"gunicorn on {port}:\n{web.output()}")

        status, token = _http(port, "/api/v1/auth/token/", body={"username": "resident1", "password": "demo-pass-2026"})
        assert status == 200, token
        body = {"description": "楼道里堆满了旧家具，挡住了消防通道", "grid": _first_grid(connect)}
        status, issue = _http(port, "/api/v1/issues/", body=body, token=token["token"])
        assert status == 201, issue

        def delivered():
            with connect() as db, db.cursor() as cursor:
                cursor.execute(
                    "SELECT count(*) FROM notifications_notification n JOIN issues_issue i ON i.id = n.issue_id "
                    "WHERE i.number = %s AND n.status = 'sent'",
                    [issue["number"]],
                )
                return cursor.fetchone()[0]

        wait_for(delivered, timeout=90, interval=1, what="the worker to deliver the new issue's notification")
    finally:
        for process in reversed(processes):
            process.stop()
        redis.kill()
    assert "Traceback" not in "".join(p.output() for p in processes)


def _ok(port: int) -> bool:
    try:
        return _http(port, "/healthz")[0] == 200
    except OSError:
        time.sleep(0.5)
        return False


def _first_grid(connect) -> str:
    """Return the code of the grid that grid1 holds (community1's community), so community staff hear of it."""
    with connect() as db, db.cursor() as cursor:
        cursor.execute(
            "SELECT a.code FROM orgs_membership m JOIN grids_area a ON a.id = m.area_id "
            "JOIN auth_user u ON u.id = m.user_id WHERE u.username = 'grid1'"
        )
        return cursor.fetchone()[0]
