"""The one recorder of what happens to an issue: every Event row is written here, with who hears of it.

`event_record` writes the event and, in the same transaction, the outbox rows of its audience: issues.audience says
who hears what, notifications.outbox writes the rows and queues their delivery after commit. It also brings the
issue's statistics rollup up to date (issues.rollups), since every change of an issue is recorded here. The
workflow (through guards._record), the reminders and the retention sweep all record through it; nothing else
creates events.
"""

import hashlib
from types import SimpleNamespace

from django.db import connections, models, router, transaction
from django.db.models.signals import post_save, pre_save
from django.db.models.sql import InsertQuery
from django.utils import timezone

from config.bulk import rows_insert
from config.compiled import Prepared, alone_allowed, execute_prepared_many
from issues.audience import audience_for, partner_issues_data
from issues.models import Event, Issue
from issues.numbering import NUMBER_PENDING, NUMBER_READ, issue_number_next, number_taken_first
from issues.rollups import rollup_created_statement, rollup_refresh
from notifications.outbox import SUBSCRIBED_TYPES_KEY, outbox_silent, outbox_write, outbox_write_many
from orgs import auth_cache
from orgs.scoping import node_staff_lookup
from orgs.staff_cache import node_key, node_staff_remembered

# Work that apps above the core queue once an event commits (triage's hot spots), registered from their
# AppConfig.ready through events_after_commit: the core calls them and never imports them. A hook gets the events of
# one transaction and must only queue (transaction.on_commit), never fail the change.
_AFTER_COMMIT_HOOKS: list = []


def events_after_commit(hook) -> None:
    """Register `hook(events=[…])`, called in the recording transaction with the events just written (Event
    instances, or a batch's EventRows: read their columns, not their relations)."""
    if hook not in _AFTER_COMMIT_HOOKS:
        _AFTER_COMMIT_HOOKS.append(hook)


def _hooks_call(events: list) -> None:
    for hook in _AFTER_COMMIT_HOOKS:
        hook(events=events)


def _known_action(action: str) -> None:
    """Refuse an action the audience rules do not know: it would be recorded with nobody to hear of it."""
    if action not in Event.Action.values:
        raise ValueError(f"Unknown event action {action!r}: add it to Event.Action and issues.audience.")


def event_record(
    *, issue: Issue, actor, action: str, from_status: str, to_status: str, note: str = "", internal=False, data=None
) -> Event:
    """Append the event `action` to `issue` and write the outbox rows of whoever must hear of it, atomically."""
    _known_action(action)
    with transaction.atomic(savepoint=False):
        event = Event(
            issue=issue,
            actor=actor,
            action=action,
            from_status=from_status,
            to_status=to_status,
            note=note,
            internal=internal,
            data=data or {},
        )
        # The staff of the issue's node, remembered between requests (a query per submission otherwise), and the
        # webhook types partners subscribe to: read from the shared cache in one round trip.
        with auth_cache.read_ahead([node_key(issue.area_path), SUBSCRIBED_TYPES_KEY]):
            counted = False  # what the statistics rollup needs of it written with it
            if issue._state.adding:
                # A submission: who hears of it is known before its row is written. When nobody does, what the
                # statistics rollup needs of it (issues.rollups.rollup_created_statement: its row waiting for the
                # fold) goes in the round trip of its INSERT (a transaction of its own in issue_submit: sent_alone),
                # and the outbox below writes nothing (outbox_silent: without the database).
                audience = audience_for(event, node_staff=node_staff_remembered)
                silent = outbox_silent(
                    recipients=audience.recipients, webhook_type=audience.webhook_type, area_alert=audience.area_alert
                )
                counted = _insert_with_issue(issue, event, with_rollup=silent and action == Event.Action.SUBMIT)
            else:
                event.save(force_insert=True)
                audience = audience_for(event, node_staff=node_staff_remembered)
            outbox_write(
                event=event,
                recipients=audience.recipients,
                about=audience.about,
                webhook_type=audience.webhook_type,
                partner_issue=audience.partner_issue,
                area_alert=audience.area_alert,
            )
        if not counted:
            # A submission's issue was created in this transaction: nobody else sees it yet, it has no dispatch.
            rollup_refresh([issue.pk], created=[issue] if action == Event.Action.SUBMIT else None)
        _hooks_call([event])
    return event


