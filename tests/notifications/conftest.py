"""Fixtures of the notification tests: a partner app with a webhook endpoint, Celery run inline, clean SMS outbox."""

import pytest

from config.celery_app import app as celery_app
from notifications import sms
from notifications.models import WebhookEndpoint
from notifications.webhooks import webhook_secret_new
from orgs.models import PartnerApp
from tests.factories import UserFactory


@pytest.fixture
def partner(territory):
    """Return the partner app `demo-partner`, scoped to the district, acting through its service user."""
    user = UserFactory(username="partner_service")
    return PartnerApp.objects.create(slug="demo-partner", name="Demo partner", user=user, area=territory["district"])


@pytest.fixture
def endpoint_for(partner):
    """Return a function that registers a webhook endpoint of the partner for `url`, for every event."""

    def make(url, events=WebhookEndpoint.EVENTS):
        return WebhookEndpoint.objects.create(
            partner=partner, url=url, events=list(events), secret=webhook_secret_new()
        )

    return make


@pytest.fixture
def celery_eager():
    """Run queued tasks inline (the outbox sweep then delivers in the test's own process)."""
    before = celery_app.conf.task_always_eager
    celery_app.conf.task_always_eager = True
    yield
    celery_app.conf.task_always_eager = before


@pytest.fixture
def sms_outbox(settings):
    settings.GRIDDESK_SMS_BACKEND = "notifications.sms.LocmemSmsBackend"
    sms.outbox.clear()
    yield sms.outbox
    sms.outbox.clear()
