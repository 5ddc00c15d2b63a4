"""Fixtures of the page tests: inbox rows as notifications' outbox writes them."""

import pytest

from notifications.models import Channel, Notification


@pytest.fixture
def inbox_row():
    """Return a function that writes one inbox notification for a user (unread unless `read_at` is given)."""

    def make(user, *, number="GD-20261122-00001", kind="issue.resolved", channel=Channel.INBOX, read_at=None):
        return Notification.objects.create(
            kind=kind,
            channel=channel,
            recipient=user,
            payload={"number": number, "note": "楼道杂物已清理。"},
            read_at=read_at,
        )

    return make
