"""The outbox's indexes: an endpoint's rows are found through the partial webhook index (people's rows have none)."""

import re

import pytest
from django.db import connection

from notifications.models import Notification

pytestmark = pytest.mark.django_db


@pytest.mark.skipif(connection.vendor != "postgresql", reason="query plans are PostgreSQL's")
def test_an_endpoints_rows_are_read_through_the_partial_webhook_index():
    with connection.cursor() as cursor:
        cursor.execute("SET LOCAL enable_seqscan = off")  # an empty table would be scanned otherwise
    for rows in (Notification.objects.filter(webhook_id__in=[1, 2]), Notification.objects.filter(webhook_id=1)):
        # The index by its own name (Django's full index was notifications_notification_webhook_id_…).
        assert re.search(r"\bnotification_webhook\b", rows.explain())


@pytest.mark.skipif(connection.vendor != "postgresql", reason="the catalog is PostgreSQL's")
def test_no_index_or_key_check_holds_the_outbox_by_event():
    """Nothing reads the outbox by event and events are never deleted: each row (a sweep writes 20,000) would write an
    index entry and look its event up at commit for nothing."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT indexdef FROM pg_indexes WHERE tablename = 'notifications_notification'")
        definitions = [definition for (definition,) in cursor.fetchall()]
        cursor.execute(
            "SELECT pg_get_constraintdef(oid) FROM pg_constraint"
            " WHERE conrelid = 'notifications_notification'::regclass AND contype = 'f'"
        )
        keys = [definition for (definition,) in cursor.fetchall()]
    assert definitions and keys  # the others are there
    assert not [definition for definition in definitions + keys if "event_id" in definition]
