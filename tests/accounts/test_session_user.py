"""A session's user and the header's memberships are remembered between requests (accounts.session_user), and
forgotten when the user or a membership changes: Django's session check still decides who is signed in."""

from http import HTTPStatus

import pytest
from django.contrib.auth import HASH_SESSION_KEY
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext

from orgs.models import Role
from tests.factories import member

pytestmark = pytest.mark.django_db


def signed_in(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def tables_read(client, url="/my/") -> tuple[int, str, str]:
    """Return the status, the SQL and the page of a GET."""
    with CaptureQueriesContext(connection) as captured:
        response = client.get(url)
    return response.status_code, " ".join(q["sql"] for q in captured.captured_queries), response.content.decode()


def test_a_second_page_reads_neither_the_user_nor_the_memberships(resident):
    client = signed_in(resident)
    status, sql, _ = tables_read(client)
    assert status == HTTPStatus.OK and '"auth_user"' in sql and '"orgs_membership"' in sql
    status, sql, html = tables_read(client)
    assert status == HTTPStatus.OK
    assert 'FROM "auth_user"' not in sql and 'FROM "orgs_membership"' not in sql
    assert 'id="current-user"' in html


def test_a_password_change_signs_the_remembered_session_out(resident):
    client = signed_in(resident)
    tables_read(client)
    resident.set_password("a new password 2026")
    resident.save()
    response = client.get("/my/")
    assert response.status_code == HTTPStatus.FOUND and "/login/" in response["Location"]


def test_a_deactivated_user_is_signed_out(resident):
    client = signed_in(resident)
    tables_read(client)
    resident.is_active = False
    resident.save()
    assert client.get("/my/").status_code == HTTPStatus.FOUND


def test_a_session_with_another_hash_is_not_taken_from_the_cache(resident):
    client = signed_in(resident)
    tables_read(client)
    session = client.session
    session[HASH_SESSION_KEY] = "0" * 64
    session.save()
    response = client.get("/my/")
    assert response.status_code == HTTPStatus.FOUND and "/login/" in response["Location"]


def test_a_membership_granted_shows_in_the_header_at_once(territory, resident):
    client = signed_in(resident)
    _, _, html = tables_read(client)
    assert 'id="desk-link"' not in html
    member(resident, Role.COMMUNITY_STAFF, area=territory["community"])
    _, sql, html = tables_read(client)
    assert 'id="desk-link"' in html and '"orgs_membership"' in sql
    _, sql, html = tables_read(client)
    assert 'id="desk-link"' in html and 'FROM "orgs_membership"' not in sql


def test_a_membership_removed_leaves_the_header(territory, resident):
    member(resident, Role.COMMUNITY_STAFF, area=territory["community"])
    client = signed_in(resident)
    tables_read(client)
    _, _, html = tables_read(client)
    assert 'id="desk-link"' in html
    resident.memberships.all().delete()
    _, _, html = tables_read(client)
    assert 'id="desk-link"' not in html
