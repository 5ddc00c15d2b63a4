"""The reporter of the original issue hears of a duplicate about their own report, not the other one."""

import pytest
from django.test import Client

from issues import workflow
from notifications.models import Channel, Notification
from tests.factories import issue_in_status

pytestmark = pytest.mark.django_db


@pytest.fixture
def original_and_copy(resident, other_resident, community_staff, territory):
    original = issue_in_status("submitted", reporter=resident, place=territory["grid"])
    copy = issue_in_status(
        "submitted",
        reporter=other_resident,
        place=territory["grid"],
        description="Other resident's words: call me at 13812345678",
    )
    workflow.issue_reject(issue=copy, actor=community_staff, reason="duplicate", duplicate_of=original)
    return original, copy


def test_duplicate_linked_names_and_links_the_original_reporters_own_report(original_and_copy, resident):
    original, copy = original_and_copy
    [notice] = Notification.objects.filter(recipient=resident, channel=Channel.INBOX, kind="issue.duplicate_linked")
    assert notice.issue_id == original.pk
    assert notice.payload["number"] == original.number
    # Nothing of the other reporter's issue that the original's reporter cannot see is stored for them.
    assert "13812345678" not in str(notice.payload)


def test_duplicate_linked_inbox_row_points_at_an_issue_its_reader_can_open(original_and_copy, resident):
    original, _copy = original_and_copy
    client = Client()
    client.force_login(resident)
    [row] = client.get("/api/v1/notifications/").json()["results"]
    assert row["kind"] == "issue.duplicate_linked"
    assert row["issue"] == {"id": str(original.pk), "number": original.number}
    assert original.number in row["body"]
    assert client.get(f"/api/v1/issues/{row['issue']['id']}/").status_code == 200
