"""Hot-spot fixtures: reports at a place and time, run through detection, and a partner listening to hot spots."""

from datetime import timedelta

import pytest
from django.utils import timezone

from issues import workflow
from issues.models import Issue, WebhookType
from notifications.models import WebhookEndpoint
from orgs.models import PartnerApp, Role
from tests.factories import UserFactory, member
from triage.hotspots import hotspot_detect

STAIRWELL = "Bags of rubbish piled in the stairwell."


@pytest.fixture
def report(resident, community_staff, category):
    """Return a function: a report at `place` (a grid or a building), created `ago` before now, classified into
    `category` (the fixture's by default; None: left submitted), run through detection unless `detect` is False."""
    # Local noon today: a burst of minutes never straddles midnight (a new day's first report creates its day row).
    now = timezone.localtime().replace(hour=12, minute=0, second=0, microsecond=0)
    default = category

    def report(place, *, ago=timedelta(0), detect=True, text=STAIRWELL, category=default):
        key = "building" if place.level == "building" else "grid"
        issue = workflow.issue_submit(actor=resident, description=text, **{key: place.code})
        if category is not None:
            issue = workflow.issue_classify(issue=issue, actor=community_staff, category=category)
        Issue.objects.filter(pk=issue.pk).update(created_at=now - ago)
        if detect:
            hotspot_detect(issue_id=issue.pk)
        return issue

    return report


@pytest.fixture
def partner_endpoint(territory):
    partner = PartnerApp.objects.create(
        slug="hot", name="Hot", user=UserFactory(username="svc_hot"), area=territory["district"]
    )
    member(partner.user, Role.COMMUNITY_STAFF, area=territory["community"])  # a partner that sees the community
    return WebhookEndpoint.objects.create(
        partner=partner,
        url="https://hot.example/h",
        events=[WebhookType.HOTSPOT_RAISED, WebhookType.HOTSPOT_CLOSED],
        secret="whsec_AAAA",
    )
