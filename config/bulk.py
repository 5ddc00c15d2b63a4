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
import uuid
from collections.abc import Sequence
from datetime import date

from django.db import connection
from django.db.models import ForeignKey, JSONField, Lookup, Model, UUIDField
from django.db.models.lookups import In
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


def rows_insert_grouped(*, model: type[Model], columns: dict[str, Sequence], grouped: dict[str, Sequence], on: str):
    """Insert, for each position of `columns`, one row of `model` per position of `grouped` with the same `on` value,
    the two joined into one row (an event's own values times the rows its group of recipients shares); the fields
    named in neither get their defaults. Return the new rows' primary keys as text.

    Many rows repeat a few groups' values: on PostgreSQL the database multiplies them out, one INSERT … SELECT of the
    two unnest()s joined, a UUID primary key made by gen_random_uuid() (what uuid.uuid4, its default, makes), the
    other defaults sent once; elsewhere the rows are multiplied out here and go through rows_insert.
    """
    if not columns[on] or not grouped[on]:
        return []
    own = [name for name in columns if name != on]
    shared = [name for name in grouped if name != on]
    if connection.vendor != "postgresql":
        by_group: dict = {}
        for i, key in enumerate(grouped[on]):
            by_group.setdefault(key, []).append(i)
        rows = {name: [] for name in [*own, *shared]}
        for i, key in enumerate(columns[on]):
            for j in by_group.get(key, ()):
                for name in own:
                    rows[name].append(columns[name][i])
                for name in shared:
                    rows[name].append(grouped[name][j])
        pk = model._meta.pk.attname
        return [str(key) for (key,) in rows_insert(model=model, columns=rows, returning=(pk,))]
    fields = {field.attname: field for field in model._meta.concrete_fields}
    quote = connection.ops.quote_name
    names, exprs, params = [], [], []
    for field in model._meta.concrete_fields:
        name = field.attname
        if name in own or name in shared or name == on:
            continue
        if field.primary_key and isinstance(field, UUIDField) and field.default is uuid.uuid4:
            names.append(name)
            exprs.append("gen_random_uuid()")
        elif field.primary_key and not field.has_default():
            continue  # numbered by the database
        elif getattr(field, "auto_now", False) or getattr(field, "auto_now_add", False):
            names.append(name)
            exprs.append(f"%s::{field.db_type(connection)}")
            params.append(timezone.now())
        elif field.has_default() and callable(field.default):
            raise ValueError(f"{model.__name__}.{name}: a default made per row; give its values")
        else:
            names.append(name)
            exprs.append(f"%s::{field.db_type(connection)}")
            params.append(_as_stored(field, [field.get_default()])[0])
    own_arrays = [f"%s::{fields[name].db_type(connection)}[]" for name in own]
    shared_arrays = [f"%s::{fields[name].db_type(connection)}[]" for name in shared]
    a = ", ".join(f"a{i}" for i in range(len(own)))
    b = ", ".join(f"b{i}" for i in range(len(shared)))
    sql = (
        f"INSERT INTO {quote(model._meta.db_table)} "
        f"({', '.join(quote(fields[n].column) for n in [*names, *own, *shared])}) "
        f"SELECT {', '.join([*exprs, a, b])} "
        f"FROM unnest(%s::bigint[], {', '.join(own_arrays)}) AS own(k, {a}) "
        f"JOIN unnest(%s::bigint[], {', '.join(shared_arrays)}) AS shared(k, {b}) USING (k) "
        f"RETURNING {quote(model._meta.pk.column)}::text"
    )
    params += [array_literal(list(columns[on]))]
    params += [array_literal(_as_stored(fields[name], list(columns[name]))) for name in own]
    params += [array_literal(list(grouped[on]))]
    params += [array_literal(_as_stored(fields[name], list(grouped[name]))) for name in shared]
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return [key for (key,) in cursor.fetchall()]


@UUIDField.register_lookup
@ForeignKey.register_lookup
class AnyOf(Lookup):
    """`field__any_of=keys`: the rows whose `field` is one of `keys` (UUIDs, or None), as `__in` answers.

    On PostgreSQL `field = ANY('{…}'::uuid[])`, the keys as one array literal: `__in` prepares each key through the
    field, psycopg2 adapts each and the server parses a parameter per key (a sweep's chunk reads and writes a
    thousand issues by key: a tenth of its Python time). Elsewhere `__in`'s SQL.
    """

    lookup_name = "any_of"

    def as_sql(self, compiler, connection):
        if connection.vendor != "postgresql":
            return In(self.lhs, self.rhs).as_sql(compiler, connection)
        lhs, lhs_params = self.process_lhs(compiler, connection)
        keys = array_literal([None if key is None else str(key) for key in self.rhs])
        return f"{lhs} = ANY(%s::{self.lhs.output_field.db_type(connection)}[])", [*lhs_params, keys]

    def get_prep_lookup(self):
        return list(self.rhs)
