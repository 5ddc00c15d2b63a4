"""Logs are JSON lines with the local time and offset and a request id, carried into the Celery tasks a request
queues, with no client address and no secret from a URL (config/logs.py)."""

import io
import json
import logging
from datetime import datetime

import pytest
import structlog
from celery.signals import before_task_publish
from django.test import Client

from config.logs import GunicornJsonLogger, formatter, redact_url
from notifications.tasks import deliver_notification_task


@pytest.fixture
def json_lines():
    """Capture every line of the root logger as the production formatter renders it; return the stream."""
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    spec = formatter(json_lines=True)  # what base settings give the console handler (tests log nowhere)
    handler.setFormatter(spec.pop("()")(**spec))
    root = logging.getLogger()
    old_level = root.level
    root.addHandler(handler)
    root.setLevel(logging.INFO)
    yield stream
    root.removeHandler(handler)
    root.setLevel(old_level)


def _lines(stream) -> list[dict]:
    return [json.loads(line) for line in stream.getvalue().splitlines() if line.strip()]


@pytest.mark.django_db
def test_a_request_logs_json_lines_with_its_id_the_offset_and_no_secret_or_address(json_lines):
    Client().get(
        "/open311/v2/services.json?api_key=partner-secret-key&jurisdiction_id=360702", REMOTE_ADDR="203.0.113.9"
    )

    lines = _lines(json_lines)
    started = next(line for line in lines if line["event"] == "request_started")
    finished = next(line for line in lines if line["event"] == "request_finished")
    assert started["request_id"] and started["request_id"] == finished["request_id"]
    assert datetime.fromisoformat(started["time"]).utcoffset().total_seconds() == 8 * 3600
    assert "partner-secret-key" not in json_lines.getvalue()
    assert "api_key=[redacted]" in started["request"]
    assert "203.0.113.9" not in json_lines.getvalue() and "ip" not in started


def test_an_incoming_request_id_is_kept(json_lines, db):
    Client().get("/healthz", HTTP_X_REQUEST_ID="req-from-proxy-42")
    assert {line.get("request_id") for line in _lines(json_lines)} == {"req-from-proxy-42"}


def test_a_task_queued_in_a_request_carries_its_request_id():
    """What django-structlog puts in the task's headers when it is published (the worker binds it back)."""
    captured = {}

    def capture(headers=None, **kwargs):
        captured.update(headers.get("__django_structlog__", {}))

    structlog.contextvars.bind_contextvars(request_id="req-7")
    headers = {"id": "t-1", "task": deliver_notification_task.name}
    try:
        before_task_publish.connect(capture, weak=False)
        before_task_publish.send(sender=deliver_notification_task.name, headers=headers, body=None, properties={})
    finally:
        before_task_publish.disconnect(capture)
        structlog.contextvars.clear_contextvars()
    assert captured.get("request_id") == "req-7"


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("/open311/v2/requests.json?api_key=abc&lat=1", "/open311/v2/requests.json?api_key=[redacted]&lat=1"),
        ("/x?token=t&KEY=k&q=ok", "/x?token=[redacted]&KEY=[redacted]&q=ok"),
        ("/plain/path", "/plain/path"),
    ],
)
def test_secret_query_parameters_are_redacted(url, expected):
    assert redact_url(url) == expected


def test_gunicorn_access_lines_are_json_and_redacted():
    from datetime import timedelta
    from types import SimpleNamespace

    from gunicorn.config import Config

    cfg = Config()
    cfg.set("accesslog", "-")
    logger = GunicornJsonLogger(cfg)
    stream = io.StringIO()
    logger.access_log.handlers = [logging.StreamHandler(stream)]
    environ = {"REQUEST_METHOD": "GET", "PATH_INFO": "/open311/v2/requests.json", "QUERY_STRING": "api_key=s3cret"}
    logger.access(SimpleNamespace(status="200 OK", sent=12), None, environ, timedelta(milliseconds=3))

    line = json.loads(stream.getvalue())
    assert line["path"] == "/open311/v2/requests.json?api_key=[redacted]"
    assert line["status"] == 200 and line["method"] == "GET" and "s3cret" not in stream.getvalue()
    assert datetime.fromisoformat(line["time"]).utcoffset().total_seconds() == 8 * 3600
