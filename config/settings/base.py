"""Settings shared by every environment; every value comes from the environment with a safe default."""

from pathlib import Path

import environ
from celery.schedules import crontab

from config.logs import formatter as log_formatter
from config.logs import structlog_configure

BASE_DIR = Path(__file__).resolve().parent.parent.parent
VAR_DIR = Path(environ.Env().str("GRIDDESK_VAR_DIR", default=str(BASE_DIR / "var")))

env = environ.Env()
environ.Env.read_env(BASE_DIR / ".env", overwrite=False)

DEBUG = env.bool("DJANGO_DEBUG", default=False)
# config/settings/production.py turns it on.
GRIDDESK_PRODUCTION = False
ALLOWED_HOSTS = env.list("DJANGO_ALLOWED_HOSTS", default=["127.0.0.1", "localhost"])
CSRF_TRUSTED_ORIGINS = env.list("DJANGO_CSRF_TRUSTED_ORIGINS", default=[])

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "rest_framework",
    "rest_framework.authtoken",
    "django_filters",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "axes",
    "django_structlog",
    "grids",
    "orgs",
    "issues",
    "notifications",
    "open311",
    "accounts",
    "meetings",
    "triage",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    # Serves /static/ (Swagger UI's files among them) from any server, gunicorn included; see docs/api.md.
    "whitenoise.middleware.WhiteNoiseMiddleware",
    # Early: refuses oversized API bodies before anything reads them, and keeps API errors in one JSON shape.
    "config.api.exceptions.ApiErrorMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.locale.LocaleMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    # Django's AuthenticationMiddleware, the session's user remembered between requests (accounts/session_user.py).
    "accounts.session_user.SessionUserMiddleware",
    # A user who just wrote reads dashboards and exports from the primary for a while (config/db_router.py).
    "config.db_router.ReplicaPinMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    # A request id on every log line of the request and of the Celery tasks it queues (config/logs.py).
    "django_structlog.middlewares.RequestMiddleware",
    # Last, so that a locked-out login never reaches the view.
    "axes.middleware.AxesMiddleware",
]

AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",
    "django.contrib.auth.backends.ModelBackend",
]

ROOT_URLCONF = "config.urls"
# Messages can carry a partner key shown once (admin): keep them server-side, not in a cookie.
MESSAGE_STORAGE = "django.contrib.messages.storage.session.SessionStorage"
WSGI_APPLICATION = "config.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "django.template.context_processors.i18n",
                "notifications.context_processors.unread_count",
                "orgs.context_processors.memberships",
            ],
        },
    },
]

# The embedded default is SQLite; PostgreSQL is the real database (DATABASE_URL).
# An empty DATABASE_URL counts as unset.
DATABASES = {
    "default": environ.Env.db_url_config(
        env.str("DATABASE_URL", default="") or f"sqlite:///{VAR_DIR / 'griddesk.sqlite3'}"
    )
}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # WAL lets the web process, the worker and beat share one file without "database is locked".
    DATABASES["default"].setdefault("OPTIONS", {})
    DATABASES["default"]["OPTIONS"].update(
        {"timeout": 20, "transaction_mode": "IMMEDIATE", "init_command": "PRAGMA journal_mode=WAL;"}
    )
else:
    DATABASES["default"]["CONN_MAX_AGE"] = env.int("DJANGO_CONN_MAX_AGE", default=60)
    DATABASES["default"]["CONN_HEALTH_CHECKS"] = True
    if DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql":
        # Short OLTP queries: JIT compilation cost the statistics query 50–110 ms a call (bench "api").
        DATABASES["default"].setdefault("OPTIONS", {}).setdefault("options", "-c jit=off")
# A PostgreSQL streaming replica for reads that may lag a moment: dashboards, statistics, exports
# (config/db_router.py). Unset: everything reads from the primary.
if env.str("DATABASE_REPLICA_URL", default=""):
    DATABASES["replica"] = {
        **environ.Env.db_url_config(env.str("DATABASE_REPLICA_URL")),
        "CONN_MAX_AGE": DATABASES["default"].get("CONN_MAX_AGE", 0),
        "CONN_HEALTH_CHECKS": True,
        "OPTIONS": {"options": "-c jit=off"},
        "TEST": {"MIRROR": "default"},
    }
