"""On SQLite, let the whole events table be emptied (Django's flush, transactional tests) as PostgreSQL's TRUNCATE can.

SQLite has no TRUNCATE: `flush` empties a table with DELETE, which the row trigger of 0002 refused, so every
transactional test (and `manage.py flush`) failed on the embedded database once an event existed. Updates stay refused
by the database; deleting one event stays refused by the model and its queryset (Event.delete, EventQuerySet.delete),
and Issue → Event is PROTECT. PostgreSQL keeps both triggers (TRUNCATE does not fire row triggers there).
"""

from django.db import migrations

SQLITE_NO_DELETE = (
    "CREATE TRIGGER issues_event_no_delete BEFORE DELETE ON issues_event "
    "BEGIN SELECT RAISE(ABORT, 'issues_event is append-only'); END;"
)


def forwards(apps, schema_editor):
    if schema_editor.connection.vendor == "sqlite":
        schema_editor.execute("DROP TRIGGER IF EXISTS issues_event_no_delete")


def backwards(apps, schema_editor):
    if schema_editor.connection.vendor == "sqlite":
        schema_editor.execute(SQLITE_NO_DELETE)


class Migration(migrations.Migration):
    dependencies = [("issues", "0002_event_append_only")]
    operations = [migrations.RunPython(forwards, backwards)]
