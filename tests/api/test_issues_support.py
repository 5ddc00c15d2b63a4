"""Helpers shared by the issue API tests: clients per caller, a partner app, issues driven to each state.

Issues are put in a state through issues.workflow (never by assigning `status`), so every test starts from a
history the real system could have produced.
"""

import io

from django.core.cache import cache
from PIL import Image
from rest_framework.test import APIClient

from issues.models import Issue
from orgs.models import ApiKey, PartnerApp
from tests.factories import UserFactory, issue_in_status

REPORTER_NAME = "刘洋"
REPORTER_PHONE = "13812345678"
MASKED_NAME = "刘*"
MASKED_PHONE = "138****5678"
DESCRIPTION = "楼道里堆满了旧家具，挡住了消防通道"


def client_for(user=None) -> APIClient:
    """Return an API client signed in as `user` (anonymous when None); throttle counters start from zero."""
    cache.clear()
    client = APIClient()
    if user is not None:
        client.force_authenticate(user)
    return client


def partner_client(raw_key: str) -> APIClient:
    """Return an API client that authenticates with a partner app's key, as partners do."""
    cache.clear()
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Api-Key {raw_key}")
    return client


def make_partner(*, area, slug="hotline") -> tuple[PartnerApp, str]:
    """Return a partner app scoped to `area` and the raw value of its key."""
    user = UserFactory(username=f"partner-{slug}")
    partner = PartnerApp.objects.create(slug=slug, name=slug, user=user, area=area)
    _, raw = ApiKey.issue(partner=partner)
    return partner, raw


def submit_body(territory, **overrides) -> dict:
    """Return a valid submission body located in the territory's grid."""
    body = {
        "description": DESCRIPTION,
        "title": "楼道堆物",
        "kind": "complaint",
        "grid": territory["grid"].code,
        "address": "金东南路 12 号 3 栋",
        "reporter": {"name": REPORTER_NAME, "phone": REPORTER_PHONE},
    }
    body.update(overrides)
    return body


def issue_in(
    status: str,
    *,
    reporter,
    territory,
    community_staff=None,
    department=None,
    department_staff=None,
    category=None,
) -> Issue:
    """Return an issue reported by `reporter` in the territory's grid, driven to `status` (tests.factories)."""
    issue = issue_in_status(
        status,
        reporter=reporter,
        place=territory["grid"],
        triage=community_staff,
        category=category,
        handler=department_staff,
        department=department,
        description=DESCRIPTION,
        reporter_name=REPORTER_NAME,
        reporter_phone=REPORTER_PHONE,
    )
    return Issue.objects.get(pk=issue.pk)


def png_file(name="photo.png", color=(200, 30, 30)):
    """Return a small real PNG as an uploaded file."""
    buffer = io.BytesIO()
    Image.new("RGB", (32, 24), color).save(buffer, "PNG")
    buffer.seek(0)
    buffer.name = name
    return buffer


def error_code(response) -> str:
    return response.json()["error"]["code"]
