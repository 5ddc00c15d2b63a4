"""Settings for the real deployment (docker-compose.yml): PostgreSQL, Redis, gunicorn behind TLS."""

from django.core.exceptions import ImproperlyConfigured

from .base import *  # noqa: F403
from .base import EMAIL_BACKEND, GRIDDESK_SMS_BACKEND, env

SECRET_KEY = env.str("DJANGO_SECRET_KEY")  # no default: production refuses to start without one
if len(SECRET_KEY) < 50 or len(set(SECRET_KEY)) < 5:
    # An empty or short key would start and sign sessions with it; refuse it as check --deploy (W009) would.
    raise ImproperlyConfigured("DJANGO_SECRET_KEY must be at least 50 random characters.")
DEBUG = False
# Tells commands that must not run against a real deployment (seed_demo) where they are.
GRIDDESK_PRODUCTION = True

# The embedded defaults (SQLite in var/, kombu's filesystem broker) would start quietly and lose a city's data or
# never deliver a notification: production names its database and its broker.
for _name in ("DATABASE_URL", "CELERY_BROKER_URL"):
    if not env.str(_name, default=""):
        raise ImproperlyConfigured(f"{_name} must be set with production settings (see docs/deploy.md).")

SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
SECURE_SSL_REDIRECT = env.bool("DJANGO_SECURE_SSL_REDIRECT", default=True)
SECURE_REDIRECT_EXEMPT = [r"^healthz$", r"^readyz$"]
SESSION_COOKIE_SECURE = True
CSRF_COOKIE_SECURE = True
SECURE_HSTS_SECONDS = env.int("DJANGO_SECURE_HSTS_SECONDS", default=31_536_000)
SECURE_HSTS_INCLUDE_SUBDOMAINS = True
SECURE_HSTS_PRELOAD = env.bool("DJANGO_SECURE_HSTS_PRELOAD", default=True)
SECURE_CONTENT_TYPE_NOSNIFF = True
X_FRAME_OPTIONS = "DENY"

# Partners' webhook URLs: https only unless an operator says otherwise.
GRIDDESK_WEBHOOK_ALLOW_LOOPBACK_HTTP = env.bool("GRIDDESK_WEBHOOK_ALLOW_LOOPBACK_HTTP", default=False)

# Personal data (PIPL): a console backend prints every email or SMS, bodies and phone numbers, to the worker's log
# and marks it sent. Production refuses one unless an operator says so explicitly (a trial without a provider).
CONSOLE_BACKENDS = {
    "EMAIL_URL / DJANGO_EMAIL_BACKEND": EMAIL_BACKEND.endswith(".console.EmailBackend"),
    "GRIDDESK_SMS_BACKEND": GRIDDESK_SMS_BACKEND.endswith(".ConsoleSmsBackend"),
}
if any(CONSOLE_BACKENDS.values()) and not env.bool("GRIDDESK_ALLOW_CONSOLE_BACKENDS", default=False):
    names = ", ".join(name for name, console in CONSOLE_BACKENDS.items() if console)
    raise ImproperlyConfigured(
        f"{names}: a console backend would print messages and phone numbers to the log. Configure a real one "
        "(EMAIL_URL=smtp+tls://…, GRIDDESK_SMS_BACKEND=notifications.sms.AliyunSmsBackend, …) or set "
        "GRIDDESK_ALLOW_CONSOLE_BACKENDS=true for a trial."
    )
