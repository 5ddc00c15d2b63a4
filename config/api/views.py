"""Liveness and readiness probes (API.md "Conventions"): plain Django views, no authentication, no throttling."""

import logging
import os
from http import HTTPStatus
from pathlib import Path

from django.conf import settings
from django.core.cache import cache
from django.db import connection
from django.http import HttpRequest, JsonResponse
from django.utils.translation import gettext_noop
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_safe
from kombu import Connection

from config.api.exceptions import error_response
from config.errors import Message

logger = logging.getLogger(__name__)

OK = "ok"
UNREACHABLE = "unreachable"
# The cache is down but nothing needs it to serve: throttles count per process meanwhile (config.api.throttling).
DEGRADED = "degraded"
# What must answer for a 200; the cache is reported, not required (docs/api.md "Probes").
REQUIRED = ("database", "broker")
# A probe answers quickly or counts as down: orchestrators call it every few seconds.
BROKER_TIMEOUT_SECONDS = 2


@never_cache
@require_safe
def healthz(request: HttpRequest) -> JsonResponse:
    """Answer 200 while the process runs (liveness): no dependency is checked."""
    return JsonResponse({"status": OK})


def database_check() -> str:
    """Return "ok" when the default database answers SELECT 1."""
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
            cursor.fetchone()
    except Exception:  # noqa: BLE001 — whatever stops the query, the database is not ready
        logger.warning("readyz: the database does not answer", exc_info=True)
        return UNREACHABLE
    return OK


def broker_check() -> str:
    """Return "ok" when the Celery broker accepts a connection (filesystem transport: its folders are writable)."""
    url = settings.CELERY_BROKER_URL
    if url.startswith("filesystem://"):
        options = getattr(settings, "CELERY_BROKER_TRANSPORT_OPTIONS", {}) or {}
        folders = {options.get("data_folder_in"), options.get("data_folder_out")} - {None}
        if folders and all(Path(f).is_dir() and os.access(f, os.W_OK) for f in folders):
            return OK
        logger.warning("readyz: the filesystem broker's folders %s are not writable", sorted(folders))
        return UNREACHABLE
    try:
        with Connection(
            url,
            connect_timeout=BROKER_TIMEOUT_SECONDS,
            transport_options={"socket_timeout": BROKER_TIMEOUT_SECONDS, "max_retries": 0},
        ) as broker:
            broker.ensure_connection(max_retries=0, timeout=BROKER_TIMEOUT_SECONDS)
    except Exception:  # noqa: BLE001 — whatever stops the connection, the broker is not ready
        logger.warning("readyz: the broker does not answer", exc_info=True)
        return UNREACHABLE
    return OK


def cache_check() -> str:
    """Return "ok" when the default cache stores and returns a value (Redis: within its socket timeouts)."""
    try:
        cache.set("readyz", OK, 10)
        if cache.get("readyz") == OK:
            return OK
    except Exception:  # noqa: BLE001 — whatever stops the cache, it is not answering
        logger.warning("readyz: the cache does not answer", exc_info=True)
    return UNREACHABLE


@never_cache
@require_safe
def readyz(request: HttpRequest) -> JsonResponse:
    """Answer 200 when the database and the broker answer, else 503 `not_ready` naming each check's result.

    A cache that does not answer makes the answer 200 `degraded`, not 503: the site serves without it, and a 503
    would take every web process out of rotation at once over throttle counters.
    """
    checks = {"database": database_check(), "broker": broker_check(), "cache": cache_check()}
    if all(checks[name] == OK for name in REQUIRED):
        return JsonResponse({"status": OK if checks["cache"] == OK else DEGRADED, "checks": checks})
    failed = ", ".join(name for name, result in checks.items() if result != OK)
    return error_response(
        HTTPStatus.SERVICE_UNAVAILABLE,
        "not_ready",
        Message(gettext_noop("Not ready: %(failed)s unreachable."), failed=failed),
        {name: [result] for name, result in checks.items()},
    )
