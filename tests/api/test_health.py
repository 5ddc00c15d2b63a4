"""Liveness and readiness probes (API.md "Conventions")."""

import shutil
import socket
import subprocess
import time
from http import HTTPStatus
from unittest import mock

import pytest
from django.db import OperationalError
from rest_framework.test import APIClient

from tests.api.test_errors import assert_error


@pytest.fixture
def client():
    return APIClient()


@pytest.fixture
def closed_port():
    """Return a local TCP port with nothing listening on it."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def filesystem_broker(settings, tmp_path):
    settings.CELERY_BROKER_URL = "filesystem://"
    settings.CELERY_BROKER_TRANSPORT_OPTIONS = {"data_folder_in": str(tmp_path), "data_folder_out": str(tmp_path)}
    return tmp_path


def test_healthz_answers_ok_without_touching_dependencies(client, settings, closed_port):
    settings.CELERY_BROKER_URL = f"redis://127.0.0.1:{closed_port}/0"

    response = client.get("/healthz")

    assert response.status_code == HTTPStatus.OK
    assert response.json() == {"status": "ok"}


def test_readyz_answers_ok_when_database_and_broker_answer(client, db, filesystem_broker):
    response = client.get("/readyz")

    assert response.status_code == HTTPStatus.OK
    assert response.json() == {"status": "ok", "checks": {"database": "ok", "broker": "ok", "cache": "ok"}}


def test_readyz_names_an_unreachable_broker(client, db, settings, closed_port):
    settings.CELERY_BROKER_URL = f"redis://127.0.0.1:{closed_port}/0"

    response = client.get("/readyz")

    assert_error(
        response,
        HTTPStatus.SERVICE_UNAVAILABLE,
        "not_ready",
        {"database": ["ok"], "broker": ["unreachable"], "cache": ["ok"]},
    )


def test_readyz_counts_an_unwritable_filesystem_broker_as_down(client, db, settings, tmp_path):
    settings.CELERY_BROKER_URL = "filesystem://"
    missing = str(tmp_path / "gone")
    settings.CELERY_BROKER_TRANSPORT_OPTIONS = {"data_folder_in": missing, "data_folder_out": missing}

    response = client.get("/readyz")

    assert_error(
        response,
        HTTPStatus.SERVICE_UNAVAILABLE,
        "not_ready",
        {"database": ["ok"], "broker": ["unreachable"], "cache": ["ok"]},
    )


def test_readyz_names_an_unreachable_database(client, db, filesystem_broker):
    with mock.patch("config.api.views.connection.cursor", side_effect=OperationalError("connection refused")):
        response = client.get("/readyz")

    assert_error(
        response,
        HTTPStatus.SERVICE_UNAVAILABLE,
        "not_ready",
        {"database": ["unreachable"], "broker": ["ok"], "cache": ["ok"]},
    )


def test_probes_are_never_cached(client, db, filesystem_broker):
    for url in ("/healthz", "/readyz"):
        assert "no-cache" in client.get(url)["Cache-Control"]


@pytest.fixture
def own_redis(closed_port, tmp_path):
    """Start a throwaway redis-server on a free port (never the shared one) and return its URL."""
    binary = shutil.which("redis-server")
    if binary is None:
        pytest.skip("redis-server is not installed")
    process = subprocess.Popen(
        [binary, "--port", str(closed_port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"],
        cwd=tmp_path,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        for _ in range(100):
            with socket.socket() as s:
                if s.connect_ex(("127.0.0.1", closed_port)) == 0:
                    break
            time.sleep(0.05)
        yield f"redis://127.0.0.1:{closed_port}/0"
    finally:
        process.terminate()
        process.wait(timeout=10)


def test_readyz_answers_ok_with_a_redis_broker_that_answers(client, db, settings, own_redis):
    settings.CELERY_BROKER_URL = own_redis

    response = client.get("/readyz")

    assert response.status_code == HTTPStatus.OK
    assert response.json()["checks"] == {"database": "ok", "broker": "ok", "cache": "ok"}


def test_readyz_reports_an_unreachable_cache_as_degraded_but_ready(
    client, db, filesystem_broker, settings, closed_port
):
    """The site serves without its cache (throttles count per process), so no 503 takes it out of rotation."""
    settings.CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": f"redis://127.0.0.1:{closed_port}/1",
            "OPTIONS": {"socket_connect_timeout": 0.5, "socket_timeout": 0.5},
        }
    }

    response = client.get("/readyz")

    assert response.status_code == HTTPStatus.OK
    assert response.json() == {
        "status": "degraded",
        "checks": {"database": "ok", "broker": "ok", "cache": "unreachable"},
    }


def test_readyz_answers_ok_with_a_redis_cache_that_answers(client, db, filesystem_broker, settings, own_redis):
    settings.CACHES = {"default": {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": own_redis}}

    response = client.get("/readyz")

    assert response.json() == {"status": "ok", "checks": {"database": "ok", "broker": "ok", "cache": "ok"}}
