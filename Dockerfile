# GridDesk: one image for the web (gunicorn), worker (celery worker) and beat (celery beat) services of
# docker-compose.yml. Build: docker compose build. See docs/deploy.md.
FROM python:3.11-slim-bookworm

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

RUN groupadd --system --gid 10001 griddesk \
 && useradd --system --uid 10001 --gid griddesk --home-dir /app --shell /usr/sbin/nologin griddesk

WORKDIR /app
# Dependencies first: this layer is rebuilt only when requirements.txt changes. Every wheel is binary
# (psycopg2-binary, shapely, Pillow): no compiler in the image.
COPY requirements.txt .
RUN pip install -r requirements.txt

COPY . .
# Static files are collected into the image, where WhiteNoise serves them; the key only satisfies settings.
RUN DJANGO_SETTINGS_MODULE=config.settings.production \
    DJANGO_SECRET_KEY=collectstatic-only-at-build-time-never-used-to-sign-anything \
    DJANGO_STATIC_ROOT=/app/staticfiles \
    GRIDDESK_VAR_DIR=/tmp/build-var \
    python manage.py collectstatic --noinput --verbosity 0 \
 && rm -rf /tmp/build-var \
 && mkdir -p /app/var/media \
 && chown -R griddesk:griddesk /app/var

USER griddesk
ENV DJANGO_SETTINGS_MODULE=config.settings.production \
    DJANGO_STATIC_ROOT=/app/staticfiles \
    DJANGO_MEDIA_ROOT=/app/var/media \
    GRIDDESK_VAR_DIR=/app/var

EXPOSE 8000
# gunicorn reads ./gunicorn.conf.py (2 sync workers on 0.0.0.0:8000).
CMD ["gunicorn", "config.wsgi:application"]
