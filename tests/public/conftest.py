"""Fixtures of the public board and area alerts: public, private, report and unseen issues in one community."""

import pytest

from issues import workflow
from orgs.models import ApiKey, PartnerApp
from tests.factories import UserFactory

# Every spelling of a phone number residents have typed (issue 13), each in a description and an address.
SPELLINGS = [
    "138.1234.5678",
    "138/1234/5678",
    "138  1234  5678",
    "+86 138 1234 5678",
    "+86-138-1234-5678",
    "(+86)13812345678",
    "0086 13812345678",
    "１３８１２３４５６７８",
    "１３８－１２３４－５６７８",
    "０７９７－８１２３４５６",
    "0797-8123456",
]


@pytest.fixture
def build(territory, resident, community_staff, category, chengguan_staff):
    """Return a function driving an issue of the resident at the building to `status` through the workflow."""

    def build(
        status, *, description="楼道里堆满了纸箱，请尽快清理。", kind=None, private=False, note="已清理完毕。", **fields
    ):
        w = workflow
        issue = w.issue_submit(
            actor=resident,
            description=description,
            building=territory["building"].code,
            address=fields.pop("address", "金东南路 12 号 3 栋"),
            reporter_name="刘阿姨",
            reporter_phone="13800138000",
            **fields,
        )
        if status == "submitted":
            return issue
        if status == "rejected":
            return w.issue_reject(issue=issue, actor=community_staff, reason="invalid")
        if private:  # at triage, before it is classified (and so before anyone is told of it)
            issue = w.issue_set_privacy(issue=issue, actor=community_staff, private=True, note="邻里纠纷")
        issue = w.issue_classify(
            issue=issue, actor=community_staff, category=category, **({"kind": kind} if kind else {})
        )
        if status == "classified":
            return issue
        issue = w.issue_dispatch(issue=issue, actor=community_staff, departments=["chengguan"])
        issue = w.issue_accept(issue=issue, actor=chengguan_staff)
        if status == "in_progress":
            return issue
        return w.issue_resolve(issue=issue, actor=chengguan_staff, note=note)

    return build


@pytest.fixture
def partner_key(territory):
    """Return (partner user, raw key) of a partner app over the district."""
    user = UserFactory(username="partner_public")
    app = PartnerApp.objects.create(slug="public-partner", name="Partner", user=user, area=territory["district"])
    _, raw = ApiKey.issue(partner=app, name="tests")
    return user, raw
