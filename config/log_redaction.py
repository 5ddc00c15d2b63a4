"""Keep secrets out of logged URLs: `?api_key=` (GeoReport v2 sends the partner's key in the query), tokens.

Two places log URLs: gunicorn's access log (`RedactingGunicornLogger`, set in gunicorn.conf.py) and Django's
loggers (`RedactSecretsFilter` on the console handler: runserver's request lines, anything else that logs a URL).
"""

import logging
import re

from gunicorn.glogging import Logger

# Query parameters whose value is a credential. The REST API refuses keys in the query (config.api.authentication),
# but the request line is logged before anything refuses it.
SECRET_PARAMETERS = ("api_key", "apikey", "key", "token", "access_token", "password")
REDACTED = "[redacted]"
_SECRET_IN_QUERY = re.compile(
    r"(?i)((?:^|[?&;])(?:" + "|".join(re.escape(p) for p in SECRET_PARAMETERS) + r")=)[^&;\s\"]*"
)


def redact_url(text: str) -> str:
    """Return `text` (a URL, a query string or a whole log line) with every secret parameter's value redacted."""
    return _SECRET_IN_QUERY.sub(r"\1" + REDACTED, text) if text else text


class RedactingGunicornLogger(Logger):
    """gunicorn's logger, with the request line, query, referer and Authorization header redacted."""

    def atoms(self, resp, req, environ, request_time):
        atoms = super().atoms(resp, req, environ, request_time)
        for name in ("r", "q", "f"):
            if isinstance(atoms.get(name), str):
                atoms[name] = redact_url(atoms[name])
        if "{authorization}i" in atoms:
            atoms["{authorization}i"] = REDACTED
        return atoms


class RedactSecretsFilter(logging.Filter):
    """Redact secret query parameters from a record's message (its arguments merged in first)."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        redacted = redact_url(message)
        if redacted != message:
            record.msg, record.args = redacted, ()
        return True
