"""Retention: a reporter's name, phone and exact location are removed a configurable number of days after the
issue closed (settings.GRIDDESK_RETENTION_DAYS); the issue, its area codes and so its statistics stay."""

from datetime import datetime, timedelta

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from issues.events import event_record
from issues.models import Event, Issue
from notifications.models import Channel, Notification

# The personal data of a report, and the value each is cleared to. The address goes with the coordinates: it is
# as exact ("3栋2单元401"); the grid and building codes stay, and with them every statistic.
PERSONAL_FIELDS = {"reporter_name": "", "reporter_phone": "", "lat": None, "lng": None, "address": ""}
# The free text an inbox, email or SMS row captured: the description's summary and the note, either of which may
# quote the reporter. The number, level, deadlines and reject reason code stay, so the message still renders.
REDACTED_PAYLOAD_FIELDS = ("summary", "note")


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
        issue.personal_data_removed_at = now
        issue.version += 1
        issue.save(update_fields=[*PERSONAL_FIELDS, "personal_data_removed_at", "version", "updated_at"])
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
