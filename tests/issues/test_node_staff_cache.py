"""The staff told of a submission are remembered per node between requests (orgs.staff_cache), and read again as
soon as a membership at or above the node is granted, moved or removed (orgs.signals)."""

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from issues import workflow
from issues.models import Notice
from notifications.models import Notification
from orgs.models import Membership, Role
from tests.factories import UserFactory, member

pytestmark = pytest.mark.django_db

TEXT = "Bags of rubbish piled in the stairwell."


def _told(issue) -> set[int]:
    return set(
        Notification.objects.filter(event__issue=issue, kind=Notice.SUBMITTED).values_list("recipient_id", flat=True)
    )


def _submit(resident, place):
    return workflow.issue_submit(actor=resident, description=TEXT, grid=place["grid"].code)


def test_the_second_submission_at_a_node_reads_no_membership(territory, resident, community_staff):
    assert _told(_submit(resident, territory)) == {community_staff.pk}
    with CaptureQueriesContext(connection) as queries:
        issue = _submit(resident, territory)
    assert not [q for q in queries.captured_queries if "orgs_membership" in q["sql"]]
    assert _told(issue) == {community_staff.pk}


def test_a_membership_granted_above_the_node_is_heard_at_once(territory, resident, community_staff):
    _submit(resident, territory)
    newcomer = member(UserFactory(username="newcomer"), Role.COMMUNITY_STAFF, area=territory["street"])
    assert _told(_submit(resident, territory)) == {community_staff.pk, newcomer.pk}


def test_a_membership_removed_or_moved_away_is_heard_at_once(territory, other_territory, resident, community_staff):
    mover = member(UserFactory(username="mover"), Role.COMMUNITY_STAFF, area=territory["community"])
    assert _told(_submit(resident, territory)) == {community_staff.pk, mover.pk}
    assert _told(_submit(resident, other_territory)) == set()
    membership = Membership.objects.get(user=mover)
    membership.area = other_territory["community"]
    membership.save()
    assert _told(_submit(resident, territory)) == {community_staff.pk}
    assert _told(_submit(resident, other_territory)) == {mover.pk}
    Membership.objects.filter(user=community_staff).delete()
    assert _told(_submit(resident, territory)) == set()
