"""A submission's body checked plainly (IssueSubmitSerializer.validated_plainly) accepts only what DRF accepts, to
the same validated data, and leaves every refusal to DRF: the create's error bodies are the same bytes as before.

Bodies: valid ones of every shape, and each field replaced in turn by values of every JSON type and at every limit
(blank, whitespace, too short, too long, NUL, surrogate, unknown code, null, booleans for numbers …).
"""

import copy
import json
from http import HTTPStatus

import pytest
from django.contrib.auth.models import AnonymousUser
from django.db import connection
from django.test.utils import CaptureQueriesContext
from rest_framework.test import APIClient

from issues.api import serializers as s
from issues.api.serializers import IssueSubmitSerializer
from tests.api.test_issues_support import DESCRIPTION, REPORTER_PHONE
from tests.api.test_lean import token_client

pytestmark = pytest.mark.django_db

TEXT_LIMITS = {"title": 200, "address": 300, "external_id": 100}
WEIRD = [None, "", "   ", 0, 7, 1.5, True, False, [], {}, ["x"], {"a": 1}, "a\x00b", "a\ud800b"]


@pytest.fixture
def places(territory, other_territory, category):
    return {
        "grid": territory["grid"].code,
        "building": territory["building"].code,
        "other_grid": other_territory["grid"].code,
        "category": category.code,
    }


def _valid_bodies(places) -> list[dict]:
    point = {"lat": 25.825, "lng": 114.955}
    return [
        {"description": DESCRIPTION, "location": point},
        {"description": DESCRIPTION, "grid": places["grid"], "reporter": {"phone": REPORTER_PHONE}},
        {
            "description": f"  {DESCRIPTION}\n",
            "title": " 堆物 ",
            "kind": "suggestion",
            "category": places["category"],
            "urgent": True,
            "location": {"lat": 25, "lng": 114},
            "building": places["building"],
            "grid": places["grid"],
            "address": "12 号",
            "reporter": {"name": "刘洋", "phone": REPORTER_PHONE},
            "external_id": "wx-1",
            "channel": "web",
        },
        {"description": "12345", "building": places["building"], "category": None, "location": None, "reporter": {}},
    ]


def _mutations(places) -> list[dict]:
    bodies = []
    base = _valid_bodies(places)[2]
    values = {
        "description": [*WEIRD, "1234", "12345", " 1234 ", "x" * 4000, "x" * 4001, 12345, 123456.5],
        "title": [*WEIRD, "x" * 200, "x" * 201, " " + "x" * 200 + " "],
        "address": [*WEIRD, "x" * 300, "x" * 301],
        "external_id": [*WEIRD, "x" * 100, "x" * 101],
        "kind": [*WEIRD, "complaint", "Complaint", "nonsense"],
        "channel": [*WEIRD, "web", "hotline", "patrol", "on_behalf", "partner", "open311", "fax"],
        "category": [*WEIRD, places["category"], "no-such-category"],
        "grid": [*WEIRD, places["grid"], places["other_grid"], places["building"], "000", int(places["grid"])],
        "building": [*WEIRD, places["building"], places["grid"], "000"],
        "urgent": [*WEIRD, "true", "false", 1, "yes"],
        "location": [
            *WEIRD,
            {"lat": 25.8},
            {"lat": 25.8, "lng": 114.9, "alt": 3},
            {"lat": "25.8", "lng": 114.9},
            {"lat": True, "lng": 114.9},
            {"lat": 90, "lng": 180},
            {"lat": 90.0001, "lng": 0},
            {"lat": -90, "lng": -180.5},
            {"lat": None, "lng": 1},
            {"lat": 1e400, "lng": 1},
        ],
        "reporter": [
            *WEIRD,
            {"name": "x" * 60},
            {"name": "x" * 61},
            {"phone": "123"},
            {"phone": " 13812345678 "},
            {"phone": "+86 138 1234 5678"},
            {"phone": "x" * 21},
            {"phone": ""},
            {"phone": None},
            {"name": 5},
            {"nick": "a"},
        ],
        "photos": [[], None],
        "unknown": ["x"],
    }
    for name, choices in values.items():
        for value in choices:
            body = copy.deepcopy(base)
            body[name] = value
            bodies.append(body)
    for name in base:
        body = copy.deepcopy(base)
        del body[name]
        bodies.append(body)
    bodies += [[], "text", 5, None, {}]
    return bodies


