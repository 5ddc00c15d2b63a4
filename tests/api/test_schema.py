"""The OpenAPI schema, the offline docs, and schemathesis: every operation's answers conform to the schema."""

import re
from contextlib import contextmanager
from http import HTTPStatus

import hypothesis
import pytest
import schemathesis
from django.contrib.auth import get_user_model
from django.contrib.staticfiles import finders
from django.core import signals
from django.core.wsgi import get_wsgi_application
from django.db import close_old_connections, transaction
from django.test import Client
from drf_spectacular.generators import EndpointEnumerator
from hypothesis import HealthCheck, Phase
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from grids.models import Area
from issues.demo import demo_seed
from issues.workflow import issue_submit

STAFF_USERNAME = "community1"  # API.md "Demo data": community staff of 金东南路社区
STAFF_TOKEN = "0" * 39 + "1"
MAX_EXAMPLES = 10
DESCRIPTION = "Bicycles and boxes block the stairwell of building 1."
# No 5xx, and every answer (status, content type, body, headers) as the schema says. Not checked: whether
# schema-valid input is accepted — business rules (no grid covers this point, unknown codes) rightly refuse it.
CHECKS = [
    schemathesis.checks.not_a_server_error,
    schemathesis.checks.status_code_conformance,
    schemathesis.checks.content_type_conformance,
    schemathesis.checks.response_schema_conformance,
    schemathesis.checks.response_headers_conformance,
]


@pytest.fixture
def client():
    return APIClient()


@pytest.fixture
def schema_json(client, db) -> dict:
    response = client.get("/api/schema/?format=json")
    assert response.status_code == HTTPStatus.OK
    return response.json()


def test_schema_is_openapi_3_with_the_error_body_as_a_component(schema_json):
    assert schema_json["openapi"].startswith("3.")
    error = schema_json["components"]["schemas"]["ErrorResponse"]
    assert error["required"] == ["error"]
    assert error["properties"]["error"]["required"] == ["code", "message"]
    code = error["properties"]["error"]["properties"]["code"]
    assert code["type"] == "string" and "enum" not in code  # codes are only ever added
    assert all(f"`{c}`" in code["description"] for c in ("validation_error", "not_found", "throttled", "stale_version"))


def test_every_operation_documents_the_common_errors_with_the_error_body(schema_json):
    for path, item in schema_json["paths"].items():
        for method, operation in item.items():
            for status in ("400", "401", "403", "404", "429"):
                content = operation["responses"][status]["content"]["application/json"]["schema"]
                assert content == {"$ref": "#/components/schemas/ErrorResponse"}, (method, path, status)


def test_every_api_route_is_in_the_schema(schema_json):
    # drf-spectacular names a `pk` path parameter `id`.
    routes = {
        f"{method} {path.replace('{pk}', '{id}')}"
        for path, _, method, _ in EndpointEnumerator().get_api_endpoints()
        if path.startswith("/api/v1/")
    }
    documented = {f"{method.upper()} {path}" for path, item in schema_json["paths"].items() for method in item}

    assert routes <= documented, sorted(routes - documented)
    assert {"GET /api/v1/areas/locate/", "POST /api/v1/auth/token/", "GET /api/v1/departments/"} <= documented


def test_schema_describes_the_partner_key_and_the_token(schema_json):
    schemes = schema_json["components"]["securitySchemes"]
    assert schemes["ApiKeyAuth"] == {
        "type": "apiKey",
        "in": "header",
        "name": "Authorization",
        "description": "Partner apps: `Api-Key <key>`.",
    }
    assert "tokenAuth" in schemes


def test_docs_page_loads_only_local_static_files_that_exist(client, db):
    response = client.get("/api/docs/")

    assert response.status_code == HTTPStatus.OK
    html = response.content.decode()
    assert not re.search(r"""(src|href)=["']?(https?:)?//""", html)
    assert not re.search(r"https?://", html)
    assets = re.findall(r"""(?:src|href)=["'](/static/[^"']+)["']""", html)
    assert any(a.endswith("swagger-ui-bundle.js") for a in assets)
    for asset in assets:
        assert finders.find(asset.removeprefix("/static/")), asset


@contextmanager
def in_process_requests():
    """Let WSGI requests share the test's database transaction (as Django's test client does)."""
    signals.request_started.disconnect(close_old_connections)
    signals.request_finished.disconnect(close_old_connections)
    try:
        yield
    finally:
        signals.request_started.connect(close_old_connections)
        signals.request_finished.connect(close_old_connections)