DATABASE_ROUTERS = ["config.db_router.ReplicaRouter"]
# After a write, a staff member reads from the primary for this long (their own change, whatever the replica's lag).
GRIDDESK_REPLICA_PIN_SECONDS = env.int("GRIDDESK_REPLICA_PIN_SECONDS", default=30)
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

LANGUAGE_CODE = "zh-hans"
LANGUAGES = [("zh-hans", "简体中文"), ("en", "English")]
LOCALE_PATHS = [BASE_DIR / "locale"]
TIME_ZONE = "Asia/Shanghai"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = Path(env.str("DJANGO_STATIC_ROOT", default=str(VAR_DIR / "static")))
STATICFILES_DIRS = [BASE_DIR / "static"] if (BASE_DIR / "static").is_dir() else []
MEDIA_URL = "media/"
MEDIA_ROOT = Path(env.str("DJANGO_MEDIA_ROOT", default=str(VAR_DIR / "media")))

# Photos are decoded in decoder processes (issues.photo_decode): one photo may take this many seconds before its
# decoder is killed and the photo refused, the photos of one request this many in all (under gunicorn's 30 s), and a
# decoder this much memory. bench/bench_photos.py measures the worst accepted photo against them.
GRIDDESK_PHOTO_DECODE_SECONDS = env.float("GRIDDESK_PHOTO_DECODE_SECONDS", default=10.0)
GRIDDESK_PHOTOS_DECODE_SECONDS = env.float("GRIDDESK_PHOTOS_DECODE_SECONDS", default=20.0)
GRIDDESK_PHOTO_DECODE_MEMORY_MB = env.int("GRIDDESK_PHOTO_DECODE_MEMORY_MB", default=1024)
# Uploads: 6 photos of 10 MB each plus the form fields.
DATA_UPLOAD_MAX_MEMORY_SIZE = env.int("DJANGO_DATA_UPLOAD_MAX_MEMORY_SIZE", default=2_621_440)
FILE_UPLOAD_MAX_MEMORY_SIZE = 2_621_440

# Email from one URL (django-environ: smtp+tls://user:password@host:587, consolemail://, …); DJANGO_EMAIL_BACKEND
# still names a backend class directly. Without either: the console, fit for one machine only (production refuses).
if env.str("EMAIL_URL", default=""):
    vars().update(env.email_url("EMAIL_URL"))
else:
    EMAIL_BACKEND = env.str("DJANGO_EMAIL_BACKEND", default="django.core.mail.backends.console.EmailBackend")
DEFAULT_FROM_EMAIL = env.str("DJANGO_DEFAULT_FROM_EMAIL", default="GridDesk <noreply@griddesk.local>")
# An SMTP call must end well within a delivery claim, or a slow server could get the same email twice.
EMAIL_TIMEOUT = env.int("DJANGO_EMAIL_TIMEOUT", default=20)

# --- GridDesk rules that operators tune ------------------------------------------------------------
DEMO_PASSWORD = env.str("DEMO_PASSWORD", default="demo-pass-2026")
GRIDDESK_AUTO_CLOSE_DAYS = env.int("GRIDDESK_AUTO_CLOSE_DAYS", default=7)
# Database connections the escalation sweep works a backlog of several chunks on at once (issues.escalation).
GRIDDESK_SWEEP_CONNECTIONS = env.int("GRIDDESK_SWEEP_CONNECTIONS", default=2)
GRIDDESK_RETENTION_DAYS = env.int("GRIDDESK_RETENTION_DAYS", default=365)
# Personal data outside the issue row (docs/privacy.md): delivered notifications' free text and webhook bodies,
# django-axes' login records, export files. Idempotency records live 24 hours (issues.api.idempotency).
GRIDDESK_NOTIFICATION_RETENTION_DAYS = env.int("GRIDDESK_NOTIFICATION_RETENTION_DAYS", default=30)
GRIDDESK_AXES_RETENTION_DAYS = env.int("GRIDDESK_AXES_RETENTION_DAYS", default=30)
GRIDDESK_EXPORT_FILE_DAYS = env.int("GRIDDESK_EXPORT_FILE_DAYS", default=7)
# An export of at most this many rows is answered in the request; a larger one runs as a job (202).
GRIDDESK_EXPORT_DIRECT_MAX_ROWS = env.int("GRIDDESK_EXPORT_DIRECT_MAX_ROWS", default=2000)
GRIDDESK_DUPLICATE_RADIUS_M = env.int("GRIDDESK_DUPLICATE_RADIUS_M", default=100)
GRIDDESK_DUPLICATE_WINDOW_DAYS = env.int("GRIDDESK_DUPLICATE_WINDOW_DAYS", default=14)
# Rankings on /stats/ (红黄榜): a rate on fewer cases is listed but not ranked; how many ranks each list marks.
GRIDDESK_STATS_RANK_MIN_VOLUME = env.int("GRIDDESK_STATS_RANK_MIN_VOLUME", default=10)
GRIDDESK_STATS_RANK_MARKED = env.int("GRIDDESK_STATS_RANK_MARKED", default=3)
# How often (at most) a process asks the database whether another process changed the grids (grids.routing).
GRIDDESK_ROUTING_CHECK_SECONDS = env.float("GRIDDESK_ROUTING_CHECK_SECONDS", default=5.0)
# How often (at most) a process asks the database whether another process changed the CalendarDay rows (issues.sla).
GRIDDESK_CALENDAR_CHECK_SECONDS = env.float("GRIDDESK_CALENDAR_CHECK_SECONDS", default=60.0)

