"""Settings for the test suite: the database and broker given in the environment (CI: PostgreSQL, Redis)."""

import os
import re
import sys

# pytest-xdist runs the suite in several processes (pyproject.toml: -n): each gets its own test database
# (pytest-django's _gw<N> suffix) and here its own Redis database for the broker, so one process's queues and lists
# (the hot-spot detection list, the Celery queues) are never another's. Before base reads the environment.
_worker = os.environ.get("PYTEST_XDIST_WORKER", "")
_broker = re.fullmatch(r"(redis://[^/]+)/(\d+)", os.environ.get("CELERY_BROKER_URL", ""))
# Only in the test process itself: a worker or shell it starts inherits the variable but is told its broker.
if _worker.startswith("gw") and _broker and "_pytest" in sys.modules:
    os.environ["CELERY_BROKER_URL"] = f"{_broker[1]}/{10 + int(_worker.removeprefix('gw')) % 6}"

from .base import *  # noqa: E402, F403
from .base import CACHES, DATABASES, env  # noqa: E402

SECRET_KEY = env.str("DJANGO_SECRET_KEY", default="test-only-not-secret")
DEBUG = False
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
# Several checkouts may test against one PostgreSQL at once: each names its own test database.
if DATABASES["default"]["ENGINE"] != "django.db.backends.sqlite3":  # SQLite tests stay in memory
    DATABASES["default"].setdefault("TEST", {})["NAME"] = os.environ.get("GRIDDESK_TEST_DB", "test_griddesk")
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"null": {"class": "logging.NullHandler"}},
    "root": {"handlers": ["null"], "level": "INFO"},
}
# One process: the in-memory cache hears every forget, so the per-request caches of orgs/auth_cache.py are on as in
# production (conftest.py empties it before each test). A shared Redis gets a prefix of its own per run, so that
# entries of an earlier run (whose user ids a new test database reuses) are never read.
GRIDDESK_AUTH_CACHE_SECONDS = env.int("GRIDDESK_AUTH_CACHE_SECONDS", default=300)
if "KEY_PREFIX" in CACHES["default"]:
    CACHES["default"]["KEY_PREFIX"] = f"griddesk-test-{os.getpid()}-{os.urandom(4).hex()}"
