"""gunicorn settings for the web service of docker-compose.yml; each value can be overridden from the environment."""

import os

# 2 sync workers: the best throughput measured on the 2-core machine this project is sized for. More cores:
# raise GUNICORN_WORKERS (about 1 per core; requests wait on PostgreSQL, not on Python).
bind = os.environ.get("GUNICORN_BIND", "0.0.0.0:8000")
workers = int(os.environ.get("GUNICORN_WORKERS", "2"))
worker_class = "sync"
timeout = int(os.environ.get("GUNICORN_TIMEOUT", "30"))
graceful_timeout = int(os.environ.get("GUNICORN_GRACEFUL_TIMEOUT", "30"))
keepalive = 5
# Recycle workers now and then so a slow leak cannot grow without bound; the jitter keeps them from restarting together.
max_requests = int(os.environ.get("GUNICORN_MAX_REQUESTS", "2000"))
max_requests_jitter = 200
# Workers beat on a file; in a container /tmp may be an overlay on disk, /dev/shm is memory (no stalls).
worker_tmp_dir = "/dev/shm" if os.path.isdir("/dev/shm") else None
# The TLS proxy in front sets X-Forwarded-Proto; trust it only from these addresses.
forwarded_allow_ips = os.environ.get("FORWARDED_ALLOW_IPS", "127.0.0.1")
accesslog = "-"
# Access lines as JSON, like the app's, with secret query parameters (Open311's api_key) redacted.
logger_class = "config.logs.GunicornJsonLogger"
errorlog = "-"
loglevel = os.environ.get("GUNICORN_LOG_LEVEL", "info")
