"""Reporters of both hear the outcome of a duplicate: the original's resolution reaches the duplicates' reporters."""

import pytest

from issues import workflow
from notifications.messages import message_render
from notifications.models import Notification
from tests.factories import issue_in_status

pytestmark = pytest.mark.django_db


@pytest.fixture
def original_and_duplicate(territory, resident, other_resident, community_staff, category):
    """Return (original, duplicate): the same stairwell, reported twice; the second rejected as a duplicate."""
    original = issue_in_status(
        "dispatched",
        reporter=resident,
        place=territory["grid"],
        triage=community_staff,
        category=category,
        reporter_phone="13912345678",
    )
    duplicate = issue_in_status("submitted", reporter=other_resident, place=territory["grid"])
    duplicate = workflow.issue_reject(issue=duplicate, actor=community_staff, reason="duplicate", duplicate_of=original)
    return original, duplicate


def _resolve(original, handler):
    original = workflow.issue_accept(issue=original, actor=handler)
    return workflow.issue_resolve(issue=original, actor=handler, note="杂物已清走")


def test_the_duplicates_reporter_hears_when_the_original_is_resolved(
    original_and_duplicate, other_resident, chengguan_staff
):
    original, duplicate = original_and_duplicate
    _resolve(original, chengguan_staff)
    [told] = Notification.objects.filter(recipient=other_resident, kind="issue.duplicate_resolved", channel="inbox")
    assert told.issue_id == duplicate.pk  # about their own report, which they may read
    assert told.payload["number"] == duplicate.number
    assert original.number not in str(told.payload) and "13912345678" not in str(told.payload)
    assert duplicate.number in message_render(kind=told.kind, payload=told.payload, language="zh-hans").body


def test_nobody_hears_it_twice_and_other_changes_do_not_tell_them(
    original_and_duplicate, territory, other_resident, community_staff, chengguan_staff
):
    original, _ = original_and_duplicate
    second = issue_in_status("submitted", reporter=other_resident, place=territory["grid"])
    workflow.issue_reject(issue=second, actor=community_staff, reason="duplicate", duplicate_of=original)
    original = workflow.issue_accept(issue=original, actor=chengguan_staff)
    assert not Notification.objects.filter(kind="issue.duplicate_resolved").exists()
    resolved = workflow.issue_resolve(issue=original, actor=chengguan_staff, note="done")
    assert resolved.status == "resolved"
    assert (
        Notification.objects.filter(recipient=other_resident, kind="issue.duplicate_resolved", channel="inbox").count()
        == 1
    )


def test_an_inactive_reporter_is_not_told(original_and_duplicate, other_resident, chengguan_staff):
    original, _ = original_and_duplicate
    other_resident.is_active = False
    other_resident.save(update_fields=["is_active"])
    _resolve(original, chengguan_staff)
    assert not Notification.objects.filter(kind="issue.duplicate_resolved").exists()
