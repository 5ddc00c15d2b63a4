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


def test_the_reference_endpoints_are_plain_drf_over_the_issue_table(db, make, community_staff):
    """The plain DRF create inserts one issue; its cursor list pages 20 issues, newest first (bench/reference.py)."""
    from rest_framework.test import APIClient

    from issues.models import Issue

    for _ in range(21):
        make("submitted")
    client = APIClient()
    client.force_authenticate(community_staff)
    with override_settings(GRIDDESK_BENCH_VIEWS=True, ROOT_URLCONF="bench.common"):
        created = client.post("/ref/issues/", {"description": "楼道灯不亮了"}, format="json")
        page = client.get("/ref/issues/")
    assert created.status_code == HTTPStatus.CREATED
    assert Issue.objects.filter(pk=created.json()["id"]).exists()
    body = page.json()
    assert len(body["results"]) == 20 and body["next"]
    assert body["results"][0]["id"] == created.json()["id"]
