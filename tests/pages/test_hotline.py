"""/hotline/: a hotline operator takes a call and is back at a blank form with the number; nobody else may."""

from http import HTTPStatus

import pytest
from django.utils import translation

from issues.models import Issue
from orgs.models import Role
from tests.factories import AreaFactory, UserFactory, member

pytestmark = pytest.mark.django_db

HOTLINE = "/hotline/"


@pytest.fixture
def operator(territory):
    return member(UserFactory(username="hotline_operator"), Role.HOTLINE_OPERATOR, area=territory["street"])


@pytest.fixture
def call(territory, category):
    return {
        "phone": "13812345678",
        "name": "刘洋",
        "kind": "complaint",
        "category": category.code,
        "description": "楼道里堆满了旧家具，挡住了消防通道",
        "grid": territory["grid"].code,
        "address": "金东南路 12 号 3 栋",
    }


def signed_in(client, user):
    client.force_login(user)
    return client


def test_the_form_names_every_field_and_groups_the_grids_by_community(client, operator, territory, other_territory):
    with translation.override("en"):
        response = signed_in(client, operator).get(HOTLINE, HTTP_ACCEPT_LANGUAGE="en")
    html = response.content.decode()
    assert response.status_code == HTTPStatus.OK
    for field, label in [("phone", "Phone"), ("name", "Name"), ("kind", "Kind"), ("category", "Category"),
                         ("description", "Description"), ("grid", "Grid"), ("address", "Address")]:  # fmt: skip
        assert f'<label for="id_{field}">{label}</label>' in html
    assert 'name="phone"' in html and "autofocus" in html.split('name="phone"')[1].split(">")[0]
    community = territory["community"].name
    assert f'<optgroup label="{community}">' in html
    assert f'<option value="{territory["grid"].code}">{community} · {territory["grid"].name}</option>' in html
    assert f'<optgroup label="{other_territory["community"].name}">' in html
    assert '<button type="submit" class="primary">Submit</button>' in html
    # The order a call goes, which is the tab order: phone first, the address (where Enter submits) last.
    positions = [html.index(f'id="id_{f}"') for f in ("phone", "name", "kind", "category", "description", "grid",
                                                        "address")]  # fmt: skip
    assert positions == sorted(positions)


def test_a_call_becomes_a_hotline_issue_and_the_form_comes_back_blank_with_its_number(client, operator, call):
    client = signed_in(client, operator)
    response = client.post(HOTLINE, call)
    assert response.status_code == HTTPStatus.FOUND
    assert response["Location"] == HOTLINE

    issue = Issue.objects.get()
    assert (issue.channel, issue.reporter_user, issue.reporter_phone, issue.reporter_name) == (
        "hotline", operator, "13812345678", "刘洋"
    )  # fmt: skip
    assert (issue.grid_code, issue.category.code, issue.address) == (call["grid"], call["category"], call["address"])
    page = client.get(HOTLINE).content.decode()
    assert f'<a href="/issues/{issue.number}/">{issue.number}</a>' in page
    assert "13812345678" not in page and "旧家具" not in page  # blank again
    issue_page = client.get(f"/issues/{issue.number}/")
    assert issue_page.status_code == HTTPStatus.OK
    assert '<dd id="channel">12345热线</dd>' in issue_page.content.decode()


def test_bad_input_shows_beside_the_field_and_keeps_what_was_typed(client, operator, call):
    client = signed_in(client, operator)
    with translation.override("en"):
        response = client.post(HOTLINE, {**call, "phone": "call me", "description": "bad"}, HTTP_ACCEPT_LANGUAGE="en")
    html = response.content.decode()
    assert response.status_code == HTTPStatus.BAD_REQUEST
    assert 'id="id_phone-error"' in html and 'aria-describedby="id_phone-error"' in html
    assert 'id="id_description-error"' in html
    assert "Enter the caller&#x27;s phone number: digits, spaces or dashes." in html
    assert "金东南路 12 号 3 栋" in html and "刘洋" in html and 'value="call me"' in html
    assert not Issue.objects.exists()


def test_a_grid_outside_the_operators_territory_is_refused_beside_the_grid(client, territory, call):
    seat = member(UserFactory(username="grid_seat"), Role.HOTLINE_OPERATOR, area=territory["community"])
    elsewhere = AreaFactory(code="360702091001001", level="grid", parent=AreaFactory(
        code="360702091001", level="community", parent=territory["street"], name="金岭路社区"))  # fmt: skip
    response = signed_in(client, seat).post(HOTLINE, {**call, "grid": elsewhere.code})
    assert response.status_code == HTTPStatus.BAD_REQUEST
    assert 'id="id_grid-error"' in response.content.decode()
    assert not Issue.objects.exists()


def test_only_hotline_operators_take_calls(client, resident, community_staff, call):
    assert client.get(HOTLINE)["Location"].startswith("/accounts/login/")
    assert client.post(HOTLINE, call).status_code == HTTPStatus.FOUND
    for user in (resident, community_staff):
        client.force_login(user)
        assert client.get(HOTLINE).status_code == HTTPStatus.FORBIDDEN
        assert client.post(HOTLINE, call).status_code == HTTPStatus.FORBIDDEN
    assert not Issue.objects.exists()


def test_an_operator_lands_on_the_hotline_and_sees_its_link(client, operator):
    client = signed_in(client, operator)
    assert client.get("/")["Location"] == HOTLINE
    html = client.get(HOTLINE).content.decode()
    assert 'id="hotline-link"' in html and 'id="stats-link"' not in html