# --- Celery ----------------------------------------------------------------------------------------
# The embedded default needs no Redis: kombu's filesystem transport carries the messages.
CELERY_BROKER_URL = env.str("CELERY_BROKER_URL", default="filesystem://")
if CELERY_BROKER_URL.startswith("filesystem://"):
    _queue_dir = VAR_DIR / "celery" / "queue"
    _queue_dir.mkdir(parents=True, exist_ok=True)
    (VAR_DIR / "celery" / "processed").mkdir(parents=True, exist_ok=True)
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "data_folder_in": str(_queue_dir),
        "data_folder_out": str(_queue_dir),
        "control_folder": str(VAR_DIR / "celery" / "control"),
        "processed_folder": str(VAR_DIR / "celery" / "processed"),
        "store_processed": False,
    }
else:
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        # Longer than the longest task (CELERY_TASK_TIME_LIMIT), so a slow task is not handed to a second worker
        # while it runs; a task lost with its worker comes back sooner through the outbox sweep anyway.
        "visibility_timeout": env.int("CELERY_VISIBILITY_TIMEOUT", default=3600),
        # A web request queueing after commit must not hang on a broker that is down: fail fast, the sweep retries.
        "socket_connect_timeout": env.float("CELERY_BROKER_CONNECT_TIMEOUT", default=2.0),
    }