def _insert_with_issue(issue: Issue, event: Event, *, with_rollup: bool = False) -> bool:
    """Write a new issue (a submission's, not saved yet) and its first event, each as save() would write it and with
    the signals save() sends: on PostgreSQL in one statement, the issue's INSERT a CTE of the event's (one round trip
    fewer on every create); its event's foreign key is checked at the commit, as every other.

    `with_rollup`: nothing else is written with them (nobody hears of it): what the statistics rollup needs of the
    issue goes in the same round trip, as a transaction of its own where the caller allows it
    (config.compiled.sent_alone). Return whether it went (not on SQLite: the caller calls rollup_refresh).
    """
    using = router.db_for_write(Issue, instance=issue)
    connection = connections[using]
    one_statement = connection.vendor == "postgresql" and not Issue._meta.db_returning_fields  # its key from Python
    # Its number (issues.numbering) taken in the same query when the statement goes alone; else now, before the
    # transaction begins where nothing was sent in it yet. Who hears of a submission does not depend on its number.
    if issue.number == NUMBER_PENDING and not (one_statement and with_rollup):
        _number_now(issue, event)
    if not one_statement:
        issue.save(using=using, force_insert=True)
        event.save(using=using, force_insert=True)
        return False
    for instance in (issue, event):
        pre_save.send(sender=type(instance), instance=instance, raw=False, using=using, update_fields=None)
    issue_sql, issue_params, issue_fields = _insert_sql(issue, using)
    rollup = rollup_created_statement([issue]) if with_rollup else None  # after _insert_sql: created_at is set
    folded = issue.number == NUMBER_PENDING and rollup is not None and alone_allowed(connection)
    if issue.number == NUMBER_PENDING and not folded:
        _number_now(issue, event)
        issue_params[issue_fields.index(NUMBER_FIELD)] = issue.number
    returning = Event._meta.db_returning_fields
    event_sql, event_params, event_fields = _insert_sql(event, using, returning=returning)
    sql, params = f"WITH i AS ({issue_sql}) {event_sql}", [*issue_params, *event_params]
    if folded:
        if len(issue_params) != len(issue_fields) or len(event_params) != len(event_fields):
            raise RuntimeError("A submission's INSERT with a field of its own placeholder: number it before.")
        number, data = issue_fields.index(NUMBER_FIELD), len(issue_fields) + event_fields.index(DATA_FIELD)
        sql, params = _number_read(sql, params, number=number, data=data)
    name = _PREPARED.get(sql)
    if name is not None:
        execute = f"EXECUTE {name}({', '.join(['%s'] * len(params))})"
        submit = Prepared(name, lambda: _numbered(sql), execute, params)
    else:
        submit = Prepared(None, None, sql, params)
    statements = [rollup, submit] if rollup is not None else [submit]
    if folded:
        statements.insert(0, number_taken_first())
    (row,) = execute_prepared_many(connection, statements, alone=rollup is not None)
    if name is None:
        compiled = {text for text, _ in _INSERTS.values()}
        if issue_sql in compiled and event_sql in compiled:
            # Named by its text: threads compiling different texts at once never share a name.
            _PREPARED[sql] = f"griddesk_submit_{hashlib.sha256(sql.encode()).hexdigest()[:16]}"
    if folded:
        *row, issue.number = row
        event.data = {**event.data, "number": issue.number}
    for field, value in zip(returning, row, strict=True):
        setattr(event, field.attname, value)
    for instance in (issue, event):
        instance._state.adding, instance._state.db = False, using
        post_save.send(
            sender=type(instance), instance=instance, created=True, update_fields=None, raw=False, using=using
        )
    return rollup is not None


# The INSERT text of a new row of a model (with what it returns), per database: compiled once (_insert_sql).
_INSERTS: dict[tuple, tuple[str, list]] = {}
# A submission's statement (its issue's and its event's INSERT), by its text when both were compiled once: prepared
# per connection (config.compiled.execute_prepared), as parsing and planning its 51 columns cost the server more
# than running it a second time.
_PREPARED: dict[str, str] = {}


