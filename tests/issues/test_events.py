"""The one recorder (issues.events.event_record): every event is written through it with its outbox rows, atomically."""

import ast
from datetime import timedelta
from pathlib import Path

import pytest
from django.conf import settings

from issues import events, workflow
from issues.events import event_record
from issues.models import Event, Notice
from issues.reminders import reminders_sweep
from issues.retention import retention_sweep
from notifications.models import Notification

pytestmark = pytest.mark.django_db
A = Event.Action
ROOT = Path(__file__).resolve().parents[2]
APPS = ("config", "grids", "orgs", "issues", "notifications", "open311")


# The four places that record events, each as (the status of a fresh issue, a call recording one event on it).
WRITERS = {
    "workflow action": ("dispatched", lambda i, staff, resident: workflow.issue_escalate(issue=i, actor=staff)),
    "comment": ("dispatched", lambda i, staff, resident: workflow.issue_comment(issue=i, actor=resident, text="News?")),
    "reminder": ("dispatched", lambda i, staff, resident: reminders_sweep(now=i.response_due_at - timedelta(hours=1))),
    "retention": (
        "closed",
        lambda i, staff, resident: retention_sweep(
            now=i.closed_at + timedelta(days=settings.GRIDDESK_RETENTION_DAYS + 1)
        ),
    ),
}


@pytest.mark.parametrize("writer", list(WRITERS))
def test_each_writer_records_through_the_recorder_so_no_event_outlives_its_outbox_rows(
    make, territory, community_staff, resident, monkeypatch, writer
):
    status, record = WRITERS[writer]
    issue = make(status, place=territory["grid"])
    before = Event.objects.filter(issue=issue).count()

    def outbox_write(**kwargs):
        raise RuntimeError("outbox unavailable")

    monkeypatch.setattr(events, "outbox_write", outbox_write)
    with pytest.raises(RuntimeError, match="outbox unavailable"):
        record(issue, community_staff, resident)
    # The event went through event_record: its failing outbox took the event (and the change) back with it.
    assert Event.objects.filter(issue=issue).count() == before


def test_a_reminder_event_is_recorded_with_its_outbox_rows(make, territory, chengguan_staff):
    issue = make("dispatched", place=territory["grid"])
    assert reminders_sweep(now=issue.response_due_at - timedelta(hours=1)) == 1
    event = Event.objects.get(issue=issue, action=A.REMIND_RESPONSE)
    rows = Notification.objects.filter(event=event)
    assert {(n.recipient_id, n.kind) for n in rows} == {(chengguan_staff.pk, Notice.REMINDER_RESPONSE)}


def test_the_recorder_refuses_an_action_that_is_not_an_event_action(make, territory):
    issue = make("submitted", place=territory["grid"])
    before = Event.objects.filter(issue=issue).count()
    with pytest.raises(ValueError, match="remind_tomorrow"):
        event_record(issue=issue, actor=None, action="remind_tomorrow", from_status="submitted", to_status="submitted")
    assert Event.objects.filter(issue=issue).count() == before


def test_the_recorder_writes_the_event_and_who_hears_of_it(make, territory, community_staff):
    issue = make("submitted", place=territory["grid"])
    event = event_record(
        issue=issue, actor=None, action=A.COMMENT, from_status="submitted", to_status="submitted", note="Seen."
    )
    assert (event.pk, event.action, event.note, event.data) == (event.pk, "comment", "Seen.", {})
    assert not Notification.objects.filter(event=event).exists()  # a comment is silent
    issue.status = "rejected"
    rejected = event_record(
        issue=issue, actor=community_staff, action=A.REJECT, from_status="submitted", to_status="rejected"
    )
    assert set(Notification.objects.filter(event=rejected).values_list("kind", flat=True)) == {Notice.REJECTED}


