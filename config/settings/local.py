"""Settings for one machine: the README's run command, SQLite and the filesystem broker by default."""

import secrets

from .base import *  # noqa: F403
from .base import LOGGING, VAR_DIR, env, log_formatter

DEBUG = env.bool("DJANGO_DEBUG", default=True)


def _local_secret_key() -> str:
    """Return this checkout's own secret key, made once and kept in var/ (never committed)."""
    path = VAR_DIR / "secret_key"
    if not path.exists():
        VAR_DIR.mkdir(parents=True, exist_ok=True)
        path.write_text(secrets.token_urlsafe(50))
        path.chmod(0o600)
    return path.read_text().strip()


SECRET_KEY = env.str("DJANGO_SECRET_KEY", default="") or _local_secret_key()

# A developer's terminal: readable lines (GRIDDESK_LOG_FORMAT=json for what production writes).
LOGGING["formatters"]["lines"] = log_formatter(json_lines=env.str("GRIDDESK_LOG_FORMAT", default="console") == "json")