CELERY_TASK_ALWAYS_EAGER = env.bool("CELERY_TASK_ALWAYS_EAGER", default=False)
CELERY_RESULT_BACKEND = None
CELERY_TASK_IGNORE_RESULT = True
CELERY_TIMEZONE = TIME_ZONE
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_TASK_SERIALIZER = "json"
# At-least-once: a task is acknowledged after it ran, and re-queued if its worker dies mid-way.
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
# No task may outlive the visibility timeout (a webhook post times out after GRIDDESK_WEBHOOK_TIMEOUT).
CELERY_TASK_SOFT_TIME_LIMIT = env.int("CELERY_TASK_SOFT_TIME_LIMIT", default=240)
CELERY_TASK_TIME_LIMIT = env.int("CELERY_TASK_TIME_LIMIT", default=300)
# Publishing after commit gives up quickly when the broker is down: the outbox row waits for the sweep.
CELERY_TASK_PUBLISH_RETRY_POLICY = {"max_retries": 2, "interval_start": 0, "interval_step": 0.2, "interval_max": 0.5}
CELERY_BEAT_SCHEDULE_FILENAME = str(VAR_DIR / "celerybeat-schedule")
# Three queues, so that a flood of one kind never delays another: a district's 100,000-row exports or a sweep
# escalating thousands of issues wait in their own queue while notifications keep flowing. docker-compose.yml runs a
# worker per queue; a worker started without -Q (the embedded `make run` one) consumes all of them. Anything not
# routed goes to the notifications worker's default queue.
CELERY_TASK_DEFAULT_QUEUE = "celery"
CELERY_QUEUES_ALL = ("celery", "notifications", "sweeps", "exports")
CELERY_TASK_QUEUES = {name: {"routing_key": name} for name in CELERY_QUEUES_ALL}
CELERY_TASK_ROUTES = {
    "notifications.deliver_notification": {"queue": "notifications"},
    "notifications.deliver_notifications": {"queue": "notifications"},
    "notifications.queue_deliveries": {"queue": "notifications"},
    "notifications.outbox_sweep": {"queue": "sweeps"},
    "issues.escalation_sweep": {"queue": "sweeps"},
    "issues.auto_close_sweep": {"queue": "sweeps"},
    "issues.reminders_sweep": {"queue": "sweeps"},
    "issues.retention_sweep": {"queue": "sweeps"},
    "issues.partitions_ensure": {"queue": "sweeps"},
    "issues.stats_fold": {"queue": "sweeps"},
    "issues.export": {"queue": "exports"},
}
# The timers. Deadlines live in the database (never an eta on a task); each sweep finds what is due, and a sweep
# that ran late (or twice) does no harm. `expires`: a backlog of missed beats collapses into the next one.
GRIDDESK_AREA_DIGEST_HOUR = env.int("GRIDDESK_AREA_DIGEST_HOUR", default=8)  # local time (Asia/Shanghai)
GRIDDESK_ESCALATION_SWEEP_SECONDS = env.float("GRIDDESK_ESCALATION_SWEEP_SECONDS", default=60.0)
# Each escalation sweep reads from where the last left off (issues.escalation.escalation_horizon); once this long after
# the last full read, a sweep reads every running deadline again (the backstop for a change made without an event).
GRIDDESK_ESCALATION_FULL_READ_SECONDS = env.int("GRIDDESK_ESCALATION_FULL_READ_SECONDS", default=3600)
GRIDDESK_OUTBOX_SWEEP_SECONDS = env.float("GRIDDESK_OUTBOX_SWEEP_SECONDS", default=60.0)
GRIDDESK_REMINDERS_SWEEP_SECONDS = env.float("GRIDDESK_REMINDERS_SWEEP_SECONDS", default=300.0)
# How often the submissions not counted yet are added to the statistics rollup (issues.rollups.rollup_fold); a
# dashboard folds what is left before it reads, so this bounds the fold a reader may find, not what it sees.
GRIDDESK_STATS_FOLD_SECONDS = env.float("GRIDDESK_STATS_FOLD_SECONDS", default=5.0)
CELERY_BEAT_SCHEDULE: dict = {
    "escalation-sweep": {
        "task": "issues.escalation_sweep",
        "schedule": GRIDDESK_ESCALATION_SWEEP_SECONDS,
        "options": {"expires": GRIDDESK_ESCALATION_SWEEP_SECONDS},
    },
    "outbox-sweep": {
        "task": "notifications.outbox_sweep",
        "schedule": GRIDDESK_OUTBOX_SWEEP_SECONDS,
        "options": {"expires": GRIDDESK_OUTBOX_SWEEP_SECONDS},
    },
    "reminders-sweep": {
        "task": "issues.reminders_sweep",
        "schedule": GRIDDESK_REMINDERS_SWEEP_SECONDS,
        "options": {"expires": GRIDDESK_REMINDERS_SWEEP_SECONDS},
    },
    "stats-fold": {
        "task": "issues.stats_fold",
        "schedule": GRIDDESK_STATS_FOLD_SECONDS,
        "options": {"expires": GRIDDESK_STATS_FOLD_SECONDS},
    },
    "auto-close-sweep": {"task": "issues.auto_close_sweep", "schedule": crontab(minute="*/15")},
    "retention-sweep": {"task": "issues.retention_sweep", "schedule": crontab(hour=3, minute=30)},
    # Months ahead for partitioned issues and events (issues.partitioning; nothing to do on the default schema).
    "partitions-ensure": {"task": "issues.partitions_ensure", "schedule": crontab(hour=3, minute=10)},
    # Area alerts chosen "daily": one digest per subscription of what became public or was resolved since the last.
    "area-alerts-digest": {
        "task": "notifications.area_alerts_digest",
        "schedule": crontab(hour=GRIDDESK_AREA_DIGEST_HOUR, minute=0),
    },
    # Learn the day's classify decisions (triage/training.py).
    "triage-train": {"task": "triage.train", "schedule": crontab(hour=2, minute=40)},
    # Close the hot spots whose issues have all ended that a lost after-commit check left open (triage/hotspots.py).
    "hotspots-close-sweep": {"task": "triage.hotspots_close_sweep", "schedule": crontab(minute="7,37")},
}