def _context(user):
    return {"request": type("Request", (), {"user": user})()}


def _plain(data):
    if isinstance(data, dict):
        return {key: _plain(value) for key, value in data.items()}
    return data


@pytest.mark.parametrize("who", ["anonymous", "resident"])
def test_the_plain_check_accepts_only_what_drf_accepts_and_to_the_same_data(places, resident, who):
    user = AnonymousUser() if who == "anonymous" else resident
    answered = 0
    bodies = _valid_bodies(places) + _mutations(places)
    for body in bodies:
        plain = IssueSubmitSerializer(data=copy.deepcopy(body), context=_context(user))
        validated = plain.validated_plainly()
        if validated is None:
            continue  # DRF decides, as before
        answered += 1
        drf = IssueSubmitSerializer(data=copy.deepcopy(body), context=_context(user))
        valid = drf.is_valid()
        assert valid, (body, drf.errors)
        assert _plain(validated) == _plain(drf.validated_data), body
        assert plain.submit_kwargs() == drf.submit_kwargs()
    assert answered >= 40  # the plain path serves the common bodies: of 249 here, 43 anonymous and 49 signed in
    if who == "resident":
        for body in _valid_bodies(places):
            assert IssueSubmitSerializer(data=body, context=_context(user)).validated_plainly() is not None, body


def _post(client, body):
    # json.dumps writes a lone surrogate as its \\u escape, which the API's parser reads back.
    return client.generic("POST", "/api/v1/issues/", data=json.dumps(body), content_type="application/json")


@pytest.mark.parametrize("who", ["anonymous", "resident"])
def test_refused_bodies_answer_the_same_bytes_as_before(places, resident, monkeypatch, who):
    from issues.api.views import IssueViewSet

    monkeypatch.setattr(IssueViewSet, "get_throttles", lambda self: [])  # hundreds of posts from one address
    client = APIClient() if who == "anonymous" else token_client(resident)
    refused = 0
    for body in _mutations(places):
        now = _post(client, body)
        if now.status_code == HTTPStatus.CREATED:
            continue
        with monkeypatch.context() as patched:
            patched.setattr(s.IssueSubmitSerializer, "validated_plainly", lambda self: None)  # DRF alone, as before
            before = _post(client, body)
        refused += 1
        assert (now.status_code, now.content) == (before.status_code, before.content), body
    assert refused >= 60


def test_a_warm_create_from_a_point_is_a_fixed_number_of_queries(territory, community_staff):
    client = token_client(community_staff)
    body = {"description": DESCRIPTION, "location": {"lat": 25.825, "lng": 114.955}}
    client.post("/api/v1/issues/", body, format="json")  # the token, the scope and the subscribed types remembered
    with CaptureQueriesContext(connection) as queries:
        response = client.post("/api/v1/issues/", body, format="json")
    assert response.status_code == HTTPStatus.CREATED
    sql = [q["sql"] for q in queries.captured_queries]
    work = [q for q in sql if not q.startswith(("SAVEPOINT", "RELEASE SAVEPOINT", "BEGIN", "COMMIT"))]
    # The number; the issue and its event; the rollup's rows and the issue's entry (each pair one statement on
    # PostgreSQL, and both sent together as a transaction of their own: nobody else hears of it); no row lock and no
    # read for the rollup (the new issue is nobody else's yet, its counts are in memory); no read of the token, the
    # user, the scope, the place, webhook endpoints, nor of the staff who hear of it (orgs.staff_cache).
    assert len(work) == (2 if connection.vendor == "postgresql" else 5), sql
    assert not [q for q in work if "orgs_membership" in q]
    assert len(sql) - len(work) <= 2  # the transaction
