"""notifications.outbox remembers which webhook types partners subscribe to, so an event nobody subscribed to reads
no endpoints; a subscription made, changed or removed, or a partner app (de)activated, is heard by the next event."""

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from issues import workflow
from notifications.models import Channel, Notification, WebhookEndpoint

pytestmark = pytest.mark.django_db

DESCRIPTION = "楼道里堆满了旧家具，挡住了消防通道"


def _submit(partner, territory):
    """Submit as the partner app (a partner hears of what it submitted)."""
    return workflow.issue_submit(
        actor=partner.user, description=DESCRIPTION, grid=territory["grid"].code, reporter_phone="13812345678"
    )


def _webhook_rows(issue) -> int:
    return Notification.objects.filter(issue=issue, channel=Channel.WEBHOOK).count()


def test_a_submission_nobody_subscribed_to_reads_no_endpoints(partner, territory):
    _submit(partner, territory)  # the subscribed types are read once, then remembered
    with CaptureQueriesContext(connection) as queries:
        _submit(partner, territory)
    assert not [q for q in queries.captured_queries if WebhookEndpoint._meta.db_table in q["sql"]]


def test_an_endpoint_subscribed_after_the_types_were_remembered_hears_the_next_submission(
    partner, endpoint_for, territory
):
    assert _webhook_rows(_submit(partner, territory)) == 0
    endpoint = endpoint_for("https://partner.example/hooks", events=["issue.status_changed"])
    assert _webhook_rows(_submit(partner, territory)) == 0  # subscribed to another type
    endpoint.events = ["issue.created"]
    endpoint.save()
    assert _webhook_rows(_submit(partner, territory)) == 1


def test_an_endpoint_or_a_partner_app_switched_off_and_on_is_heard_at_once(partner, endpoint_for, territory):
    endpoint = endpoint_for("https://partner.example/hooks")
    assert _webhook_rows(_submit(partner, territory)) == 1
    endpoint.is_active = False
    endpoint.save()
    assert _webhook_rows(_submit(partner, territory)) == 0
    endpoint.is_active = True
    endpoint.save()
    assert _webhook_rows(_submit(partner, territory)) == 1
    partner.is_active = False
    partner.save()
    assert _webhook_rows(_submit(partner, territory)) == 0
    partner.is_active = True
    partner.save()
    assert _webhook_rows(_submit(partner, territory)) == 1
    endpoint.delete()
    assert _webhook_rows(_submit(partner, territory)) == 0