# --- Notifications ---------------------------------------------------------------------------------
# Where the site answers, for links in messages that leave it (an area alert's board and unsubscribe links).
GRIDDESK_SITE_URL = env.str("GRIDDESK_SITE_URL", default="http://localhost:8000").rstrip("/")
# A pending row is re-queued by the sweep once it is this old (its own task normally delivers it first).
GRIDDESK_OUTBOX_REQUEUE_AFTER_SECONDS = env.int("GRIDDESK_OUTBOX_REQUEUE_AFTER_SECONDS", default=60)
# How long a worker holds a claimed notification; past it the sender is presumed dead (notifications/delivery.py).
GRIDDESK_NOTIFICATION_LEASE_SECONDS = env.int("GRIDDESK_NOTIFICATION_LEASE_SECONDS", default=120)
# Seconds to wait after each failed attempt (Standard Webhooks' schedule: ~27.5 h in all, ≥ 24 h); then FAILED.
GRIDDESK_NOTIFICATION_RETRY_SCHEDULE = [
    int(s) for s in env.list("GRIDDESK_NOTIFICATION_RETRY_SCHEDULE", default=[5, 300, 1800, 7200, 18000, 36000, 36000])
]
GRIDDESK_WEBHOOK_TIMEOUT = env.float("GRIDDESK_WEBHOOK_TIMEOUT", default=10.0)
# Plain http to 127.0.0.1/localhost/::1 for development; production may turn it off.
GRIDDESK_WEBHOOK_ALLOW_LOOPBACK_HTTP = env.bool("GRIDDESK_WEBHOOK_ALLOW_LOOPBACK_HTTP", default=True)
GRIDDESK_SMS_BACKEND = env.str("GRIDDESK_SMS_BACKEND", default="notifications.sms.ConsoleSmsBackend")
GRIDDESK_SMS_GATEWAY_URL = env.str("GRIDDESK_SMS_GATEWAY_URL", default="")
GRIDDESK_SMS_GATEWAY_KEY = env.str("GRIDDESK_SMS_GATEWAY_KEY", default="")
GRIDDESK_SMS_GATEWAY_TIMEOUT = env.float("GRIDDESK_SMS_GATEWAY_TIMEOUT", default=10.0)
# A text whose worker died mid-send is not re-sent (at most once) unless the gateway deduplicates by message id.
# The providers' adapters (notifications.sms.AliyunSmsBackend, TencentSmsBackend); ENDPOINT/PROTOCOL change only
# for a local fake of their API in tests.
GRIDDESK_SMS_ALIYUN = {
    "ACCESS_KEY_ID": env.str("GRIDDESK_SMS_ALIYUN_ACCESS_KEY_ID", default=""),
    "ACCESS_KEY_SECRET": env.str("GRIDDESK_SMS_ALIYUN_ACCESS_KEY_SECRET", default=""),
    "SIGN_NAME": env.str("GRIDDESK_SMS_ALIYUN_SIGN_NAME", default=""),
    "TEMPLATE_CODE": env.str("GRIDDESK_SMS_ALIYUN_TEMPLATE_CODE", default=""),
    "TEMPLATE_PARAM": env.str("GRIDDESK_SMS_ALIYUN_TEMPLATE_PARAM", default="content"),
    "ENDPOINT": env.str("GRIDDESK_SMS_ALIYUN_ENDPOINT", default="dysmsapi.aliyuncs.com"),
    "PROTOCOL": env.str("GRIDDESK_SMS_ALIYUN_PROTOCOL", default="https"),
}
GRIDDESK_SMS_TENCENT = {
    "SECRET_ID": env.str("GRIDDESK_SMS_TENCENT_SECRET_ID", default=""),
    "SECRET_KEY": env.str("GRIDDESK_SMS_TENCENT_SECRET_KEY", default=""),
    "APP_ID": env.str("GRIDDESK_SMS_TENCENT_APP_ID", default=""),
    "SIGN_NAME": env.str("GRIDDESK_SMS_TENCENT_SIGN_NAME", default=""),
    "TEMPLATE_ID": env.str("GRIDDESK_SMS_TENCENT_TEMPLATE_ID", default=""),
    "REGION": env.str("GRIDDESK_SMS_TENCENT_REGION", default="ap-guangzhou"),
    "ENDPOINT": env.str("GRIDDESK_SMS_TENCENT_ENDPOINT", default="sms.tencentcloudapi.com"),
    "PROTOCOL": env.str("GRIDDESK_SMS_TENCENT_PROTOCOL", default="https"),
}
GRIDDESK_SMS_AT_LEAST_ONCE = env.bool("GRIDDESK_SMS_AT_LEAST_ONCE", default=False)
GRIDDESK_RESPONSE_REMINDER_HOURS = env.float("GRIDDESK_RESPONSE_REMINDER_HOURS", default=2.0)
GRIDDESK_RESOLUTION_REMINDER_WORKDAYS = env.int("GRIDDESK_RESOLUTION_REMINDER_WORKDAYS", default=1)

