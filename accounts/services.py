"""Sign-up for residents: prove a phone number with a one-time code sent by SMS, then create the account.

The rules, all here (the pages only parse and call):

- a code is 6 random digits, sent through the configured SMS backend (notifications.sms; the console backend in
  the demo prints it), stored only as an HMAC under the site's secret, valid for CODE_TTL;
- asking is limited per phone (one code a minute, CODES_PER_PHONE an hour) and per client address
  (CODES_PER_ADDRESS an hour), so nobody floods a stranger's phone or our gateway;
- only the newest code of a phone counts; it allows MAX_WRONG_TRIES wrong tries, then it is spent; a right code
  is used once;
- the username and password are checked (Django's validators) before the code is tried, so a weak password does
  not spend a try or the code.

Refusals are config.errors.ValidationFailed naming the form field (`phone`, `code`, `username`, `password`). Like
the workflow's, their messages are English and stable; the catalogue translates them where a page shows them
(config.pages.form_refuse). The text of the SMS is in the active language.
"""

import re
import secrets
from datetime import datetime, timedelta
from http import HTTPStatus

from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.password_validation import validate_password
from django.core.cache import cache
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone, translation
from django.utils.crypto import constant_time_compare, salted_hmac
from django.utils.translation import gettext, gettext_noop

from accounts.models import PhoneVerification
from config.errors import ValidationFailed
from notifications.models import Contact
from notifications.sms import SmsError, get_sms_backend

CODE_DIGITS = 6
CODE_TTL = timedelta(minutes=10)
MAX_WRONG_TRIES = 5
CODE_INTERVAL = timedelta(minutes=1)
CODES_PER_PHONE = 5  # an hour
CODES_PER_ADDRESS = 10  # an hour
HOUR = timedelta(hours=1)
LANGUAGES = dict(settings.LANGUAGES)
# What a wrong code says, by the tries left (each a whole sentence, so that the catalogue translates it).
WRONG_CODE = {
    4: gettext_noop("Wrong code: 4 tries left."),
    3: gettext_noop("Wrong code: 3 tries left."),
    2: gettext_noop("Wrong code: 2 tries left."),
    1: gettext_noop("Wrong code: 1 try left."),
    0: gettext_noop("Too many wrong codes: ask for a new one."),
}
# Mainland mobile numbers (the ones an SMS reaches), written with or without +86, spaces or dashes.
MOBILE = re.compile(r"^1[3-9][0-9]{9}$")


class CodeThrottled(ValidationFailed):
    """Refuse a code asked too often (per phone or per address): the page answers 429, beside the phone."""

    status = HTTPStatus.TOO_MANY_REQUESTS


def phone_normalize(value: str, *, field: str = "phone") -> str:
    """Return the 11-digit mobile number in `value` ("+86 138-1234-5678" → "13812345678"), or refuse it."""
    digits = re.sub(r"[\s-]", "", value or "")
    if digits.startswith("+86"):
        digits = digits[3:]
    if not digits:
        raise ValidationFailed.on(field, gettext_noop("This field is required."))
    if not MOBILE.match(digits):
        raise ValidationFailed.on(field, gettext_noop("Enter a mobile phone number of 11 digits."))
    return digits


def _code_hash(*, phone: str, code: str) -> str:
    return salted_hmac("griddesk.accounts.phone-code", f"{phone}:{code}", algorithm="sha256").hexdigest()


