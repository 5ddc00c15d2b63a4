"""Events are append-only, with one exception: the retention sweep scrubs phone numbers from their notes.

PIPL's deletion duty outweighs append-only for personal data, so issues/retention.py (and nothing else) may rewrite
`Event.note`, and nothing else of an event: the event itself, its kind, actor and times stay (docs/privacy.md,
docs/architecture.md). Everything else refuses: the model, its queryset and the database.
"""

import re
from datetime import timedelta
from pathlib import Path

import pytest
from django.conf import settings
from django.db import DatabaseError, connection, transaction

from issues.models import Event
from issues.personal_data import PHONE_REMOVED
from issues.retention import retention_sweep
from tests.issues.test_retention_sweep import PHONE, closed_issue  # noqa: F401

pytestmark = pytest.mark.django_db
ROOT = Path(__file__).resolve().parent.parent.parent
# What lets an update of an event through: retention's flag for the PostgreSQL trigger, lifting SQLite's trigger,
# or an UPDATE statement on the events table.
EVENT_REWRITES = re.compile(r"griddesk\.retention|issues_event_no_update|UPDATE\s+(issues_event|\{Event\b)")


@pytest.fixture
def event(closed_issue):  # noqa: F811
    return closed_issue.events.get(note__contains=PHONE)


def fields_of(event) -> dict:
    return {f.attname: getattr(event, f.attname) for f in Event._meta.concrete_fields}


def test_saving_an_event_again_is_refused_even_to_change_its_note(event):
    before = fields_of(Event.objects.get(pk=event.pk))
    event.note = "rewritten"

    with pytest.raises(TypeError, match="append-only"):
        event.save()
    with pytest.raises(TypeError, match="append-only"):
        event.save(update_fields=["note"])

    assert fields_of(Event.objects.get(pk=event.pk)) == before


def test_the_queryset_refuses_updates_and_deletes(event):
    before = fields_of(Event.objects.get(pk=event.pk))
    event.note = "rewritten"

    with pytest.raises(TypeError, match="append-only"):
        Event.objects.filter(pk=event.pk).update(note="")
    with pytest.raises(TypeError, match="append-only"), transaction.atomic():  # bulk_update opens its own
        Event.objects.bulk_update([event], ["note"])
    with pytest.raises(TypeError, match="append-only"):
        Event.objects.filter(pk=event.pk).delete()
    with pytest.raises(TypeError, match="append-only"):
        event.delete()

    assert fields_of(Event.objects.get(pk=event.pk)) == before


def test_the_database_refuses_an_update_of_the_note_outside_retention(event):
    with pytest.raises(DatabaseError), transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("UPDATE issues_event SET note = '' WHERE id = %s", [event.pk])

    assert PHONE in Event.objects.get(pk=event.pk).note


@pytest.mark.skipif(settings.DATABASES["default"]["ENGINE"] != "django.db.backends.postgresql", reason="PostgreSQL")
def test_retentions_flag_lets_the_note_change_and_nothing_else(event):
    with pytest.raises(DatabaseError), transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("SELECT set_config('griddesk.retention', 'on', true)")
        cursor.execute("UPDATE issues_event SET actor_id = NULL, note = '' WHERE id = %s", [event.pk])
    with pytest.raises(DatabaseError), transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("SELECT set_config('griddesk.retention', 'on', true)")
        cursor.execute("DELETE FROM issues_event WHERE id = %s", [event.pk])

    assert Event.objects.get(pk=event.pk).actor_id == event.actor_id is not None


def test_retention_scrubs_the_note_and_keeps_the_event_its_kind_actor_and_times(event, closed_issue):  # noqa: F811
    before = fields_of(event)

    retention_sweep(now=closed_issue.closed_at + timedelta(days=31))

    after = fields_of(Event.objects.get(pk=event.pk))
    assert after["note"] == before["note"].replace(PHONE, PHONE_REMOVED)
    assert {k: v for k, v in after.items() if k != "note"} == {k: v for k, v in before.items() if k != "note"}


def test_no_module_but_retention_rewrites_events():
    rewrites = sorted(
        str(path.relative_to(ROOT))
        for app in ("accounts", "config", "grids", "issues", "notifications", "open311", "orgs")
        for path in (ROOT / app).rglob("*.py")
        if "migrations" not in path.parts and EVENT_REWRITES.search(path.read_text(encoding="utf-8"))
    )

    assert rewrites == ["issues/retention.py"]