def _event_writes(path: Path) -> list[int]:
    """Return the lines of `path` that create Event rows (Event(…), Event.objects.create, bulk_create, …)."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    lines = []
    for node in ast.walk(tree):
        if not isinstance(node, ast.Call):
            continue
        func = node.func
        if isinstance(func, ast.Name) and func.id == "Event":
            lines.append(node.lineno)
        if (
            isinstance(func, ast.Attribute)
            and func.attr in {"create", "bulk_create", "get_or_create", "update_or_create"}
            and isinstance(func.value, ast.Attribute)
            and func.value.attr == "objects"
            and isinstance(func.value.value, ast.Name)
            and func.value.value.id == "Event"
        ):
            lines.append(node.lineno)
    return lines


def test_no_module_but_the_recorder_creates_events():
    writes = {
        str(path.relative_to(ROOT)): lines
        for app in APPS
        for path in sorted((ROOT / app).rglob("*.py"))
        if "migrations" not in path.parts and (lines := _event_writes(path))
    }
    assert writes == {"issues/events.py": writes.get("issues/events.py")}
    assert writes["issues/events.py"]


def test_a_submission_writes_its_issue_with_its_event_as_save_would_with_its_signals(
    territory, resident, community_staff, monkeypatch
):
    from django.db import connection
    from django.db.models.signals import post_save
    from django.test.utils import CaptureQueriesContext

    from issues.models import Issue

    saved = []

    def heard(sender, instance, created, **kwargs):
        saved.append((sender, instance.pk, created))

    post_save.connect(heard, sender=Issue)
    post_save.connect(heard, sender=Event)
    try:
        with CaptureQueriesContext(connection) as queries:
            issue = workflow.issue_submit(
                actor=resident, description="Rubbish in the stairwell.", grid=territory["grid"].code
            )
    finally:
        post_save.disconnect(heard, sender=Issue)
        post_save.disconnect(heard, sender=Event)
    event = Event.objects.get(issue=issue)
    assert saved == [(Issue, issue.pk, True), (Event, event.pk, True)]
    stored = Issue.objects.get(pk=issue.pk)
    assert (stored.number, stored.version, stored.created_at) == (issue.number, 1, issue.created_at)
    assert not issue._state.adding and (event.action, event.to_status) == (A.SUBMIT, "submitted")
    inserts = [
        q["sql"] for q in queries.captured_queries if 'INTO "issues_issue"' in q["sql"] or "_submit_" in q["sql"]
    ]
    assert len(inserts) == 1
    if connection.vendor == "postgresql":
        # One statement, the issue's INSERT a CTE of its event's, prepared by the connection's first submission and
        # executed by name after that (issues.events._PREPARED).
        assert 'INTO "issues_event"' in inserts[0] or inserts[0].startswith("EXECUTE griddesk_submit_")
        with CaptureQueriesContext(connection) as again:
            second = workflow.issue_submit(actor=resident, description="Rubbish again.", grid=territory["grid"].code)
        (write,) = [q["sql"] for q in again.captured_queries if "_submit_" in q["sql"] or '"issues_issue"' in q["sql"]]
        assert write.startswith("EXECUTE griddesk_submit_")
        stored = Issue.objects.get(pk=second.pk)
        assert (stored.number, stored.description, stored.version) == (second.number, "Rubbish again.", 1)
        assert Event.objects.get(issue=second).data == {"number": second.number}


def test_a_submission_whose_outbox_fails_leaves_no_issue(territory, resident, community_staff, monkeypatch):
    from issues.models import Issue

    def outbox_write(**kwargs):
        raise RuntimeError("outbox unavailable")

    monkeypatch.setattr(events, "outbox_write", outbox_write)
    with pytest.raises(RuntimeError, match="outbox unavailable"):
        workflow.issue_submit(actor=resident, description="Rubbish in the stairwell.", grid=territory["grid"].code)
    assert not Issue.objects.exists() and not Event.objects.exists()


# Values of every kind a new issue's fields may hold: the types sent as they are, choices (str and int enums), ints
# where a float goes, datetimes, a key and None; the workflow's own submission besides.
ISSUE_VALUES = [
    {},
    {"title": "楼道灯", "address": "1 号楼", "urgent": True, "lat": None, "lng": None, "reporter_name": "张三"},
    {"status": "classified", "escalation_level": 2, "reopen_count": 3, "lat": 25, "lng": 114, "kind": "help"},
    {"response_due_at": "due", "resolution_due_at": "due", "private": 1, "closed_how": "rated", "version": 7},
]


@pytest.mark.parametrize("values", ISSUE_VALUES)
def test_a_new_issues_and_events_insert_parameters_are_those_the_orm_prepares(
    territory, resident, category, monkeypatch, values
):
    """issues.events sends some values as they are instead of through each field's get_db_prep_save: the same
    parameters as Django's compiler, rendered as the driver renders them."""
    from datetime import UTC, datetime

    from django.db import connection
    from django.db.models.sql import InsertQuery
    from django.utils import timezone

    from issues.models import Issue

    moment = datetime(2026, 12, 4, 22, 30, 1, 123456, tzinfo=UTC)
    monkeypatch.setattr(timezone, "now", lambda: moment)  # auto_now: the same moment for both
    issue = Issue(
        number="GD-20261205-00001",
        status=Issue.Status.SUBMITTED,
        category=category,
        description="Rubbish in the stairwell.",
        lat=25.83,
        lng=114.96,
        grid=territory["grid"],
        area_path=territory["grid"].path,
        reporter_user=resident,
        channel=Issue.Channel.WEB,
        version=0,
    )
    for name, value in values.items():
        setattr(issue, name, moment if value == "due" else value)
    event = Event(issue=issue, actor=resident, action=A.SUBMIT, to_status="submitted", data={"number": "x", "n": 1})

    def rendered(params):
        with connection.cursor() as cursor:
            return [cursor.mogrify("%s", [p]) if connection.vendor == "postgresql" else repr(p) for p in params]

    for instance in (issue, event):
        fields = [f for f in type(instance)._meta.local_concrete_fields if f is not type(instance)._meta.auto_field]
        query = InsertQuery(type(instance))
        query.insert_values(fields, [instance])
        ((_, orm),) = query.get_compiler(using="default").as_sql()
        events._insert_sql(instance, "default")  # compiled once
        _, sent, named = events._insert_sql(instance, "default")
        assert named == fields
        assert rendered(sent) == rendered(orm)