def phone_code_send(*, phone: str, address: str | None, now: datetime | None = None) -> PhoneVerification:
    """Send a new one-time code to `phone` (limits per phone and per address apply); return its verification row."""
    phone = phone_normalize(phone)
    now = now or timezone.now()
    recent = PhoneVerification.objects.filter(created_at__gte=now - HOUR)
    if recent.filter(phone=phone).count() >= CODES_PER_PHONE:
        raise CodeThrottled.on("phone", gettext_noop("Too many codes for this number: try again in an hour."))
    if address and recent.filter(requested_from=address).count() >= CODES_PER_ADDRESS:
        raise CodeThrottled.on("phone", gettext_noop("Too many codes asked from this network: try again in an hour."))
    # One code a minute per phone, claimed atomically in the shared cache (two quick clicks send one code).
    if not cache.add(f"accounts:phone-code:{phone}", 1, timeout=int(CODE_INTERVAL.total_seconds())):
        raise CodeThrottled.on(
            "phone", gettext_noop("A code was just sent to this number: wait a minute before asking again.")
        )

    code = f"{secrets.randbelow(10**CODE_DIGITS):0{CODE_DIGITS}d}"
    verification = PhoneVerification.objects.create(
        phone=phone, code_hash=_code_hash(phone=phone, code=code), requested_from=address, expires_at=now + CODE_TTL
    )
    text = gettext("GridDesk sign-up code: %(code)s. It is valid for 10 minutes; do not share it.") % {"code": code}
    try:
        get_sms_backend().send(to=phone, text=text, message_id=f"phone-code-{verification.pk}")
    except SmsError:
        verification.delete()  # never sent: it must not count against the limits nor be tried
        cache.delete(f"accounts:phone-code:{phone}")
        raise ValidationFailed.on("phone", gettext_noop("The code could not be sent: try again in a minute.")) from None
    return verification


def _code_consume(*, phone: str, code: str, now: datetime) -> str | None:
    """Use the newest code of `phone` if `code` is it; count a wrong try. Return why it was refused, or None.

    Call inside a transaction that commits even when the sign-up is refused (the wrong try must stay counted).
    """
    verification = (
        PhoneVerification.objects.select_for_update().filter(phone=phone).order_by("-created_at", "-id").first()
    )
    if verification is None:
        return gettext_noop("Ask for a code first.")
    if verification.used_at is not None:
        return gettext_noop("This code was already used: ask for a new one.")
    if verification.wrong_tries >= MAX_WRONG_TRIES:
        return gettext_noop("Too many wrong codes: ask for a new one.")
    if verification.expires_at <= now:
        return gettext_noop("This code has expired: ask for a new one.")
    if not constant_time_compare(verification.code_hash, _code_hash(phone=phone, code=code.strip())):
        verification.wrong_tries += 1
        verification.save(update_fields=["wrong_tries"])
        return WRONG_CODE[MAX_WRONG_TRIES - verification.wrong_tries]
    verification.used_at = now
    verification.save(update_fields=["used_at"])
    return None


def _username_check(username: str) -> str:
    User = get_user_model()
    username = (username or "").strip()
    if not username:
        raise ValidationFailed.on("username", gettext_noop("This field is required."))
    field = User._meta.get_field(User.USERNAME_FIELD)
    try:
        field.run_validators(username)
    except ValidationError as exc:
        raise ValidationFailed("", fields={"username": list(exc.messages)}) from None
    if User.objects.filter(**{f"{User.USERNAME_FIELD}__iexact": username}).exists():
        raise ValidationFailed.on("username", gettext_noop("This username is taken: choose another."))
    return username


def resident_signup(*, phone: str, code: str, username: str, password: str, now: datetime | None = None):
    """Create a resident's account once `code` proves `phone`; the phone goes on their contact. Return the user."""
    now = now or timezone.now()
    phone = phone_normalize(phone)
    username = _username_check(username)
    User = get_user_model()
    try:
        validate_password(password, user=User(username=username))
    except ValidationError as exc:
        raise ValidationFailed("", fields={"password": list(exc.messages)}) from None
    if not (code or "").strip():
        raise ValidationFailed.on("code", gettext_noop("This field is required."))

    try:
        with transaction.atomic():
            refused = _code_consume(phone=phone, code=code, now=now)
            if refused is None:
                user = User.objects.create_user(username=username, password=password)
                language = translation.get_language() or ""
                Contact.objects.create(user=user, phone=phone, language=language if language in LANGUAGES else "")
    except IntegrityError:
        # Someone took the username since it was checked: nothing was written, the code is still good.
        raise ValidationFailed.on("username", gettext_noop("This username is taken: choose another.")) from None
    if refused is not None:
        raise ValidationFailed.on("code", refused)
    return user
