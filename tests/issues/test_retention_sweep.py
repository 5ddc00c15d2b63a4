"""The retention sweep covers every row of docs/privacy.md it handles: kept until its period ends, gone after."""

import os
from datetime import timedelta

import pytest
from axes.models import AccessAttempt, AccessLog
from django.contrib.sessions.backends.db import SessionStore
from django.contrib.sessions.models import Session
from django.core.files.base import ContentFile
from django.db import DatabaseError, connection, transaction
from django.utils import timezone

from issues import workflow
from issues.models import Dispatch, ExportJob, IdempotencyRecord, Issue, Photo, Rating
from issues.personal_data import PHONE_REMOVED, scrub_phones
from issues.retention import personal_data_sweep, retention_sweep
from issues.tasks import retention_sweep_task
from notifications.models import Channel, Notification
from tests.factories import issue_in_status

pytestmark = pytest.mark.django_db
PHONE = "13812345678"


@pytest.fixture
def closed_issue(settings, tmp_path, resident, community_staff, chengguan_staff, category, territory):
    """Return a closed issue whose every free text quotes the reporter's phone, with a photo on disk."""
    settings.MEDIA_ROOT = tmp_path
    settings.GRIDDESK_RETENTION_DAYS = 30
    issue = issue_in_status(
        "closed",
        reporter=resident,
        place=territory["grid"],
        triage=community_staff,
        category=category,
        handler=chengguan_staff,
        reporter_phone=PHONE,
        description=f"楼道堆满杂物，请回电 {PHONE} 或座机 0797-8123456，三楼最严重",
        title=f"堆物 {PHONE}",
    )
    Rating.objects.filter(issue=issue).update(comment=f"满意，有事打 {PHONE}")
    workflow.issue_comment(issue=issue, actor=community_staff, text=f"已回电 {PHONE}，住户确认", internal=True)
    Dispatch.objects.filter(issue=issue).update(note=f"联系人 {PHONE}", return_reason=f"已电话 {PHONE}")
    photo = Photo(issue=issue, format="JPEG", width=1, height=1, size=3)
    photo.image.save("a.jpg", ContentFile(b"jpg"), save=True)
    return Issue.objects.get(pk=issue.pk)


def texts(issue) -> str:
    issue = Issue.objects.get(pk=issue.pk)
    parts = [issue.title, issue.description]
    parts += list(Rating.objects.filter(issue=issue).values_list("comment", flat=True))
    for note, reason in Dispatch.objects.filter(issue=issue).values_list("note", "return_reason"):
        parts += [note, reason]
    parts += list(issue.events.values_list("note", flat=True))
    return "\n".join(parts)


def test_phone_numbers_are_scrubbed_but_dates_numbers_and_rooms_stay():
    assert scrub_phones(f"请联系{PHONE}谢谢") == f"请联系{PHONE_REMOVED}谢谢"
    assert scrub_phones("电话 138 1234 5678，座机0797-8123456，+86-138-1234-5678") == (
        f"电话 {PHONE_REMOVED}，座机{PHONE_REMOVED}，{PHONE_REMOVED}"
    )
    kept = "GD20261202-0001 于 2026-12-02 报 3栋2单元401"
    assert scrub_phones(kept) == kept


def test_issue_texts_and_photos_are_kept_until_retention_and_gone_after(closed_issue):
    photo_path = Photo.objects.get(issue=closed_issue).image.path
    assert retention_sweep(now=closed_issue.closed_at + timedelta(days=29)) == 0
    assert texts(closed_issue).count(PHONE) == 6 and Photo.objects.filter(issue=closed_issue).exists()

    assert retention_sweep(now=closed_issue.closed_at + timedelta(days=31)) == 1
    after = texts(closed_issue)
    assert PHONE not in after and "8123456" not in after
    assert "楼道堆满杂物" in after and "三楼最严重" in after and "住户确认" in after  # the words stay
    assert not Photo.objects.filter(issue=closed_issue).exists()
    assert not os.path.exists(photo_path)
    event = closed_issue.events.get(action="retention")
    assert {"title", "description", "photos", "rating", "dispatch", "event_notes"} <= set(event.data["removed"])


def test_events_stay_append_only_outside_retention(closed_issue):
    event = closed_issue.events.get(note__contains=PHONE)
    with pytest.raises(DatabaseError), transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("UPDATE issues_event SET action = 'comment' WHERE id = %s", [event.pk])
    with pytest.raises(DatabaseError), transaction.atomic(), connection.cursor() as cursor:  # the note too
        cursor.execute("UPDATE issues_event SET note = '' WHERE id = %s", [event.pk])
    retention_sweep(now=closed_issue.closed_at + timedelta(days=31))
    # After retention's own transaction the trigger is back: still refused.
    with pytest.raises(DatabaseError), transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("UPDATE issues_event SET note = '' WHERE id = %s", [event.pk])
    assert PHONE not in closed_issue.events.get(pk=event.pk).note


