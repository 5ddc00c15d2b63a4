"""The bare view that bench/bench_api.py compares the API with is mounted only when GRIDDESK_BENCH_VIEWS is true."""

import importlib.util
from http import HTTPStatus

from django.test import override_settings


def _routes() -> list[str]:
    """Return the project's top-level routes from a fresh execution of config/urls.py under the current settings."""
    spec = importlib.util.find_spec("config.urls")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return [str(pattern.pattern) for pattern in module.urlpatterns]


def test_bare_view_is_not_served_by_default(client):
    assert client.get("/bench/bare/").status_code == HTTPStatus.NOT_FOUND
    assert "bench/" not in _routes()


def test_bare_view_is_mounted_under_bench_when_the_setting_enables_it():
    with override_settings(GRIDDESK_BENCH_VIEWS=True):
        routes = _routes()
    assert routes[-1] == "bench/"
