"""Insert many rows given column by column, set-based, without building a model instance per row (a sweep's).

`bulk_create` costs about as much Python per row as the database spends writing it: a model instance, then every
value prepared field by field. The escalation sweep writes tens of thousands of events and outbox rows at once, so
`rows_insert` takes the values as columns and, on PostgreSQL, sends each column as one array parameter to
`INSERT … SELECT * FROM unnest(…)`: one statement, one parameter per column, whatever the number of rows. Each
column goes as one array literal ('{"a","b",NULL}', read by the server's array input in one pass): psycopg2 would
send a list as ARRAY['a', 'b', NULL], thousands of constants the server parses and casts one by one (a third of the
time of a 2,000-row outbox insert on the 1 M dataset). Any other
database (SQLite in the tests) goes through `bulk_create` with the same values: the same rows, the generic path.
"""

import json
from collections.abc import Sequence
from datetime import date

from django.db import connection
from django.db.models import JSONField, Model, UUIDField
from django.utils import timezone


def _defaults(model: type[Model], given: set[str], size: int) -> dict[str, list]:
    """Return {column: values} for the concrete fields not `given`, as `Model()` and `save()` would fill them."""
    filled: dict[str, list] = {}
    now = None
    for field in model._meta.concrete_fields:
        if field.attname in given or (field.primary_key and not field.has_default()):
            continue  # given, or numbered by the database
        if getattr(field, "auto_now", False) or getattr(field, "auto_now_add", False):
            now = now or timezone.now()
            filled[field.attname] = [now] * size
        elif field.has_default() and callable(field.default):
            filled[field.attname] = [field.default() for _ in range(size)]
        else:
            filled[field.attname] = [field.get_default()] * size
    return filled


def _as_stored(field, values: list) -> list:
    """Return `values` as the array parameter of `field`'s column takes them (JSON as text, UUIDs as text)."""
    if isinstance(field, JSONField):
        dumped: dict[int, str] = {}  # the rows of one event share one payload object: dump it once
        out = []
        for value in values:
            key = id(value)
            if key not in dumped:
                dumped[key] = json.dumps(value, cls=field.encoder)
            out.append(dumped[key])
        return out
    target = field.target_field if field.is_relation else field
    if isinstance(target, UUIDField):
        return [None if value is None else str(value) for value in values]
    return values


def array_literal(values: list) -> str:
    """Return `values` (None, str, bool, numbers, dates and datetimes) as one PostgreSQL array literal.

    For an array parameter (`%s::text[]`): read by the server's array input in one pass, where psycopg2 would send a
    list as ARRAY[…] of constants, adapting each in Python (a date: 20 µs) and the server parsing and casting each."""
    quoted: dict[int, str] = {}  # by object: a column often repeats one value object ([now] * n, one payload)
    out = []
    for value in values:
        key = id(value)
        element = quoted.get(key)
        if element is None:
            element = quoted[key] = _array_element(value)
        out.append(element)
    return "{" + ",".join(out) + "}"


def _array_element(value) -> str:
    if value is None:
        return "NULL"
    if isinstance(value, bool):
        text = "t" if value else "f"
    elif isinstance(value, date):  # datetimes too: ISO 8601, with their offset
        text = value.isoformat()
    else:
        text = str(value)
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def rows_insert(*, model: type[Model], columns: dict[str, Sequence], returning: Sequence[str] = ()) -> list[tuple]:
    """Insert one row of `model` per position of the equally long `columns` ({attname: values}); the fields not named
    get their defaults (auto_now and callables per row, as bulk_create gives them). Return one tuple of the
    `returning` columns per row, in row order (e.g. ("id", "at"): what the database numbered and stamped)."""
    sizes = {len(values) for values in columns.values()}
    if len(sizes) != 1:
        raise ValueError(f"columns of different lengths: {sorted(sizes)}")
    size = sizes.pop()
    if not size:
        return []
    columns = {**columns, **_defaults(model, set(columns), size)}
    fields = {field.attname: field for field in model._meta.concrete_fields}
    if connection.vendor != "postgresql":
        objects = model._default_manager.bulk_create(
            [model(**{name: values[i] for name, values in columns.items()}) for i in range(size)]
        )
        return [tuple(getattr(obj, name) for name in returning) for obj in objects]
    quote = connection.ops.quote_name
    names = list(columns)
    arrays = ", ".join(f"%s::{fields[name].db_type(connection)}[]" for name in names)
    sql = (
        f"INSERT INTO {quote(model._meta.db_table)} ({', '.join(quote(fields[n].column) for n in names)}) "
        f"SELECT * FROM unnest({arrays})"
    )
    if returning:
        sql += f" RETURNING {', '.join(quote(fields[name].column) for name in returning)}"
    with connection.cursor() as cursor:
        cursor.execute(sql, [array_literal(_as_stored(fields[name], list(columns[name]))) for name in names])
        return [tuple(row) for row in cursor.fetchall()] if returning else []