class _Undo(Exception):
    pass


@contextmanager
def undone():
    """Run the block in a savepoint and roll it back: each example starts from the demo data, and a database
    error in one (PostgreSQL then refuses every later statement of the transaction) cannot spill into the next.
    """
    failure = None
    block = transaction.atomic()
    # It stands in for the test case's own atomic block, as Django's TestCase marks its blocks: a durable
    # transaction of the workflow (issue_submit, POST /api/v1/issues/) runs inside it as inside a test case's.
    block._from_testcase = True
    try:
        with block:
            try:
                yield
            except (Exception, BaseExceptionGroup) as exc:  # noqa: BLE001 — re-raised after the rollback
                failure = exc
            raise _Undo
    except _Undo:
        pass
    if failure is not None:
        raise failure


@pytest.fixture
def demo(db, settings):
    """Load API.md's demo data, with an issue reported by resident1 and one by the partner app.

    Throttling is off (generated calls test behaviour, not rates), and so is axes (generated logins would lock
    the demo accounts out).
    """
    partner_key = demo_seed()
    settings.REST_FRAMEWORK = {
        **settings.REST_FRAMEWORK,
        "DEFAULT_THROTTLE_RATES": {scope: None for scope in settings.REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"]},
    }
    settings.AXES_ENABLED = False
    grid = Area.objects.filter(parent__code="360702091005", level=Area.Level.GRID).order_by("code").first()
    users = get_user_model().objects
    staff, partner = users.get(username=STAFF_USERNAME), users.get(partner_app__slug="demo-partner")
    Token.objects.create(user=staff, key=STAFF_TOKEN)
    reported = {
        "staff": issue_submit(actor=users.get(username="resident1"), description=DESCRIPTION, grid=grid.code),
        "partner": issue_submit(
            actor=partner, description=DESCRIPTION, grid=grid.code, reporter_name="刘伟", reporter_phone="13800138000"
        ),
    }
    return {
        "staff": ({"Authorization": f"Token {STAFF_TOKEN}"}, reported["staff"]),
        "partner": ({"Authorization": f"Api-Key {partner_key}"}, reported["partner"]),
    }


@pytest.mark.parametrize("caller", ["staff", "partner"])
def test_every_operation_answers_without_server_errors_and_as_the_schema_says(demo, caller):
    """Run schemathesis over every operation in /api/schema/, as demo staff (community1) and as demo-partner.

    Schema-valid requests only (schema-invalid input is refused before views, tested in test_errors.py). Issue
    operations get the id of an issue the caller can see, so actions reach the workflow instead of a 404.
    """
    headers, issue = demo[caller]
    failures, exercised = [], []
    with in_process_requests():
        schema = schemathesis.openapi.from_wsgi("/api/schema/?format=json", get_wsgi_application())
        for result in schema.get_all_operations():
            operation = result.ok()
            known = {"id": str(issue.pk)} if operation.path.startswith("/api/v1/issues/{id}") else None

            @hypothesis.settings(
                max_examples=MAX_EXAMPLES,
                deadline=None,
                database=None,
                derandomize=True,
                phases=[Phase.explicit, Phase.generate],
                suppress_health_check=list(HealthCheck),
            )
            @hypothesis.given(case=operation.as_strategy(path_parameters=known))
            def check(case):
                # Rolled back after each call: DELETE /auth/token/ or a rejection never spills into the next one.
                with undone():
                    case.call_and_validate(headers=headers, checks=CHECKS)

            try:
                check()
            except (Exception, BaseExceptionGroup) as exc:  # noqa: BLE001 — collect every operation's failures
                failures.append(f"{operation.label}: {exc}")
            exercised.append(operation.label)

    assert not failures, "\n\n".join(failures)
    documented = {
        f"{m.upper()} {p}"
        for p, item in APIClient().get("/api/schema/?format=json").json()["paths"].items()
        for m in item
    }
    assert set(exercised) == documented


def test_docs_assets_are_served_by_the_app_itself(settings, db):
    # As with DEBUG (make run) or after collectstatic (production): WhiteNoise serves them, no CDN, no nginx.
    settings.WHITENOISE_USE_FINDERS = True
    settings.WHITENOISE_AUTOREFRESH = True

    response = Client().get("/static/drf_spectacular_sidecar/swagger-ui-dist/swagger-ui-bundle.js")

    assert response.status_code == HTTPStatus.OK
    assert b"SwaggerUIBundle" in b"".join(response.streaming_content)
