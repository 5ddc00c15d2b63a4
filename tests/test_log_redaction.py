"""Secrets in URLs (?api_key=…, GeoReport's way to send a partner's key) never reach a log whole."""

import logging
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from config.log_redaction import RedactSecretsFilter, redact_url
from tests.notifications.processes import free_port, wait_for
from tests.test_deploy import ROOT, production_env

SECRET = "gdk_live_5f1c0ffee5ecret"


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        (
            f"/open311/v2/requests.json?api_key={SECRET}&status=open",
            "/open311/v2/requests.json?api_key=[redacted]&status=open",
        ),
        (f"GET /x?status=open&API_KEY={SECRET} HTTP/1.1", "GET /x?status=open&API_KEY=[redacted] HTTP/1.1"),
        (f"api_key={SECRET}", "api_key=[redacted]"),
        (f"/x?token={SECRET}&key={SECRET}", "/x?token=[redacted]&key=[redacted]"),
        ("/x?monkey=1&keys=2", "/x?monkey=1&keys=2"),
    ],
)
def test_redact_url_hides_the_value_of_each_secret_parameter(url, expected):
    assert redact_url(url) == expected


def test_django_log_records_are_redacted_with_their_arguments_merged():
    record = logging.LogRecord(
        "django.server", logging.INFO, __file__, 1, '"%s" %s %s', (f"GET /x?api_key={SECRET} HTTP/1.1", 200, 5), None
    )

    assert RedactSecretsFilter().filter(record) is True
    assert record.getMessage() == '"GET /x?api_key=[redacted] HTTP/1.1" 200 5'


@pytest.mark.slow
def test_gunicorns_access_log_redacts_the_api_key(tmp_path):
    gunicorn = Path(sys.executable).with_name("gunicorn")
    port = free_port()
    env = production_env(tmp_path, GUNICORN_BIND=f"127.0.0.1:{port}", GUNICORN_WORKERS="1")
    log = tmp_path / "gunicorn.log"
    with open(log, "wb") as out:
        server = subprocess.Popen(
            [str(gunicorn), "-c", "gunicorn.conf.py", "config.wsgi:application"],
            cwd=ROOT,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    try:

        def answered():
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz?api_key={SECRET}&x=1", timeout=2) as r:
                    return r.status == 200
            except OSError:
                return False

        wait_for(answered, timeout=60, what="gunicorn to answer")
        time.sleep(0.5)  # the access log line is written after the answer
    finally:
        server.terminate()
        server.wait(timeout=30)
    output = log.read_text()
    assert "/healthz?api_key=[redacted]&x=1" in output
    assert SECRET not in output