# --- REST framework --------------------------------------------------------------------------------
REST_FRAMEWORK = {
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    "DEFAULT_PARSER_CLASSES": [
        "config.api.parsers.BoundedJSONParser",
        "rest_framework.parsers.MultiPartParser",
        "rest_framework.parsers.FormParser",
    ],
    "DEFAULT_FILTER_BACKENDS": ["django_filters.rest_framework.DjangoFilterBackend"],
    # The first one names the 401 challenge; config.api.exceptions sends both Token and Api-Key.
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "config.api.authentication.TokenAuthentication",
        "config.api.authentication.ApiKeyAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    # Closed by default: public views (territory, categories, departments, token) open themselves.
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_THROTTLE_CLASSES": ["config.api.throttling.CallerKindThrottle"],
    # Per caller kind (config.api.throttling); anon_create: anonymous issue creation per client address.
    "DEFAULT_THROTTLE_RATES": {
        "anon": env.str("GRIDDESK_THROTTLE_ANON", default="60/min"),
        "resident": env.str("GRIDDESK_THROTTLE_RESIDENT", default="120/min"),
        "staff": env.str("GRIDDESK_THROTTLE_STAFF", default="600/min"),
        "partner": env.str("GRIDDESK_THROTTLE_PARTNER", default="1200/min"),
        "anon_create": env.str("GRIDDESK_THROTTLE_ANON_CREATE", default="10/hour"),
    },
    "EXCEPTION_HANDLER": "config.api.exceptions.api_exception_handler",
    "TEST_REQUEST_DEFAULT_FORMAT": "json",
}
# WhiteNoise serves STATIC_ROOT (after collectstatic) and, with DEBUG, the apps' static folders directly.
try:
    STATIC_ROOT.mkdir(parents=True, exist_ok=True)
except OSError:  # a read-only image that collected its static files elsewhere
    pass
# Paths whose every answer, errors included, is JSON with API.md's error body (config.api.exceptions).
GRIDDESK_API_PATH_PREFIXES = ("/api/",)
GRIDDESK_API_EXACT_PATHS = ("/healthz", "/readyz")
# Multipart API bodies: up to 6 photos of 10 MB each, plus 1 MB of form fields. Other bodies:
# DATA_UPLOAD_MAX_MEMORY_SIZE.
GRIDDESK_API_MAX_MULTIPART_BYTES = env.int(
    "GRIDDESK_API_MAX_MULTIPART_BYTES", default=6 * 10 * 1024 * 1024 + 1024 * 1024
)

# Throttle counters (and anything else cached) need one cache shared by every web process in production:
# Redis when REDIS_URL / CACHE_URL is set, else this process's memory (one machine, one process is fine).
_cache_url = env.str("CACHE_URL", default="") or env.str("REDIS_URL", default="")
if _cache_url:
    CACHES = {
        "default": {
            "BACKEND": "config.redis_cache.ReusedClientRedisCache",
            "LOCATION": _cache_url,
            "KEY_PREFIX": env.str("GRIDDESK_CACHE_KEY_PREFIX", default="griddesk"),
            # A Redis that hangs must not hold a request: throttles then count locally (config.api.throttling).
            "OPTIONS": {
                "socket_connect_timeout": env.float("GRIDDESK_CACHE_TIMEOUT", default=0.5),
                "socket_timeout": env.float("GRIDDESK_CACHE_TIMEOUT", default=0.5),
            },
        }
    }
