"""The deployment: docker-compose.yml is valid Compose with healthchecks; production settings pass check --deploy."""

import json
import os
import runpy
import secrets
import shutil
import subprocess
import sys
from importlib import resources
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parent.parent
COMPOSE_FILE = ROOT / "docker-compose.yml"
LONG_RUNNING = {"postgres", "redis", "web", "worker", "worker-sweeps", "worker-exports", "beat"}


@pytest.fixture(scope="module")
def compose() -> dict:
    return yaml.safe_load(COMPOSE_FILE.read_text(encoding="utf-8"))


def production_env(tmp_path: Path, **overrides: str) -> dict[str, str]:
    """Return a clean environment for production settings: what docker-compose.yml gives the app, on SQLite."""
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": str(tmp_path),
        "DJANGO_SETTINGS_MODULE": "config.settings.production",
        "DJANGO_SECRET_KEY": secrets.token_urlsafe(50),
        "DATABASE_URL": f"sqlite:///{tmp_path / 'db.sqlite3'}",
        "CELERY_BROKER_URL": "redis://127.0.0.1:6379/0",
        "GRIDDESK_VAR_DIR": str(tmp_path / "var"),
        "DJANGO_ALLOWED_HOSTS": "griddesk.example.org,127.0.0.1",
        "EMAIL_URL": "smtp+tls://griddesk:secret@mail.example.org:587",
        "GRIDDESK_SMS_BACKEND": "notifications.sms.AliyunSmsBackend",
    }
    env.update(overrides)
    return {k: v for k, v in env.items() if v is not None}


def run_manage(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "manage.py", *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120
    )


def test_compose_file_is_valid_against_the_compose_specification_schema(compose):
    jsonschema = pytest.importorskip("jsonschema", reason="jsonschema comes with requirements-dev.txt")
    pytest.importorskip("check_jsonschema", reason="check-jsonschema (requirements-dev.txt) ships the Compose schema")
    schema_file = resources.files("check_jsonschema.builtin_schemas.vendor") / "compose-spec.json"
    schema = json.loads(schema_file.read_text(encoding="utf-8"))

    errors = sorted(jsonschema.Draft202012Validator(schema).iter_errors(compose), key=lambda e: list(e.path))

    assert [f"{'/'.join(map(str, e.path))}: {e.message}" for e in errors] == []


def test_compose_file_passes_docker_compose_config_when_the_plugin_is_installed(tmp_path):
    docker = shutil.which("docker")
    if not docker or subprocess.run([docker, "compose", "version"], capture_output=True).returncode != 0:
        pytest.skip("no `docker compose` plugin here (docker client without engine): the schema test validates it")
    env = dict(os.environ, DJANGO_SECRET_KEY=secrets.token_urlsafe(50), POSTGRES_PASSWORD="not-a-real-password")

    done = subprocess.run(
        [docker, "compose", "-f", str(COMPOSE_FILE), "config", "-q"], env=env, capture_output=True, text=True
    )

    assert done.returncode == 0, done.stderr


def test_compose_describes_postgres_redis_web_worker_and_beat_each_with_a_healthcheck(compose):
    services = compose["services"]

    assert LONG_RUNNING <= set(services)
    for name in LONG_RUNNING:
        test = services[name].get("healthcheck", {}).get("test")
        assert test and test[0] in {"CMD", "CMD-SHELL"}, f"{name} has no healthcheck"
        assert not services[name]["healthcheck"].get("disable"), name


def test_only_one_shot_services_go_without_a_healthcheck(compose):
    for name, service in compose["services"].items():
        if name not in LONG_RUNNING:
            # A one-shot (migrate) runs to completion; the others wait for it to succeed.
            assert service.get("restart") == "no", name
            assert all(
                s.get("depends_on", {}).get(name, {}).get("condition") == "service_completed_successfully"
                for s in compose["services"].values()
                if name in s.get("depends_on", {})
            )


def test_web_worker_and_beat_run_the_app_with_production_settings_after_migrations(compose):
    services = compose["services"]

    assert services["web"]["command"][:2] == ["gunicorn", "config.wsgi:application"]
    assert services["worker"]["command"][:4] == ["celery", "-A", "config", "worker"]
    assert services["beat"]["command"][:4] == ["celery", "-A", "config", "beat"]
    for name in ("web", "worker", "worker-sweeps", "worker-exports", "beat"):
        assert services[name]["environment"]["DJANGO_SETTINGS_MODULE"] == "config.settings.production"
        assert services[name]["environment"]["CELERY_BROKER_URL"].startswith("redis://redis:")
        assert services[name]["environment"]["DATABASE_URL"].startswith("postgres://")
        assert services[name]["depends_on"]["migrate"]["condition"] == "service_completed_successfully"
        assert services[name]["depends_on"]["postgres"]["condition"] == "service_healthy"
    assert services["migrate"]["command"] == ["python", "manage.py", "migrate", "--noinput"]


def test_compose_requires_the_secret_key_and_database_password_from_the_environment(compose):
    environment = compose["services"]["web"]["environment"]

    assert environment["DJANGO_SECRET_KEY"].startswith("${DJANGO_SECRET_KEY:?")
    assert "${POSTGRES_PASSWORD:?" in environment["DATABASE_URL"]
    assert compose["services"]["postgres"]["environment"]["POSTGRES_PASSWORD"].startswith("${POSTGRES_PASSWORD:?")


