"""What an operator runs gets production or a loud refusal: wsgi means production, production names its database
and broker, seed_demo does not run against a real deployment unless forced. Subprocesses where import order counts.
"""

import io
import secrets
import subprocess
import sys
import textwrap

import pytest
from django.contrib.auth import get_user_model
from django.core.management import CommandError, call_command

from tests.test_deploy import ROOT, production_env, run_manage


def python(code: str, *, env: dict) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120
    )


def test_importing_config_wsgi_without_a_settings_module_runs_production(tmp_path):
    env = production_env(tmp_path, DJANGO_SETTINGS_MODULE=None, CELERY_BROKER_URL="redis://127.0.0.1:6390/0")

    done = python(
        """
        import config.wsgi
        from celery import current_app
        from django.conf import settings
        print(settings.SETTINGS_MODULE, settings.DEBUG, current_app.main, current_app.conf.broker_url)
        """,
        env=env,
    )

    assert done.returncode == 0, done.stderr
    # Production, and the shared tasks bound to GridDesk's Celery app with production's broker.
    assert done.stdout.split() == ["config.settings.production", "False", "griddesk", "redis://127.0.0.1:6390/0"]


def test_celery_dash_a_config_still_finds_the_app_and_defaults_to_local_settings(tmp_path):
    env = production_env(tmp_path, DJANGO_SETTINGS_MODULE=None, DJANGO_SECRET_KEY=None, DATABASE_URL=None)

    done = python(
        """
        import os
        from celery.app.utils import find_app
        app = find_app("config")
        app.loader.import_default_modules()  # what the worker does at start: autodiscover the tasks
        print(app.main, os.environ["DJANGO_SETTINGS_MODULE"], sorted(app.tasks.keys() & {"issues.escalation_sweep"}))
        """,
        env=env,
    )

    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["griddesk", "config.settings.local", "['issues.escalation_sweep']"]


@pytest.mark.parametrize("name", ["DATABASE_URL", "CELERY_BROKER_URL"])
@pytest.mark.parametrize("value", [None, ""], ids=["missing", "empty"])
def test_production_settings_refuse_to_start_without_a_database_or_a_broker(tmp_path, name, value):
    if (ROOT / ".env").exists() and name in (ROOT / ".env").read_text():
        pytest.skip(f".env in this checkout sets {name} (settings read it)")
    env = production_env(tmp_path, **{name: value})

    done = run_manage("check", env=env)

    assert done.returncode != 0
    assert "ImproperlyConfigured" in done.stderr
    assert f"{name} must be set" in done.stderr


def test_production_settings_start_with_both(tmp_path):
    done = run_manage("check", env=production_env(tmp_path))

    assert done.returncode == 0, done.stderr


@pytest.mark.django_db
def test_seed_demo_refuses_to_run_under_production_settings(settings):
    settings.GRIDDESK_PRODUCTION = True

    with pytest.raises(CommandError, match="--force-production"):
        call_command("seed_demo", "--no-progress", stdout=io.StringIO())

    assert not get_user_model().objects.exists()


@pytest.mark.django_db
def test_seed_demo_runs_under_production_settings_when_forced(settings):
    settings.GRIDDESK_PRODUCTION = True
    settings.DEMO_PASSWORD = secrets.token_urlsafe(16)

    call_command("seed_demo", "--no-progress", "--force-production", stdout=io.StringIO())

    assert get_user_model().objects.filter(username="district1").exists()