else:
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache", "LOCATION": "griddesk"}}
# How long a token's user, a partner key and a user's scope are remembered between requests (orgs/auth_cache.py);
# 0: read on every request. Only a cache shared by every process may hold them (a local one cannot hear a revocation
# made in another process), so it is off by default without CACHE_URL / REDIS_URL.
GRIDDESK_AUTH_CACHE_SECONDS = env.int("GRIDDESK_AUTH_CACHE_SECONDS", default=300 if _cache_url else 0)
# A signed-in page read its session row on every request: with a shared cache, sessions are read from it and
# written through to the database (a logout or a password change deletes both). Not with a process-local cache,
# which could not hear a logout made in another process.
if _cache_url:
    SESSION_ENGINE = "django.contrib.sessions.backends.cached_db"

SPECTACULAR_SETTINGS = {
    "TITLE": "GridDesk API",
    "DESCRIPTION": "Report, triage, dispatch, resolve and rate neighbourhood issues (网格化管理 · 接诉即办).\n\n"
    'Every error answers `{"error": {"code", "message", "fields"}}` (the `ErrorResponse` component).',
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    # Keep the key or token typed into "Authorize" across reloads of /api/docs/.
    "SWAGGER_UI_SETTINGS": {"persistAuthorization": True, "deepLinking": True},
    "COMPONENT_SPLIT_REQUEST": True,
    # Tag operations by resource (areas, issues, …) rather than by the version prefix.
    "SCHEMA_PATH_PREFIX": r"/api/v[0-9]+",
    # Two models name a "kind": give each choice set its own component name.
    "ENUM_NAME_OVERRIDES": {
        "DepartmentKindEnum": "orgs.models.Department.Kind",
        "IssueKindEnum": "issues.models.Kind",
        # The issue's channel (all six) and the ones a submission may name (Open311's is set by its endpoint).
        "IssueChannelEnum": "issues.models.Issue.Channel",
        "SubmitChannelEnum": "issues.api.serializers.SUBMIT_CHANNELS",
    },
    # Adds the ErrorResponse component and the error answers every operation can give (config.api.schema).
    "POSTPROCESSING_HOOKS": [
        "drf_spectacular.hooks.postprocess_schema_enums",
        "config.api.schema.add_error_responses",
    ],
}

# --- Who is calling from where ------------------------------------------------------------------------
# Proxies (addresses or networks) whose X-Forwarded-For is believed, by the lockouts and the throttles alike
# (config.client_ip). Empty: every request counts by REMOTE_ADDR, and X-Forwarded-For is ignored.
GRIDDESK_TRUSTED_PROXIES = env.list("GRIDDESK_TRUSTED_PROXIES", default=[])
# Personal API tokens expire this many hours after they were issued (logging in again issues a new one); a
# password change revokes them at once (orgs.signals).
GRIDDESK_TOKEN_TTL_HOURS = env.float("GRIDDESK_TOKEN_TTL_HOURS", default=24 * 30)

# --- Failed logins (django-axes) -------------------------------------------------------------------
AXES_CLIENT_IP_CALLABLE = "config.client_ip.axes_client_ip"
AXES_FAILURE_LIMIT = env.int("AXES_FAILURE_LIMIT", default=5)
AXES_COOLOFF_TIME = env.float("AXES_COOLOFF_HOURS", default=0.25)
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
AXES_RESET_ON_SUCCESS = True
# Under /api/ a lockout answers 429 `throttled` with Retry-After (the cool-off) in API.md's error body.
AXES_LOCKOUT_CALLABLE = "config.api.authentication.axes_lockout_response"

# --- Logs: JSON lines (config/logs.py) ----------------------------------------------------------------
# One JSON object per line with the local time and offset, the level, the logger and the request id; no client
# addresses and no secrets in logged URLs. GRIDDESK_LOG_FORMAT=console for a developer's terminal.
GRIDDESK_LOG_FORMAT = env.str("GRIDDESK_LOG_FORMAT", default="json")
structlog_configure()
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"lines": log_formatter(json_lines=GRIDDESK_LOG_FORMAT == "json")},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "lines"}},
    "root": {"handlers": ["console"], "level": env.str("DJANGO_LOG_LEVEL", default="INFO")},
    "loggers": {"django.db.backends": {"level": "WARNING"}},
}
DJANGO_STRUCTLOG_CELERY_ENABLED = True
DJANGO_STRUCTLOG_IP_LOGGING_ENABLED = False  # a client's address is personal data
# The proxy's X-Request-ID (nginx $request_id) becomes the request id, so its lines and ours join up.
DJANGO_STRUCTLOG_TRUST_UPSTREAM_REQUEST_ID = True
