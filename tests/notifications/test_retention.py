"""Retention: a reporter's name, phone and exact location go a configured number of days after closing; the issue,
an event saying so, and the statistics stay."""

from datetime import timedelta

import pytest
from django.utils import timezone

from issues.models import Event, Issue
from issues.retention import retention_sweep
from issues.stats import issue_stats
from notifications.models import Channel, Notification
from tests.factories import issue_in_status

pytestmark = pytest.mark.django_db


@pytest.fixture
def closed_issue(resident, community_staff, chengguan_staff, category, territory):
    return issue_in_status(
        "closed",
        reporter=resident,
        place=territory["grid"],
        triage=community_staff,
        category=category,
        handler=chengguan_staff,
        reporter_name="刘洋",
        reporter_phone="13812345678",
        lat=25.825,
        lng=114.955,
        address="3栋2单元401",
    )


def test_personal_data_is_removed_after_the_retention_days_with_an_event(closed_issue, settings, territory):
    settings.GRIDDESK_RETENTION_DAYS = 30
    day = timezone.localdate()
    stats_before = issue_stats(area=territory["district"], date_from=day, date_to=day)
    assert retention_sweep(now=closed_issue.closed_at + timedelta(days=29)) == 0
    assert retention_sweep(now=closed_issue.closed_at + timedelta(days=31)) == 1

    issue = Issue.objects.get(pk=closed_issue.pk)
    assert (issue.reporter_name, issue.reporter_phone, issue.lat, issue.lng, issue.address) == ("", "", None, None, "")
    assert (issue.status, issue.grid_code, issue.description) == (
        "closed",
        closed_issue.grid_code,
        closed_issue.description,
    )
    assert issue.personal_data_removed_at is not None
    event = Event.objects.get(issue=issue, action="retention")
    assert event.actor is None
    assert set(event.data["removed"]) == {"reporter_name", "reporter_phone", "lat", "lng", "address"}
    assert issue_stats(area=territory["district"], date_from=day, date_to=day) == stats_before


def test_retention_removes_the_reporter_from_sent_webhook_bodies(partner, endpoint_for, territory, settings):
    endpoint_for("https://partner.example/hooks")
    issue = issue_in_status("submitted", reporter=partner.user, place=territory["grid"], reporter_phone="13812345678")
    n = Notification.objects.get(issue=issue, channel=Channel.WEBHOOK)
    assert "13812345678" in n.payload["body"]
    Notification.objects.filter(pk=n.pk).update(status=Notification.Status.SENT)
    Issue.objects.filter(pk=issue.pk).update(status=Issue.Status.REJECTED, closed_at=timezone.now())
    assert retention_sweep(now=timezone.now() + timedelta(days=settings.GRIDDESK_RETENTION_DAYS + 1)) == 1
    assert Notification.objects.get(pk=n.pk).payload == {}


def test_retention_runs_once(closed_issue, settings):
    later = closed_issue.closed_at + timedelta(days=settings.GRIDDESK_RETENTION_DAYS + 1)
    assert retention_sweep(now=later) == 1
    assert retention_sweep(now=later) == 0
    assert Event.objects.filter(issue=closed_issue, action="retention").count() == 1


def test_open_issues_keep_their_reporter(resident, territory, settings):
    issue = issue_in_status("submitted", reporter=resident, place=territory["grid"], reporter_name="刘洋")
    assert retention_sweep(now=timezone.now() + timedelta(days=settings.GRIDDESK_RETENTION_DAYS + 1)) == 0
    assert Issue.objects.get(pk=issue.pk).reporter_name == "刘洋"
