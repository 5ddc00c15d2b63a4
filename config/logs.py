"""Logs as JSON lines: one object per line, times with their offset, a request id carried into Celery tasks,
no secrets in logged URLs.

django-structlog binds `request_id` (from an incoming X-Request-ID, else a new one) to every line of a request and
passes it to the Celery tasks the request queues. Client addresses are not logged (personal data); the reporter's
phone never reaches a log (tests/api/test_privacy_logs.py). gunicorn's access log uses the same shape and the same
redaction (`GunicornJsonLogger`, named in gunicorn.conf.py).
"""

import json
import re
from datetime import datetime
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit
from zoneinfo import ZoneInfo

# Query-string names that carry secrets: partner keys (Open311's api_key), tokens, one-time codes.
SECRET_PARAMS = frozenset({"api_key", "apikey", "key", "token", "access_token", "code", "password", "secret"})
REDACTED = "[redacted]"
_ZONE = ZoneInfo("Asia/Shanghai")


def redact_url(url: str) -> str:
    """Return `url` (a path with its query, or a request line) with the values of secret parameters hidden."""
    if "?" not in url:
        return url
    parts = urlsplit(url)
    query = [(k, REDACTED if k.lower() in SECRET_PARAMS else v) for k, v in parse_qsl(parts.query, True)]
    return urlunsplit(parts._replace(query=urlencode(query, safe="[]")))


def _redact_request_line(line: str) -> str:
    """Redact the URL inside an access-log request line (`GET /x?api_key=… HTTP/1.1`)."""
    return re.sub(r"(\S+\?\S*)", lambda m: redact_url(m.group(1)), line)


def add_local_time(logger, method_name, event_dict):
    """Stamp the line with the local time and its offset (+08:00), as API.md writes times."""
    event_dict["time"] = datetime.now(_ZONE).isoformat(timespec="milliseconds")
    return event_dict


def redact_request(logger, method_name, event_dict):
    """Hide secret query parameters in the `request` and `path` fields that django-structlog logs."""
    for field in ("request", "path"):
        value = event_dict.get(field)
        if hasattr(value, "get_full_path"):  # django.request passes the request object itself as `extra`
            event_dict[field] = f"{value.method} {redact_url(value.get_full_path())}"
        elif isinstance(value, str):
            event_dict[field] = _redact_request_line(value)
    return event_dict


def structlog_configure() -> None:
    """Configure structlog to hand every line to the standard logging handlers (LOGGING renders them)."""
    import structlog

    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            structlog.stdlib.filter_by_level,
            structlog.stdlib.add_logger_name,
            structlog.stdlib.add_log_level,
            structlog.processors.StackInfoRenderer(),
            structlog.processors.format_exc_info,
            structlog.processors.UnicodeDecoder(),
            structlog.stdlib.ProcessorFormatter.wrap_for_formatter,
        ],
        logger_factory=structlog.stdlib.LoggerFactory(),
        cache_logger_on_first_use=True,
    )


def formatter(*, json_lines: bool = True) -> dict:
    """Return the LOGGING formatter entry that renders structlog and plain stdlib records alike."""
    import structlog

    renderer = structlog.processors.JSONRenderer(ensure_ascii=False) if json_lines else structlog.dev.ConsoleRenderer()
    return {
        "()": structlog.stdlib.ProcessorFormatter,
        "processors": [
            structlog.stdlib.ProcessorFormatter.remove_processors_meta,
            add_local_time,
            redact_request,
            renderer,
        ],
        "foreign_pre_chain": [
            structlog.contextvars.merge_contextvars,
            structlog.stdlib.add_logger_name,
            structlog.stdlib.add_log_level,
            structlog.stdlib.ExtraAdder(),
            structlog.processors.format_exc_info,
        ],
    }


try:  # gunicorn is there in production and for the benchmarks; Django alone never imports this class
    from gunicorn.glogging import Logger as _GunicornLogger
except ImportError:  # pragma: no cover
    _GunicornLogger = object


class GunicornJsonLogger(_GunicornLogger):
    """gunicorn's access log as JSON lines, with the same fields and redaction as the app's own lines."""

    def access(self, resp, req, environ, request_time):
        if not (self.cfg.accesslog or self.cfg.logconfig or self.cfg.syslog):
            return
        path = environ.get("PATH_INFO", "")
        query = environ.get("QUERY_STRING", "")
        line = {
            "time": datetime.now(_ZONE).isoformat(timespec="milliseconds"),
            "level": "info",
            "logger": "gunicorn.access",
            "event": "access",
            "request_id": environ.get("HTTP_X_REQUEST_ID", ""),
            "method": environ.get("REQUEST_METHOD", ""),
            "path": redact_url(f"{path}?{query}" if query else path),
            "status": int(str(resp.status).split()[0]) if resp.status else None,
            "bytes": getattr(resp, "sent", None),
            "duration_ms": round(request_time.total_seconds() * 1000, 1),
        }
        try:
            self.access_log.info(json.dumps(line, ensure_ascii=False))
        except Exception:  # noqa: BLE001 — a log line must never break a response
            self.error("Failed to write the access log line")
