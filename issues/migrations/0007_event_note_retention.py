"""Let the retention sweep, and only it, scrub phone numbers from an event's note; every other change stays refused.

Events are append-only (0002), but a note may quote a reporter's phone, which must not outlive the retention period
(docs/privacy.md). On PostgreSQL the trigger lets an UPDATE through only when the transaction set
`griddesk.retention` to `on` (issues.retention does, with set_config(…, true): for its own transaction only) and
nothing but `note` changes. SQLite (development, tests) keeps refusing every update: retention lifts its trigger
inside its own transaction (SQLite's DDL is transactional) and puts it back before committing.
"""

from django.db import migrations

TRIGGER_FUNCTION = """
CREATE OR REPLACE FUNCTION issues_event_append_only() RETURNS trigger AS $$
BEGIN
    IF TG_OP = 'UPDATE' AND current_setting('griddesk.retention', true) = 'on'
       AND (to_jsonb(NEW) - 'note') = (to_jsonb(OLD) - 'note') THEN
        RETURN NEW;
    END IF;
    RAISE EXCEPTION 'issues_event is append-only (% refused)', TG_OP;
END;
$$ LANGUAGE plpgsql;
"""

OLD_TRIGGER_FUNCTION = """
CREATE OR REPLACE FUNCTION issues_event_append_only() RETURNS trigger AS $$
BEGIN
    RAISE EXCEPTION 'issues_event is append-only (% refused)', TG_OP;
END;
$$ LANGUAGE plpgsql;
"""


def forwards(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(TRIGGER_FUNCTION, params=None)


def backwards(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(OLD_TRIGGER_FUNCTION, params=None)


class Migration(migrations.Migration):
    dependencies = [("issues", "0006_export_job")]
    operations = [migrations.RunPython(forwards, backwards)]
