"""Retention: what personal data the platform keeps, and for how long (docs/privacy.md has the table).

Per issue, GRIDDESK_RETENTION_DAYS after it closed: the reporter's name, phone and exact location are cleared, the
photos (rows and files) deleted, phone numbers scrubbed from the title, description, ratings' comments, dispatch
notes and events' notes, and the notifications about it lose their free text. The issue, its area codes and so its
statistics stay. Everywhere else (personal_data_sweep): idempotency records after 24 hours, delivered notifications'
free text and webhook bodies after GRIDDESK_NOTIFICATION_RETENTION_DAYS, expired sessions, django-axes' login
records after GRIDDESK_AXES_RETENTION_DAYS, export files when they expire and export records with the issues'
period. Both run nightly (issues.tasks.retention_sweep_task).
"""

from datetime import datetime, timedelta

from axes.models import AccessAttempt, AccessFailureLog, AccessLog
from django.conf import settings
from django.contrib.sessions.models import Session
from django.db import connection, transaction
from django.utils import timezone

from issues.events import event_record
from issues.exports import export_files_sweep
from issues.idempotency import WINDOW as IDEMPOTENCY_WINDOW
from issues.models import Dispatch, Event, ExportJob, IdempotencyRecord, Issue, Photo, Rating
from issues.personal_data import scrub_phones
from notifications.models import Channel, Notification

# The personal data of a report, and the value each is cleared to. The address goes with the coordinates: it is
# as exact ("3栋2单元401"); the grid and building codes stay, and with them every statistic.
PERSONAL_FIELDS = {"reporter_name": "", "reporter_phone": "", "lat": None, "lng": None, "address": ""}
# The free text an inbox, email or SMS row captured: the description's summary and the note, either of which may
# quote the reporter. The number, level, deadlines and reject reason code stay, so the message still renders.
REDACTED_PAYLOAD_FIELDS = ("summary", "note")
# Free text the reporter (or staff quoting them) typed: phone numbers in it are replaced (personal_data.scrub_phones).
SCRUBBED_FIELDS = ("title", "description")
# The append-only trigger of issues 0002 on SQLite, lifted and put back inside retention's own transaction.
SQLITE_NO_UPDATE = (
    "CREATE TRIGGER issues_event_no_update BEFORE UPDATE ON issues_event "
    "BEGIN SELECT RAISE(ABORT, 'issues_event is append-only'); END;"
)
# (model, its free-text fields) hanging off an issue, scrubbed the same way.
SCRUBBED_TEXTS = ((Rating, ("comment",)), (Dispatch, ("note", "return_reason")))


def retention_due(*, now: datetime | None = None):
    """Return the closed or rejected issues whose personal data has outlived the retention period."""
    cutoff = (now or timezone.now()) - timedelta(days=settings.GRIDDESK_RETENTION_DAYS)
    return Issue.objects.filter(
        personal_data_removed_at__isnull=True,
        status__in=[Issue.Status.CLOSED, Issue.Status.REJECTED],
        closed_at__lte=cutoff,
    )


def retention_sweep(*, now: datetime | None = None, limit: int = 1000) -> int:
    """Remove the personal data of every issue past retention, each with an event; return how many."""
    now = now or timezone.now()
    done = 0
    for pk in retention_due(now=now).order_by("closed_at").values_list("pk", flat=True)[:limit]:
        done += issue_remove_personal_data(issue_id=pk, now=now)
    return done


def issue_remove_personal_data(*, issue_id, now: datetime | None = None) -> int:
    """Clear one issue's reporter name, phone and exact location and record it; return 0 if already done."""
    now = now or timezone.now()
    with transaction.atomic():
        issue = (
            Issue.objects.select_for_update(skip_locked=True)
            .filter(pk=issue_id, personal_data_removed_at__isnull=True)
            .first()
        )
        if issue is None:
            return 0  # done already, or another sweep holds it
        removed = [name for name, empty in PERSONAL_FIELDS.items() if getattr(issue, name) not in ("", None)]
        for name, empty in PERSONAL_FIELDS.items():
            setattr(issue, name, empty)
        for name in SCRUBBED_FIELDS:
            scrubbed = scrub_phones(getattr(issue, name))
            if scrubbed != getattr(issue, name):
                removed.append(name)
                setattr(issue, name, scrubbed)
        issue.personal_data_removed_at = now
        issue.version += 1
        issue.save(
            update_fields=[*PERSONAL_FIELDS, *SCRUBBED_FIELDS, "personal_data_removed_at", "version", "updated_at"]
        )
        removed += _photos_delete(issue=issue)
        removed += _texts_scrub(issue=issue)
        removed += _event_notes_scrub(issue=issue)
        _notifications_redact(issue=issue)
        event_record(
            issue=issue,
            actor=None,
            action=Event.Action.RETENTION,
            from_status=issue.status,
            to_status=issue.status,
            note=f"Personal data removed after {settings.GRIDDESK_RETENTION_DAYS} days (retention).",
            data={"removed": removed, "retention_days": settings.GRIDDESK_RETENTION_DAYS},
        )
    return 1