NUMBER_FIELD, DATA_FIELD = Issue._meta.get_field("number"), Event._meta.get_field("data")


def _number_now(issue: Issue, event: Event) -> None:
    """Give a submission its number now (issues.numbering), in its event's data too."""
    issue.number = issue_number_next()
    event.data = {**event.data, "number": issue.number}


def _number_read(sql: str, params: list, *, number: int, data: int) -> tuple[str, list]:
    """Return a submission's statement that reads its issue's number from the session (issues.numbering: taken in the
    same query) in place of parameters `number` (the issue's column) and `data` (its event's, which carries the
    number), and returns it after the event's columns."""
    parts = sql.split("%s")
    parts[number] += NUMBER_READ
    parts[data] += f"(%s::jsonb || jsonb_build_object('number', {NUMBER_READ}))"
    text = "".join(part if i in (number, data) else part + "%s" for i, part in enumerate(parts[:-1])) + parts[-1]
    return f"{text}, {NUMBER_READ}", [value for i, value in enumerate(params) if i != number]


def _numbered(sql: str) -> str:
    """Return `sql` with the driver's placeholders as PREPARE's $1, $2, … (an ORM INSERT holds no other percent)."""
    parts = sql.split("%s")
    return "".join(f"{part}${i}" for i, part in enumerate(parts[:-1], 1)) + parts[-1]


def _insert_sql(instance, using: str, *, returning=()) -> tuple[str, list, list]:
    """Return the INSERT that save() would send for the new `instance` (its fields' pre_save applied: auto_now), its
    parameters and the fields they are the values of.

    Its text depends on the model alone (every concrete field, each a plain placeholder): compiled by the ORM once,
    then only the values are prepared, as the ORM's compiler prepares them.
    """
    model = type(instance)
    shape = (model, instance.pk is None)
    plan = _PLANS.get(shape)
    if plan is None:
        meta = model._meta
        fields = [f for f in meta.local_concrete_fields if not f.generated]
        if instance.pk is None:
            fields = [f for f in fields if f is not meta.auto_field]
        plan = _PLANS[shape] = (fields, tuple(fields), [_prepared_as(field) for field in fields])
    fields, key_fields, preparing = plan
    key = (using, model, key_fields, tuple(returning))
    compiled = _INSERTS.get(key)
    connection = connections[using]
    if compiled is not None:
        params = _params(instance, fields, preparing, connection)
        if params is not None:
            return compiled[0], params, fields
    query = InsertQuery(model)
    query.insert_values(fields, [instance])
    compiler = query.get_compiler(using=using)
    compiler.returning_fields = list(returning) or None
    ((sql, params),) = compiler.as_sql()
    plain = not any(hasattr(f, "get_placeholder") for f in fields) and len(params) == len(fields)
    if plain and not any(hasattr(value, "resolve_expression") for value in params):
        _INSERTS[key] = (sql, fields)
    return sql, list(params), fields


# Per model and whether the key is given: the fields of its INSERT, as a tuple (_INSERTS' key), and how each value is
# prepared (_prepared_as).
_PLANS: dict[tuple, tuple] = {}
# Fields whose get_db_prep_save answers a value of exactly these types as it is (their get_prep_value only converts
# other types) and None as None: read from the instance and sent without it. Any other field or value goes through
# Django. A subclass may override either method, hence the exact classes.
_SENT_AS_IS = {
    models.CharField: (str,),
    models.TextField: (str,),
    models.BooleanField: (bool,),
    models.IntegerField: (int,),
    models.PositiveIntegerField: (int,),
    models.PositiveSmallIntegerField: (int,),
    models.SmallIntegerField: (int,),
    models.BigIntegerField: (int,),
    models.FloatField: (float,),
}
# Fields whose get_db_prep_save answers None as None (besides those above).
_NONE_AS_IS = (models.DateTimeField, models.UUIDField, models.ForeignKey)


