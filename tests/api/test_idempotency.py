"""Idempotency-Key on POST /api/v1/issues/: a retry answers the first response and creates nothing.

Documented behaviour (API.md, OpenAPI): the same key from the same caller within 24 hours answers 201 with the
same issue and the header `Idempotent-Replayed: true`; the same key with a different body answers 422
`idempotency_key_reused`; only a created issue is remembered, so a refused request may be retried with its key.
"""

import threading
import time
from datetime import timedelta
from http import HTTPStatus

import pytest
from django.db import connection

from issues.models import Event, IdempotencyRecord, Issue, Photo
from issues.workflow import triage
from tests.api.test_issues_support import client_for, png_file, submit_body

ISSUES = "/api/v1/issues/"


def post(client, body, key, fmt="json"):
    return client.post(ISSUES, body, format=fmt, HTTP_IDEMPOTENCY_KEY=key)


def test_a_retry_with_the_same_key_answers_the_first_issue_and_creates_nothing(territory, resident):
    client = client_for(resident)

    first = post(client, submit_body(territory), "key-1")
    retry = post(client, submit_body(territory), "key-1")

    assert first.status_code == retry.status_code == HTTPStatus.CREATED
    assert retry.json()["id"] == first.json()["id"]
    assert retry.json()["number"] == first.json()["number"]
    assert retry["Idempotent-Replayed"] == "true"
    assert "Idempotent-Replayed" not in first
    assert Issue.objects.count() == 1
    assert Event.objects.filter(action="submit").count() == 1


def test_the_same_key_with_a_different_body_is_422_and_creates_nothing(territory, resident):
    client = client_for(resident)
    post(client, submit_body(territory), "key-1")

    response = post(client, submit_body(territory, description="另一件事：路灯坏了"), "key-1")

    assert response.status_code == HTTPStatus.UNPROCESSABLE_ENTITY
    assert response.json()["error"]["code"] == "idempotency_key_reused"
    assert Issue.objects.count() == 1


def test_keys_belong_to_their_caller(territory, resident, other_resident):
    a = post(client_for(resident), submit_body(territory), "shared-key")
    b = post(client_for(other_resident), submit_body(territory), "shared-key")

    assert a.status_code == b.status_code == HTTPStatus.CREATED
    assert a.json()["id"] != b.json()["id"]
    assert Issue.objects.count() == 2


def test_a_key_older_than_24_hours_creates_a_new_issue(territory, resident):
    client = client_for(resident)
    first = post(client, submit_body(territory), "key-1")
    IdempotencyRecord.objects.update(created_at=IdempotencyRecord.objects.get().created_at - timedelta(hours=25))

    again = post(client, submit_body(territory), "key-1")

    assert again.status_code == HTTPStatus.CREATED
    assert again.json()["id"] != first.json()["id"]
    assert Issue.objects.count() == 2
    assert IdempotencyRecord.objects.get().issue_id == Issue.objects.get(pk=again.json()["id"]).pk


def test_a_refused_request_is_not_remembered(territory, resident):
    client = client_for(resident)
    refused = post(client, submit_body(territory, grid="360702091005999"), "key-1")

    fixed = post(client, submit_body(territory), "key-1")

    assert refused.status_code == HTTPStatus.BAD_REQUEST
    assert fixed.status_code == HTTPStatus.CREATED
    assert Issue.objects.count() == 1
    assert IdempotencyRecord.objects.count() == 1


def test_a_refused_workflow_call_rolls_the_key_back_too(territory, resident):
    client = client_for(resident)
    nowhere = submit_body(territory, location={"lat": 30.0, "lng": 120.0})
    del nowhere["grid"]

    refused = post(client, nowhere, "key-1")

    assert refused.status_code == HTTPStatus.BAD_REQUEST
    assert IdempotencyRecord.objects.count() == 0
    assert Issue.objects.count() == 0


def test_a_multipart_retry_stores_the_photos_once(territory, resident, settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path
    client = client_for(resident)

    def body():
        return {"description": "楼道堆满杂物", "grid": territory["grid"].code, "photos": [png_file()]}

    first = post(client, body(), "photo-key", fmt="multipart")
    retry = post(client, body(), "photo-key", fmt="multipart")
    other_photo = post(
        client,
        {"description": "楼道堆满杂物", "grid": territory["grid"].code, "photos": [png_file(color=(1, 2, 3))]},
        "photo-key",
        fmt="multipart",
    )

    assert retry.json()["id"] == first.json()["id"]
    assert Photo.objects.count() == 1
    assert other_photo.status_code == HTTPStatus.UNPROCESSABLE_ENTITY


@pytest.mark.parametrize("key", ["", " ", "x" * 201, "bad\x07key"])
def test_an_unusable_key_is_400_naming_the_header(territory, resident, key):
    response = post(client_for(resident), submit_body(territory), key)

    assert response.status_code == HTTPStatus.BAD_REQUEST
    assert "Idempotency-Key" in response.json()["error"]["fields"]
    assert Issue.objects.count() == 0


@pytest.mark.skipif(connection.vendor != "postgresql", reason="needs PostgreSQL: concurrent writers on one table")
@pytest.mark.django_db(transaction=True)
def test_two_concurrent_requests_with_one_key_create_one_issue(territory, resident, monkeypatch):
    place = triage._place

    def slow_place(*args, **kwargs):
        # Hold the first submit transaction open (its key claimed) so that the second request arrives while it runs.
        place(*args, **kwargs)
        time.sleep(0.3)

    monkeypatch.setattr(triage, "_place", slow_place)
    start = threading.Barrier(2)
    responses = [None, None]

    def send(i):
        try:
            client = client_for(resident)
            start.wait()
            responses[i] = post(client, submit_body(territory), "same-key")
        finally:
            connection.close()

    threads = [threading.Thread(target=send, args=(i,)) for i in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()

    assert [r.status_code for r in responses] == [HTTPStatus.CREATED, HTTPStatus.CREATED]
    assert responses[0].json()["id"] == responses[1].json()["id"]
    assert Issue.objects.count() == 1
    assert Event.objects.filter(action="submit").count() == 1
    assert sorted(r.has_header("Idempotent-Replayed") for r in responses) == [False, True]
