"""accounts.services: a phone proved by a one-time code (hashed, 10 minutes, 5 tries, once), limits, the account."""

from datetime import timedelta

import pytest
from django.contrib.auth import get_user_model
from django.core.cache import cache
from django.utils import timezone

from accounts.models import PhoneVerification
from accounts.services import phone_code_send, phone_normalize, resident_signup
from issues.errors import ValidationFailed
from notifications.models import Contact
from tests.accounts.conftest import code_sent_to

pytestmark = pytest.mark.django_db

PHONE = "13812345678"
PASSWORD = "lanterns-by-the-river-42"
User = get_user_model()


def refused(field, call) -> str:
    with pytest.raises(ValidationFailed) as error:
        call()
    assert list(error.value.fields) == [field]
    return error.value.fields[field][0]


def signup(code, *, username="liuyang", password=PASSWORD, phone=PHONE, now=None):
    return resident_signup(phone=phone, code=code, username=username, password=password, now=now)


def next_minute():
    """Let the one-code-a-minute limit pass (it lives in the cache)."""
    cache.clear()


def test_the_code_reaches_the_phone_and_signs_up_a_resident_with_that_phone(sms_outbox):
    verification = phone_code_send(phone="+86 138-1234-5678", address="203.0.113.7")
    code = code_sent_to(sms_outbox, PHONE)

    assert sms_outbox[-1]["message_id"] == f"phone-code-{verification.pk}"
    assert code not in verification.code_hash and len(verification.code_hash) == 64
    lifetime = verification.expires_at - verification.created_at
    assert timedelta(minutes=10) - timedelta(seconds=1) < lifetime <= timedelta(minutes=10)
    user = signup(code)
    assert user.check_password(PASSWORD) and user.username == "liuyang"
    assert Contact.objects.get(user=user).phone == PHONE
    assert Contact.objects.get(user=user).language == "en"
    assert not user.memberships.exists() and not user.is_staff


def test_the_console_backend_prints_the_code(settings, capsys):
    settings.GRIDDESK_SMS_BACKEND = "notifications.sms.ConsoleSmsBackend"
    phone_code_send(phone=PHONE, address=None)
    out = capsys.readouterr().out
    assert f"to {PHONE}: GridDesk sign-up code: " in out
    code = out.split("sign-up code: ")[1][:6]
    assert signup(code).username == "liuyang"


def test_a_wrong_code_counts_a_try_and_creates_nothing(sms_outbox):
    phone_code_send(phone=PHONE, address=None)
    right = code_sent_to(sms_outbox, PHONE)
    wrong = f"{(int(right) + 1) % 1000000:06d}"

    assert refused("code", lambda: signup(wrong)) == "Wrong code: 4 tries left."
    assert PhoneVerification.objects.get().wrong_tries == 1
    assert not User.objects.exists()
    assert signup(right).username == "liuyang"


def test_five_wrong_tries_spend_the_code(sms_outbox):
    phone_code_send(phone=PHONE, address=None)
    right = code_sent_to(sms_outbox, PHONE)
    wrong = f"{(int(right) + 1) % 1000000:06d}"
    messages = [refused("code", lambda: signup(wrong)) for _ in range(5)]

    assert messages[-2:] == ["Wrong code: 1 try left.", "Too many wrong codes: ask for a new one."]
    assert refused("code", lambda: signup(right)) == "Too many wrong codes: ask for a new one."
    assert PhoneVerification.objects.get().wrong_tries == 5
    assert not User.objects.exists()


def test_an_expired_code_is_refused(sms_outbox):
    phone_code_send(phone=PHONE, address=None)
    code = code_sent_to(sms_outbox, PHONE)
    later = timezone.now() + timedelta(minutes=10, seconds=1)

    assert refused("code", lambda: signup(code, now=later)) == "This code has expired: ask for a new one."
    assert not User.objects.exists()


def test_a_code_signs_up_once(sms_outbox):
    phone_code_send(phone=PHONE, address=None)
    code = code_sent_to(sms_outbox, PHONE)
    signup(code)

    assert refused("code", lambda: signup(code, username="second")) == "This code was already used: ask for a new one."
    assert list(User.objects.values_list("username", flat=True)) == ["liuyang"]


def test_only_the_newest_code_counts(sms_outbox):
    phone_code_send(phone=PHONE, address=None)
    first = code_sent_to(sms_outbox, PHONE)
    next_minute()
    phone_code_send(phone=PHONE, address=None)
    newest = code_sent_to(sms_outbox, PHONE)
    if first != newest:
        assert refused("code", lambda: signup(first)).startswith("Wrong code")
    assert signup(newest).username == "liuyang"


def test_a_weak_password_or_taken_username_spends_neither_a_try_nor_the_code(sms_outbox):
    User.objects.create_user(username="LiuYang", password=PASSWORD)
    phone_code_send(phone=PHONE, address=None)
    code = code_sent_to(sms_outbox, PHONE)

    assert refused("password", lambda: signup(code, username="new", password="12345678")) == (
        "This password is too common."
    )
    assert refused("username", lambda: signup(code)) == "This username is taken: choose another."
    assert refused("username", lambda: signup(code, username="has space")).startswith("Enter a valid username.")
    assert PhoneVerification.objects.get().wrong_tries == 0
    assert signup(code, username="liuyang2").username == "liuyang2"


def test_one_code_a_minute_and_five_an_hour_per_phone(sms_outbox):
    phone_code_send(phone=PHONE, address=None)
    assert refused("phone", lambda: phone_code_send(phone=PHONE, address=None)).startswith("A code was just sent")
    for _ in range(4):
        next_minute()
        phone_code_send(phone=PHONE, address=None)
    next_minute()
    assert refused("phone", lambda: phone_code_send(phone=PHONE, address=None)) == (
        "Too many codes for this number: try again in an hour."
    )
    assert len(sms_outbox) == 5


def test_ten_codes_an_hour_per_address(sms_outbox):
    for n in range(10):
        phone_code_send(phone=f"1390000{n:04d}", address="203.0.113.7")
    assert refused("phone", lambda: phone_code_send(phone="13900009999", address="203.0.113.7")) == (
        "Too many codes asked from this network: try again in an hour."
    )
    assert phone_code_send(phone="13900009999", address="198.51.100.1").phone == "13900009999"
    assert len(sms_outbox) == 11


def test_a_gateway_failure_is_an_error_on_phone_and_costs_nothing(settings):
    settings.GRIDDESK_SMS_BACKEND = "notifications.sms.HttpSmsBackend"
    settings.GRIDDESK_SMS_GATEWAY_URL = ""
    assert refused("phone", lambda: phone_code_send(phone=PHONE, address=None)) == (
        "The code could not be sent: try again in a minute."
    )
    assert not PhoneVerification.objects.exists()


@pytest.mark.parametrize(
    ("given", "expected"),
    [("13812345678", PHONE), ("+8613812345678", PHONE), ("138 1234 5678", PHONE), ("138-1234-5678", PHONE)],
)
def test_phone_numbers_are_written_as_eleven_digits(given, expected):
    assert phone_normalize(given) == expected


@pytest.mark.parametrize("given", ["", "0797-1234567", "12812345678", "1381234567", "phone"])
def test_other_phone_numbers_are_refused(given):
    refused("phone", lambda: phone_normalize(given))