def _notification(issue, *, channel, status, payload, age_days):
    row = Notification.objects.create(kind="issue.closed", channel=channel, issue=issue, status=status, payload=payload)
    Notification.objects.filter(pk=row.pk).update(created_at=timezone.now() - timedelta(days=age_days))
    return row


def test_finished_notifications_lose_their_text_and_webhook_bodies_after_their_period(settings, closed_issue):
    settings.GRIDDESK_NOTIFICATION_RETENTION_DAYS = 30
    sent = Notification.Status.SENT
    old_sms = _notification(closed_issue, channel=Channel.SMS, status=sent, payload={"summary": PHONE}, age_days=31)
    new_sms = _notification(closed_issue, channel=Channel.SMS, status=sent, payload={"summary": PHONE}, age_days=29)
    old_hook = _notification(closed_issue, channel=Channel.WEBHOOK, status=sent, payload={"p": PHONE}, age_days=31)
    pending = _notification(
        closed_issue, channel=Channel.WEBHOOK, status=Notification.Status.PENDING, payload={"p": PHONE}, age_days=31
    )

    assert personal_data_sweep()["notifications"] == 2
    assert Notification.objects.get(pk=old_sms.pk).payload == {"summary": "", "note": ""}
    assert Notification.objects.get(pk=old_hook.pk).payload == {}
    assert Notification.objects.get(pk=new_sms.pk).payload == {"summary": PHONE}  # within the period
    assert Notification.objects.get(pk=pending.pk).payload == {"p": PHONE}  # not delivered yet: still to send


def test_idempotency_records_go_after_24_hours(resident):
    old = IdempotencyRecord.objects.create(user=resident, key="old", request_hash="x")
    new = IdempotencyRecord.objects.create(user=resident, key="new", request_hash="x")
    IdempotencyRecord.objects.filter(pk=old.pk).update(created_at=timezone.now() - timedelta(hours=25))
    IdempotencyRecord.objects.filter(pk=new.pk).update(created_at=timezone.now() - timedelta(hours=23))
    assert personal_data_sweep()["idempotency"] == 1
    assert list(IdempotencyRecord.objects.values_list("key", flat=True)) == ["new"]


def test_expired_sessions_are_cleared(db):
    expired, live = SessionStore(), SessionStore()
    expired.set_expiry(-60)
    expired.save()
    live.save()
    assert personal_data_sweep()["sessions"] == 1
    assert list(Session.objects.values_list("session_key", flat=True)) == [live.session_key]


def test_login_records_go_after_their_period(settings):
    settings.GRIDDESK_AXES_RETENTION_DAYS = 30
    now = timezone.now()
    for days in (31, 29):
        AccessLog.objects.create(username=f"u{days}", ip_address="10.0.0.1", user_agent="x", attempt_time=now)
        AccessAttempt.objects.create(
            username=f"u{days}",
            ip_address="10.0.0.1",
            user_agent="x",
            get_data="",
            post_data="",
            failures_since_start=1,
        )
        AccessLog.objects.filter(username=f"u{days}").update(attempt_time=now - timedelta(days=days))
        AccessAttempt.objects.filter(username=f"u{days}").update(attempt_time=now - timedelta(days=days))
    assert personal_data_sweep(now=now)["axes"] == 2
    assert list(AccessLog.objects.values_list("username", flat=True)) == ["u29"]
    assert list(AccessAttempt.objects.values_list("username", flat=True)) == ["u29"]


def test_export_records_stay_for_the_retention_period(settings, community_staff):
    settings.GRIDDESK_RETENTION_DAYS = 30
    job = ExportJob.objects.create(requested_by=community_staff, file_format="csv", direct=True, status="done")
    ExportJob.objects.filter(pk=job.pk).update(created_at=timezone.now() - timedelta(days=29))
    assert personal_data_sweep()["export_records"] == 0
    ExportJob.objects.filter(pk=job.pk).update(created_at=timezone.now() - timedelta(days=31))
    assert personal_data_sweep()["export_records"] == 1
    assert not ExportJob.objects.exists()


def test_the_nightly_task_runs_both_sweeps(closed_issue, resident):
    IdempotencyRecord.objects.create(user=resident, key="old", request_hash="x")
    IdempotencyRecord.objects.update(created_at=timezone.now() - timedelta(days=2))
    Issue.objects.filter(pk=closed_issue.pk).update(closed_at=timezone.now() - timedelta(days=31))
    assert retention_sweep_task() == 1
    assert not IdempotencyRecord.objects.exists()
    assert PHONE not in texts(closed_issue)
