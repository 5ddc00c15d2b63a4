"""/signup/ and /signup/verify/: phone → code by SMS → code, username and password → signed in on /my/."""

from http import HTTPStatus

import pytest
from django.contrib.auth import get_user_model

from notifications.models import Contact
from tests.accounts.conftest import code_sent_to

pytestmark = pytest.mark.django_db

PHONE = "13812345678"
PASSWORD = "lanterns-by-the-river-42"


@pytest.fixture(autouse=True)
def english_pages(client):
    """Read the pages in English, as the language switch sets it (the django_language cookie)."""
    client.cookies["django_language"] = "en"


def account(code, **overrides):
    return {"code": code, "username": "liuyang", "password1": PASSWORD, "password2": PASSWORD, **overrides}


def ask_code(client, phone=PHONE):
    return client.post("/signup/", {"phone": phone})


def test_phone_then_code_creates_the_account_signed_in_on_my_issues(client, sms_outbox):
    response = ask_code(client, "138 1234 5678")
    assert (response.status_code, response["Location"]) == (HTTPStatus.FOUND, "/signup/verify/")
    page = client.get("/signup/verify/").content.decode()
    assert "138****5678" in page and PHONE not in page.split("<form")[0]

    response = client.post("/signup/verify/", account(code_sent_to(sms_outbox, PHONE)))
    assert (response.status_code, response["Location"]) == (HTTPStatus.FOUND, "/my/")
    user = get_user_model().objects.get(username="liuyang")
    assert Contact.objects.get(user=user).phone == PHONE
    assert client.get("/my/").context["user"] == user


def test_the_pages_label_every_field(client):
    html = client.get("/signup/").content.decode()
    assert '<label for="id_phone">Phone</label>' in html
    ask_code(client)
    html = client.get("/signup/verify/").content.decode()
    for field, label in [("code", "Code"), ("username", "Username"), ("password1", "Password"),
                         ("password2", "Password again")]:  # fmt: skip
        assert f'<label for="id_{field}">{label}</label>' in html


def test_a_wrong_code_shows_beside_the_code_and_keeps_the_username(client, sms_outbox):
    ask_code(client)
    right = code_sent_to(sms_outbox, PHONE)
    wrong = f"{(int(right) + 1) % 1000000:06d}"
    response = client.post("/signup/verify/", account(wrong))
    html = response.content.decode()
    assert response.status_code == HTTPStatus.BAD_REQUEST
    assert 'id="id_code-error"' in html and 'aria-describedby="id_code-error"' in html
    assert "Wrong code: 4 tries left." in html
    assert 'value="liuyang"' in html
    assert not get_user_model().objects.exists()


def test_a_weak_password_and_a_mismatch_show_beside_the_passwords(client, sms_outbox):
    ask_code(client)
    code = code_sent_to(sms_outbox, PHONE)
    html = client.post("/signup/verify/", account(code, password1="12345678", password2="12345678")).content.decode()
    assert 'id="id_password1-error"' in html and "This password is too common." in html
    html = client.post("/signup/verify/", account(code, password2="something-else-9")).content.decode()
    assert 'id="id_password2-error"' in html and "The two passwords differ." in html
    assert client.post("/signup/verify/", account(code)).status_code == HTTPStatus.FOUND


def test_asking_again_within_a_minute_is_429_beside_the_phone(client, sms_outbox):
    ask_code(client)
    response = ask_code(client)
    assert response.status_code == HTTPStatus.TOO_MANY_REQUESTS
    assert 'id="id_phone-error"' in response.content.decode()
    assert len(sms_outbox) == 1


def test_a_bad_phone_is_refused_beside_it_and_kept(client, sms_outbox):
    response = ask_code(client, "0797-12345")
    html = response.content.decode()
    assert response.status_code == HTTPStatus.BAD_REQUEST
    assert "Enter a mobile phone number of 11 digits." in html and 'value="0797-12345"' in html
    assert sms_outbox == []


def test_the_code_step_needs_a_phone_first_and_signed_in_users_skip_sign_up(client, resident):
    assert client.get("/signup/verify/")["Location"] == "/signup/"
    client.force_login(resident)
    assert client.get("/signup/")["Location"] == "/my/"
