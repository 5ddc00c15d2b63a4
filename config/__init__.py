"""GridDesk's project package. Importing it chooses no settings: each entrypoint does (manage.py and bin/run-local
the local ones, config/wsgi.py and config/asgi.py production, `celery -A config` local unless told), and the
Celery app is loaded lazily, so `gunicorn config.wsgi` is not handed the local settings by an import of this
package (which Python runs before config/wsgi.py). Django processes load the app in issues' AppConfig.ready().
"""


def __getattr__(name: str):
    # `celery -A config` looks up `config.app`; `config.celery_app` is the name other code uses.
    if name in {"app", "celery_app"}:
        from config.celery_app import app

        return app
    raise AttributeError(f"module 'config' has no attribute {name!r}")


__all__ = ("celery_app",)
