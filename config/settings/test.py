"""Settings for the test suite: the database and broker given in the environment (CI: PostgreSQL, Redis)."""

import os

from .base import *  # noqa: F403
from .base import DATABASES, env

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
