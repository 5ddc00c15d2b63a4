"""Make issue events append-only in the database too, so no code path (or psql session) can rewrite history."""

from django.db import migrations

TRIGGER = """
CREATE OR REPLACE FUNCTION issues_event_append_only() RETURNS trigger AS $$
BEGIN
    RAISE EXCEPTION 'issues_event is append-only (% refused)', TG_OP;
END;
$$ LANGUAGE plpgsql;
CREATE TRIGGER issues_event_append_only
    BEFORE UPDATE OR DELETE ON issues_event
    FOR EACH ROW EXECUTE FUNCTION issues_event_append_only();
"""

DROP = """
DROP TRIGGER IF EXISTS issues_event_append_only ON issues_event;
DROP FUNCTION IF EXISTS issues_event_append_only();
"""

SQLITE_TRIGGERS = [
    "CREATE TRIGGER issues_event_no_update BEFORE UPDATE ON issues_event "
    "BEGIN SELECT RAISE(ABORT, 'issues_event is append-only'); END;",
    "CREATE TRIGGER issues_event_no_delete BEFORE DELETE ON issues_event "
    "BEGIN SELECT RAISE(ABORT, 'issues_event is append-only'); END;",
]


def forwards(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(TRIGGER, params=None)
    elif schema_editor.connection.vendor == "sqlite":
        for sql in SQLITE_TRIGGERS:
            schema_editor.execute(sql)


def backwards(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(DROP)
    elif schema_editor.connection.vendor == "sqlite":
        schema_editor.execute("DROP TRIGGER IF EXISTS issues_event_no_update")
        schema_editor.execute("DROP TRIGGER IF EXISTS issues_event_no_delete")


class Migration(migrations.Migration):
    dependencies = [("issues", "0001_initial")]
    operations = [migrations.RunPython(forwards, backwards)]
