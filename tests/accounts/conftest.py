"""Sign-up fixtures: SMS captured by the real locmem backend, English messages, a fresh outbox per test."""

import re

import pytest
from django.utils import translation

from notifications import sms


@pytest.fixture(autouse=True)
def sms_outbox(settings):
    """Send SMS through notifications.sms.LocmemSmsBackend and return its outbox, emptied for this test."""
    settings.GRIDDESK_SMS_BACKEND = "notifications.sms.LocmemSmsBackend"
    sms.outbox.clear()
    yield sms.outbox
    sms.outbox.clear()


@pytest.fixture(autouse=True)
def english():
    with translation.override("en"):
        yield


def code_sent_to(outbox, phone: str) -> str:
    """Return the code of the last message sent to `phone`."""
    message = [m for m in outbox if m["to"] == phone][-1]
    return re.search(r"\b(\d{6})\b", message["text"]).group(1)