def test_gunicorn_runs_two_sync_workers_by_default(monkeypatch):
    for name in ("GUNICORN_WORKERS", "GUNICORN_BIND"):
        monkeypatch.delenv(name, raising=False)

    conf = runpy.run_path(str(ROOT / "gunicorn.conf.py"))

    assert (conf["workers"], conf["worker_class"], conf["bind"]) == (2, "sync", "0.0.0.0:8000")


def test_gunicorn_loads_the_app_with_production_settings(tmp_path):
    gunicorn = Path(sys.executable).with_name("gunicorn")
    if not gunicorn.exists():
        pytest.skip("gunicorn is not installed next to this Python")

    done = subprocess.run(
        [str(gunicorn), "--check-config", "config.wsgi:application"],
        cwd=ROOT,
        env=production_env(tmp_path),
        capture_output=True,
        text=True,
        timeout=120,
    )

    assert done.returncode == 0, done.stderr


def test_production_settings_pass_check_deploy(tmp_path):
    done = run_manage("check", "--deploy", "--fail-level", "WARNING", env=production_env(tmp_path))

    assert done.returncode == 0, done.stdout + done.stderr
    assert "System check identified no issues" in done.stdout


@pytest.mark.parametrize("key", [None, "", "short-key"], ids=["missing", "empty", "short"])
def test_production_settings_refuse_to_start_without_a_proper_secret_key(tmp_path, key):
    if key is None and (ROOT / ".env").exists() and "DJANGO_SECRET_KEY" in (ROOT / ".env").read_text():
        pytest.skip(".env in this checkout sets DJANGO_SECRET_KEY (settings read it)")

    done = run_manage("check", env=production_env(tmp_path, DJANGO_SECRET_KEY=key))

    assert done.returncode != 0
    assert "ImproperlyConfigured" in done.stderr
    assert "DJANGO_SECRET_KEY" in done.stderr


@pytest.mark.parametrize(
    ("overrides", "named"),
    [
        ({"EMAIL_URL": "consolemail://"}, "EMAIL_URL"),
        ({"EMAIL_URL": None, "DJANGO_EMAIL_BACKEND": None}, "EMAIL_URL"),
        ({"GRIDDESK_SMS_BACKEND": "notifications.sms.ConsoleSmsBackend"}, "GRIDDESK_SMS_BACKEND"),
    ],
)
def test_production_refuses_console_backends_that_print_personal_data(tmp_path, overrides, named):
    done = run_manage("check", env=production_env(tmp_path, **overrides))
    assert done.returncode != 0
    assert "ImproperlyConfigured" in done.stderr and named in done.stderr

    allowed = run_manage("check", env=production_env(tmp_path, GRIDDESK_ALLOW_CONSOLE_BACKENDS="true", **overrides))
    assert allowed.returncode == 0, allowed.stderr


def test_email_is_configured_from_one_url(tmp_path):
    code = "from django.conf import settings as s; print(s.EMAIL_BACKEND, s.EMAIL_HOST, s.EMAIL_PORT, s.EMAIL_USE_TLS)"
    done = run_manage("shell", "-c", code, env=production_env(tmp_path))
    assert done.returncode == 0, done.stderr
    backend, host, port, tls = done.stdout.splitlines()[-1].split()
    assert backend == "django.core.mail.backends.smtp.EmailBackend"
    assert (host, port, tls) == ("mail.example.org", "587", "True")


def _queues_of(command: list[str]) -> set[str]:
    """Return the queues a `celery worker` command consumes (-Q), or None for all of them (no -Q)."""
    if "-Q" not in command:
        return None
    return set(command[command.index("-Q") + 1].split(","))


def test_every_queue_has_its_own_worker_and_exports_never_share_one_with_notifications(compose):
    from django.conf import settings

    workers = {
        name: _queues_of(service["command"])
        for name, service in compose["services"].items()
        if service.get("command", [])[:4] == ["celery", "-A", "config", "worker"]
    }
    assert all(queues is not None for queues in workers.values()), workers
    routed = {route["queue"] for route in settings.CELERY_TASK_ROUTES.values()}
    assert routed | {settings.CELERY_TASK_DEFAULT_QUEUE} == set(settings.CELERY_QUEUES_ALL)
    assert set().union(*workers.values()) == set(settings.CELERY_QUEUES_ALL)
    for queues in workers.values():
        # A worker busy with a flood of one kind must not be the one another kind waits for.
        assert len(queues & {"notifications", "sweeps", "exports"}) == 1, workers
    assert settings.CELERY_TASK_ROUTES["issues.export"]["queue"] == "exports"
    assert settings.CELERY_TASK_ROUTES["notifications.deliver_notification"]["queue"] == "notifications"
    assert settings.CELERY_TASK_ROUTES["issues.escalation_sweep"]["queue"] == "sweeps"


def test_the_embedded_worker_consumes_every_queue():
    from django.conf import settings

    script = (ROOT / "bin" / "run-local").read_text()
    command = next(line for line in script.splitlines() if "celery -A config worker" in line).split()
    assert _queues_of(command) == set(settings.CELERY_QUEUES_ALL)