def _notifications_redact(*, issue) -> None:
    """Remove the reporter from every notification about `issue`; keep the rows, their kind and read state.

    A webhook body is the issue as the partner saw it, reporter included: it is emptied, and delivery fails a row
    left with nothing to send (notifications.delivery). Other rows lose their free text (REDACTED_PAYLOAD_FIELDS).
    """
    rows = Notification.objects.filter(issue=issue)
    rows.filter(channel=Channel.WEBHOOK).update(payload={})
    redacted = []
    for n in rows.exclude(channel=Channel.WEBHOOK).only("pk", "payload"):
        if any(n.payload.get(name) for name in REDACTED_PAYLOAD_FIELDS):
            n.payload = {**n.payload, **dict.fromkeys(REDACTED_PAYLOAD_FIELDS, "")}
            redacted.append(n)
    Notification.objects.bulk_update(redacted, ["payload"], batch_size=500)


def _photos_delete(*, issue) -> list[str]:
    """Delete the issue's photos, their files first (a row without its file is harmless, a file without a row not)."""
    photos = list(Photo.objects.filter(issue=issue))
    for photo in photos:
        photo.image.delete(save=False)
    Photo.objects.filter(pk__in=[p.pk for p in photos]).delete()
    return ["photos"] if photos else []


def _texts_scrub(*, issue) -> list[str]:
    """Replace phone numbers in the ratings' comments and the dispatches' notes of `issue`; return what changed."""
    changed = []
    for model, fields in SCRUBBED_TEXTS:
        rows = []
        for row in model.objects.filter(issue=issue).only("pk", *fields):
            before = [getattr(row, f) for f in fields]
            for f in fields:
                setattr(row, f, scrub_phones(getattr(row, f)))
            if before != [getattr(row, f) for f in fields]:
                rows.append(row)
        model.objects.bulk_update(rows, list(fields), batch_size=500)
        changed += [model._meta.model_name] if rows else []
    return changed


def _event_notes_scrub(*, issue) -> list[str]:
    """Replace phone numbers in the notes of the issue's events, the one change the append-only events allow.

    Events refuse updates (the model, its queryset and a trigger): this writes the note alone, in SQL, in a
    transaction that told the trigger it is retention's (PostgreSQL, migration 0007_event_note_retention), or that
    lifts and restores SQLite's trigger (its DDL is transactional, so no other connection sees it lifted).
    """
    changed = [
        (scrubbed, pk)
        for pk, note in Event.objects.filter(issue=issue).exclude(note="").values_list("pk", "note")
        if (scrubbed := scrub_phones(note)) != note
    ]
    if not changed:
        return []
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute("SELECT set_config('griddesk.retention', 'on', true)")
        elif connection.vendor == "sqlite":
            cursor.execute("DROP TRIGGER IF EXISTS issues_event_no_update")
        cursor.executemany(f"UPDATE {Event._meta.db_table} SET note = %s WHERE id = %s", changed)
        if connection.vendor == "postgresql":
            cursor.execute("SELECT set_config('griddesk.retention', 'off', true)")
        elif connection.vendor == "sqlite":
            cursor.execute(SQLITE_NO_UPDATE)
    return ["event_notes"]


def personal_data_sweep(*, now: datetime | None = None) -> dict[str, int]:
    """Remove the personal data kept outside issues once its period is over; return how many rows each step touched.

    Idempotency records (they hold the caller and the request's hash) after 24 hours; delivered or given-up
    notifications' free text and webhook bodies after GRIDDESK_NOTIFICATION_RETENTION_DAYS; expired sessions;
    django-axes' records (username, address, user agent) after GRIDDESK_AXES_RETENTION_DAYS; export files when they
    expire, export records after GRIDDESK_RETENTION_DAYS.
    """
    now = now or timezone.now()
    notified_before = now - timedelta(days=settings.GRIDDESK_NOTIFICATION_RETENTION_DAYS)
    axes_before = now - timedelta(days=settings.GRIDDESK_AXES_RETENTION_DAYS)
    done = {
        "idempotency": IdempotencyRecord.objects.filter(created_at__lt=now - IDEMPOTENCY_WINDOW).delete()[0],
        "notifications": _notifications_strip(before=notified_before),
        "sessions": Session.objects.filter(expire_date__lt=now).delete()[0],
        "axes": sum(
            model.objects.filter(attempt_time__lt=axes_before).delete()[0]
            for model in (AccessAttempt, AccessLog, AccessFailureLog)
        ),
        "export_files": export_files_sweep(now=now),
        "export_records": ExportJob.objects.filter(
            created_at__lt=now - timedelta(days=settings.GRIDDESK_RETENTION_DAYS)
        ).delete()[0],
    }
    return done


def _notifications_strip(*, before: datetime) -> int:
    """Strip the free text of notifications finished (sent, failed, skipped) before `before`; return how many."""
    finished = Notification.objects.filter(
        created_at__lt=before,
        status__in=[Notification.Status.SENT, Notification.Status.FAILED, Notification.Status.SKIPPED],
    )
    done = finished.filter(channel=Channel.WEBHOOK).exclude(payload={}).update(payload={})
    redacted = []
    for n in finished.exclude(channel=Channel.WEBHOOK).only("pk", "payload").iterator(chunk_size=1000):
        if any(n.payload.get(name) for name in REDACTED_PAYLOAD_FIELDS):
            n.payload = {**n.payload, **dict.fromkeys(REDACTED_PAYLOAD_FIELDS, "")}
            redacted.append(n)
    Notification.objects.bulk_update(redacted, ["payload"], batch_size=500)
    return done + len(redacted)