def _prepared_as(field) -> tuple:
    """Return (attribute, whether pre_save only reads it, the types sent as they are, whether None is) of `field`."""
    plain_read = type(field).pre_save is models.Field.pre_save
    as_is = _SENT_AS_IS.get(type(field), ())
    return field.attname, plain_read, as_is, bool(as_is) or type(field) in _NONE_AS_IS


def _params(instance, fields: list, preparing: list, connection) -> list | None:
    """Return the INSERT's parameters of `instance` as the ORM's compiler prepares them (each field's pre_save, then
    get_db_prep_save), or None when a value is an expression (the compiler must place it)."""
    params = []
    for field, (attname, plain_read, as_is, none_as_is) in zip(fields, preparing, strict=True):
        value = getattr(instance, attname) if plain_read else field.pre_save(instance, True)
        if type(value) in as_is or (value is None and none_as_is):
            params.append(value)
        elif hasattr(value, "resolve_expression"):
            return None
        else:
            params.append(field.get_db_prep_save(value, connection))
    return params


class EventRow(SimpleNamespace):
    """An event as events_record_many wrote it: its columns as attributes, `pk`, and `issue` and `actor` as the record
    gave them. What the audience rules, the outbox and the after-commit hooks read of an event, without a model
    instance each (a sweep writes thousands)."""


def events_record_many(*, records: list[dict], rollups: bool = True) -> list[EventRow]:
    """Append many events at once (a sweep's), each with the outbox rows event_record would write for it, atomically.

    `records`: one dict of event_record's keyword arguments per event, at most one per issue (the partners' webhook
    bodies show each issue as it is now). A constant number of queries however many events: one insert of the events
    (config.bulk.rows_insert: columns, not a model instance each), one read of the staff above all their issues, then
    the outbox rows of all of them (notifications.outbox). `rollups=False`: the caller counts the change in the
    statistics rollups itself, as a delta (a sweep's escalations: issues.rollups.rollup_escalations).
    """
    for action in {record["action"] for record in records}:
        _known_action(action)
    if not records:
        return []
    with transaction.atomic(savepoint=False):
        at = timezone.now()  # auto_now_add: the moment of the insert, one for the batch as bulk_create gives it
        columns = {
            "issue_id": [r["issue"].pk for r in records],
            "actor_id": [_pk(r.get("actor")) for r in records],
            "action": [r["action"] for r in records],
            "from_status": [r["from_status"] for r in records],
            "to_status": [r["to_status"] for r in records],
            "note": [r.get("note", "") for r in records],
            "internal": [r.get("internal", False) for r in records],
            "data": [r.get("data") or {} for r in records],
            "at": [at] * len(records),
        }
        written = rows_insert(model=Event, columns=columns, returning=("id",))
        names = list(columns)
        events = [
            EventRow(
                pk=pk, id=pk, issue=record["issue"], actor=record.get("actor"), **dict(zip(names, values, strict=True))
            )
            for record, (pk,), *values in zip(records, written, *columns.values(), strict=True)
        ]
        node_staff = _remembered(node_staff_lookup(paths=[event.issue.area_path for event in events]))
        writes = []
        for event in events:
            audience = audience_for(event, node_staff=node_staff)
            writes.append(
                {
                    "event": event,
                    "recipients": audience.recipients,
                    "about": audience.about,
                    "webhook_type": audience.webhook_type,
                    "area_alert": audience.area_alert,
                }
            )
        outbox_write_many(writes=writes, partner_issues=partner_issues_data)
        if rollups:
            rollup_refresh([event.issue_id for event in events])
        _hooks_call(events)
    return events


def _remembered(lookup):
    """Return `lookup(path=…, roles=…)` answering each (node, roles) once: a sweep's issues share few nodes."""
    answers: dict[tuple, list[int]] = {}

    def remembered(*, path: str, roles) -> list[int]:
        key = (path, tuple(roles))
        if key not in answers:
            answers[key] = lookup(path=path, roles=roles)
        return answers[key]

    return remembered


def _pk(actor):
    return None if actor is None else getattr(actor, "pk", actor)
