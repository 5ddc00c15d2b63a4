"""The issue representation on the hot paths, read lean: what IssueSerializer answers, key for key, without it.

A list page of the issue API used to build each row through DRF serializers over three prefetches (dispatches,
photos, ratings): four queries and most of the page's time in ORM compilation and field objects. Here one query
reads the page as plain values, each issue's dispatches and photos aggregated into JSON arrays and its latest
rating as a scalar by correlated subqueries (PostgreSQL `json_agg`; SQLite `json_group_array` over an ordered
subquery), and plain dicts are built from them. The detail adds one query for the events; a fresh submission is
answered from the issue the workflow just wrote, without reading it back.

Nothing here decides who sees what: the rows come from the caller's scoped queryset (issues.access), and the
reporter and internal notes are masked by issues.personal_data, asked of a small stand-in (`IssueFacts`) with the
fields it reads. tests/api/test_lean.py compares every answer with IssueSerializer's over varied data; a field
added to the serializer must be added here (that test fails until it is).

Building that queryset and compiling it cost more than running it (a millisecond of ORM work per request): the list
page and the detail of an unfiltered request run a statement compiled once per shape (the caller's scope, the
ordering, the cursor's direction, the slice) and kept in this process (`Statement`), with the page's position or the
issue's id put in its placeholder. The scope is part of the shape: a changed membership is a different statement.
"""

import itertools
import threading
import uuid
from collections import OrderedDict
from datetime import UTC, datetime

import orjson
from django.db import connections, router
from django.db.models import QuerySet
from django.db.models.expressions import RawSQL
from django.utils import timezone

from config.compiled import execute_prepared
from issues.models import Dispatch, Event, Issue, Photo, Rating
from issues.personal_data import can_see_reporter, handles_issue, reporter_for
from orgs.models import Department
from orgs.scoping import scope_for_user

# The issue's own columns a representation reads (plus what masking reads: reporter account, area path).
COLUMNS = (
    "id",
    "number",
    "status",
    "kind",
    "category__code",
    "category__name",
    "urgent",
    "title",
    "description",
    "lat",
    "lng",
    "address",
    "district_code",
    "street_code",
    "community_code",
    "grid_code",
    "building_code",
    "escalation_level",
    "response_due_at",
    "resolution_due_at",
    "channel",
    "created_at",
    "updated_at",
    "version",
    "reporter_user_id",
    "reporter_name",
    "reporter_phone",
    "area_path",
)
DISPATCHES, PHOTOS, RATING, EVENTS = "lean_dispatches", "lean_photos", "lean_rating", "lean_events"


def _aggregates(vendor: str, *, events: bool = False) -> dict[str, str]:
    """Return the SQL of the correlated subqueries (the issue's events too if `events`), for the database `vendor`.

    The arrays come back as JSON text, parsed by orjson (psycopg2 would parse json with the slower json module).
    """
    issue, dispatch, department = Issue._meta.db_table, Dispatch._meta.db_table, Department._meta.db_table
    photo, rating, event = Photo._meta.db_table, Rating._meta.db_table, Event._meta.db_table
    user = Event._meta.get_field("actor").related_model._meta.db_table
    outer = f'"{issue}"."id"'
    # Dispatch.Meta.ordering, Photo.Meta.ordering; the latest rating is the last in Rating.Meta.ordering.
    dispatch_rows = (
        f"SELECT dep.code AS code, d.lead AS lead, d.status AS status, d.active AS active,"
        f" d.department_id AS department_id FROM {dispatch} d JOIN {department} dep ON dep.id = d.department_id"
        f" WHERE d.issue_id = {outer}"
    )
    dispatch_order = "d.lead DESC, d.created_at, d.id"
    photo_rows = f"SELECT p.image AS image FROM {photo} p WHERE p.issue_id = {outer}"
    photo_order = "p.created_at, p.id"
    latest_rating = (
        f"SELECT r.score FROM {rating} r WHERE r.issue_id = {outer} ORDER BY r.created_at DESC, r.id DESC LIMIT 1"
    )
    # IssueDetailSerializer's events: in time order, with the actor's username.
    event_rows = (
        f"SELECT e.at AS at, e.actor_id AS actor_id, u.username AS username, e.action AS action,"
        f" e.from_status AS from_status, e.to_status AS to_status, e.note AS note, e.internal AS internal"
        f" FROM {event} e LEFT JOIN {user} u ON u.id = e.actor_id WHERE e.issue_id = {outer}"
    )
    event_order = "e.at, e.id"
    event_array = "x.at, x.actor_id, x.username, x.action, x.from_status, x.to_status, x.note, x.internal"
    if vendor == "postgresql":
        sql = {
            DISPATCHES: f"SELECT json_agg(json_build_array(x.code, x.lead, x.status, x.active, x.department_id))::text"
            f" FROM ({dispatch_rows} ORDER BY {dispatch_order}) x",
            PHOTOS: f"SELECT json_agg(x.image)::text FROM ({photo_rows} ORDER BY {photo_order}) x",
            RATING: latest_rating,
        }
        if events:
            sql[EVENTS] = (
                f"SELECT json_agg(json_build_array({event_array}))::text FROM ({event_rows} ORDER BY {event_order}) x"
            )
        return sql
    # SQLite (3.40 has no ORDER BY inside an aggregate): aggregate an ordered subquery, which it reads in order.
    sql = {
        DISPATCHES: f"SELECT json_group_array(json_array(x.code, x.lead, x.status, x.active, x.department_id))"
        f" FROM ({dispatch_rows} ORDER BY {dispatch_order}) x",
        PHOTOS: f"SELECT json_group_array(x.image) FROM ({photo_rows} ORDER BY {photo_order}) x",
        RATING: latest_rating,
    }
    if events:
        sql[EVENTS] = f"SELECT json_group_array(json_array({event_array})) FROM ({event_rows} ORDER BY {event_order}) x"
    return sql


def lean_queryset(queryset: QuerySet[Issue], *, events: bool = False) -> QuerySet:
    """Return `queryset` (scoped, filtered) as the values a representation needs (and its events if `events`), in
    one query per page."""
    sql = _aggregates(connections[queryset.db].vendor, events=events)
    return (
        queryset.prefetch_related(None)
        .values(*COLUMNS)
        .annotate(**{name: RawSQL(f"({statement})", ()) for name, statement in sql.items()})
    )


class _Related:
    """What `issue.dispatches` answers to the masking rules: `.all()`."""

    __slots__ = ("items",)

    def __init__(self, items):
        self.items = items

    def all(self):
        return self.items


class _DispatchFacts:
    __slots__ = ("department_id", "active")

    def __init__(self, department_id, active):
        self.department_id = department_id
        self.active = active


class IssueFacts:
    """The fields of an issue that issues.personal_data reads, from a lean row (no model instance, no query)."""

    __slots__ = ("pk", "reporter_user_id", "reporter_name", "reporter_phone", "area_path", "dispatches")

    def __init__(self, *, pk, reporter_user_id, reporter_name, reporter_phone, area_path, dispatches):
        self.pk = pk
        self.reporter_user_id = reporter_user_id
        self.reporter_name = reporter_name
        self.reporter_phone = reporter_phone
        self.area_path = area_path
        self.dispatches = _Related([_DispatchFacts(department_id, active) for department_id, active in dispatches])


class Representer:
    """Build IssueSerializer's dicts for one request: its viewer, its host (photo URLs), its time zone."""

    def __init__(self, request):
        self.request = request
        self.viewer = getattr(request, "user", None)
        self.zone = timezone.get_current_timezone()
        self.storage = Photo._meta.get_field("image").storage

    def moment(self, value):
        """Return `value` as DRF's DateTimeField writes it (ISO 8601 in the current time zone, UTC as Z)."""
        if not value:
            return None
        text = value.astimezone(self.zone).isoformat()
        return text[:-6] + "Z" if text.endswith("+00:00") else text

    def photo_urls(self, names) -> list[str]:
        urls = [self.storage.url(name) for name in names]
        request = self.request
        return [request.build_absolute_uri(url) for url in urls] if request is not None else urls

    def row(self, values: dict) -> dict:
        """Return the representation of a lean row (lean_queryset)."""
        dispatches = json_rows(values[DISPATCHES])
        facts = _facts_of(values, dispatches)
        return self._issue(
            values,
            category=(
                {"code": values["category__code"], "name": values["category__name"]}
                if values["category__code"] is not None
                else None
            ),
            dispatches=[
                {"department": code, "lead": bool(lead), "status": status}
                for code, lead, status, active, _ in dispatches
                if active
            ],
            facts=facts,
            rating=values[RATING],
            photos=json_rows(values[PHOTOS]),
        )

    def issue(self, issue: Issue, *, photos=(), dispatches=(), rating=None) -> dict:
        """Return the representation of an issue in memory, with its `photos` (names), active `dispatches`, `rating`.

        For an issue just written whose relations the caller knows (a submission has no dispatch and no rating).
        """
        values = {name: getattr(issue, name) for name in COLUMNS if "__" not in name}
        category = issue.category
        facts = IssueFacts(
            pk=issue.pk,
            reporter_user_id=issue.reporter_user_id,
            reporter_name=issue.reporter_name,
            reporter_phone=issue.reporter_phone,
            area_path=issue.area_path,
            dispatches=[(d.department_id, d.active) for d in dispatches],
        )
        return self._issue(
            values,
            category={"code": category.code, "name": category.name} if category else None,
            dispatches=[
                {"department": d.department.code, "lead": d.lead, "status": d.status} for d in dispatches if d.active
            ],
            facts=facts,
            rating=rating,
            photos=list(photos),
        )

    def _issue(self, values, *, category, dispatches, facts, rating, photos) -> dict:
        moment = self.moment
        lat, lng = values["lat"], values["lng"]
        return {
            "id": str(values["id"]),
            "number": values["number"],
            "status": values["status"],
            "kind": values["kind"],
            "category": category,
            "urgent": bool(values["urgent"]),
            "title": values["title"],
            "description": values["description"],
            "location": None if lat is None or lng is None else {"lat": lat, "lng": lng},
            "address": values["address"],
            "area": {
                "district": values["district_code"],
                "street": values["street_code"],
                "community": values["community_code"],
                "grid": values["grid_code"],
                "building": values["building_code"] or None,
            },
            "escalation_level": values["escalation_level"],
            "response_due_at": moment(values["response_due_at"]),
            "resolution_due_at": moment(values["resolution_due_at"]),
            "dispatches": dispatches,
            "reporter": reporter_for(self.viewer, facts),
            "rating": rating,
            "photos": self.photo_urls(photos),
            "channel": values["channel"],
            "created_at": moment(values["created_at"]),
            "updated_at": moment(values["updated_at"]),
            "version": values["version"],
        }

    def events(self, facts: IssueFacts, rows=None) -> list[dict]:
        """Return IssueDetailSerializer's `events` of the issue behind `facts`: from `rows` (the lean row's event
        array: at as ISO text, actor id, username, action, from, to, note, internal), else read in one query."""
        viewer = self.viewer
        handles = handles_issue(viewer, facts)
        sees_reporter = can_see_reporter(viewer, facts)
        if rows is None:
            rows = (
                Event.objects.filter(issue_id=facts.pk)
                .order_by("at", "id")
                .values_list(
                    "at", "actor_id", "actor__username", "action", "from_status", "to_status", "note", "internal"
                )
            )
        else:
            rows = [(_moment_of_json(row[0]), *row[1:]) for row in rows]
        events = []
        for at, actor_id, username, action, from_status, to_status, note, internal in rows:
            if internal and not handles:
                continue
            actor = username if actor_id else None
            if actor_id and actor_id == facts.reporter_user_id and not sees_reporter:
                actor = "reporter"
            events.append(
                {
                    "at": self.moment(at),
                    "actor": actor,
                    "action": action,
                    "from_status": from_status,
                    "to_status": to_status,
                    "note": note,
                }
            )
        return events


def issue_rows(rows, *, request) -> list[dict]:
    """Return the representations of the lean rows of a page (lean_queryset), in their order."""
    representer = Representer(request)
    return [representer.row(values) for values in rows]


def issue_detail(queryset: QuerySet[Issue], pk, *, request) -> dict | None:
    """Return IssueDetailSerializer's answer for issue `pk` of `queryset` (scoped), or None: one query."""
    values = lean_queryset(queryset.filter(pk=pk), events=True).first()
    return None if values is None else _detail(values, request)


def issue_detail_for_user(*, user, pk, request) -> dict | None:
    """Return IssueDetailSerializer's answer for issue `pk` if `user` may see it, or None: one query, whose SQL is
    compiled once per scope (`Statement`)."""
    statement = Statement.of(("detail", scope_for_user(user)), _detail_query(user), ISSUE_ID)
    rows = statement.run(pk)
    return _detail(rows[0], request) if rows else None


def _detail_query(user):
    from issues.selectors import issue_list_for_user

    return lambda pk: lean_queryset(issue_list_for_user(user=user).filter(pk=pk), events=True)[:1]


def _detail(values: dict, request) -> dict:
    representer = Representer(request)
    data = representer.row(values)
    data["events"] = representer.events(_facts_of(values, json_rows(values[DISPATCHES])), json_rows(values[EVENTS]))
    return data


def issue_one(queryset: QuerySet[Issue], pk, *, request) -> dict | None:
    """Return IssueSerializer's answer for issue `pk` of `queryset`, or None: one query."""
    values = lean_queryset(queryset.filter(pk=pk)).first()
    return None if values is None else Representer(request).row(values)


def _facts_of(values: dict, dispatches: list) -> IssueFacts:
    return IssueFacts(
        pk=values["id"],
        reporter_user_id=values["reporter_user_id"],
        reporter_name=values["reporter_name"],
        reporter_phone=values["reporter_phone"],
        area_path=values["area_path"],
        dispatches=[(d[4], bool(d[3])) for d in dispatches],
    )


def json_rows(value) -> list:
    """Return an aggregated array: PostgreSQL's driver parses json, SQLite answers text; no rows is NULL in PG."""
    if value is None:
        return []
    if isinstance(value, (str, bytes)):
        return orjson.loads(value)
    return value


def _moment_of_json(text: str) -> datetime:
    """Return a timestamp of an aggregated array (PostgreSQL: ISO 8601 with its offset; SQLite: UTC, no offset)."""
    moment = datetime.fromisoformat(text)
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


# --- Statements compiled once per shape ------------------------------------------------------------------------


class Placeholder:
    """A value of a statement that changes between requests of one shape: a stand-in while it is compiled, and the
    way the ORM turns the request's value into a parameter (`field`'s get_db_prep_value)."""

    def __init__(self, stand_in, field):
        self.stand_in = stand_in
        self.field = field

    def prepare(self, value, connection):
        return self.field.get_db_prep_value(value, connection, prepared=False)


# An issue's id; a cursor's position (a moment: created_at, or a coalesced resolution deadline, both DateTimeFields).
ISSUE_ID = Placeholder(uuid.UUID("5e5e5e5e-0000-4000-8000-5e5e5e5e5e5e"), Issue._meta.pk)
POSITION = Placeholder("1000-01-01T00:00:00.000001+00:00", Issue._meta.get_field("created_at"))
# Statements kept per process, least recently used first: shapes × callers seen lately.
STATEMENTS_KEPT = 2048
_kept_lock = threading.Lock()


class Statement:
    """The SQL of a queryset compiled once and run again with other values in its one placeholder.

    `Statement.of(shape, build, placeholder)` compiles `build(placeholder.stand_in)` the first time `shape` is seen
    (on the database the router reads Issue from) and finds the stand-in among the parameters; `run(value)` executes
    it with `value` there and returns the rows as `values()` would (the ORM's converters applied). `shape` must name
    everything else the SQL depends on (the caller's scope, the ordering, the slice).

    On PostgreSQL the statement is also prepared on each connection that runs it (PREPARE, with every parameter but
    the placeholder written into it, then EXECUTE): planning these queries (three correlated subqueries, the events
    for a detail) took 0.6–1 ms, longer than running them, and a prepared statement is planned once or a few times
    (once, with a generic plan, on a database partitioned by month: config.compiled.GENERIC_PLANS_WHEN_PARTITIONED).
    The first run on a connection sends PREPARE and EXECUTE together, in one round trip.
    """

    __slots__ = ("alias", "sql", "params", "slot", "placeholder", "names", "converters", "name", "prepared_sql")
    _kept: OrderedDict = OrderedDict()

    @classmethod
    def of(cls, shape, build, placeholder: Placeholder | None) -> "Statement":
        alias = router.db_for_read(Issue)
        key = (alias, shape)
        statement = cls._kept.get(key)
        if statement is None:
            statement = cls(alias, build, placeholder)
        with _kept_lock:  # threaded servers: the OrderedDict's moves are not atomic
            cls._kept[key] = statement
            cls._kept.move_to_end(key)
            while len(cls._kept) > STATEMENTS_KEPT:
                cls._kept.popitem(last=False)
        return statement

    def __init__(self, alias, build, placeholder):
        connection = connections[alias]
        queryset = build(placeholder.stand_in) if placeholder else build(None)
        compiler = queryset.query.get_compiler(using=alias)
        sql, params = compiler.as_sql()
        self.alias, self.sql, self.params, self.placeholder = alias, sql, list(params), placeholder
        self.slot = None
        if placeholder is not None:
            stand_in = placeholder.prepare(placeholder.stand_in, connection)
            slots = [n for n, param in enumerate(self.params) if param == stand_in]
            if len(slots) != 1:
                raise ValueError(f"the placeholder is {len(slots)} parameters of {sql}")
            self.slot = slots[0]
        query = queryset.query
        self.names = [*query.extra_select, *query.values_select, *query.annotation_select]
        self.converters = list(compiler.get_converters([s[0] for s in compiler.select[: compiler.col_count]]).items())
        self.name = self.prepared_sql = None
        if connection.vendor == "postgresql":
            params = self.params.copy()
            if self.slot is not None:
                params[self.slot] = _FirstParameter()
            with connection.cursor() as cursor:
                self.prepared_sql = cursor.mogrify(sql, params).decode()
            self.name = f"griddesk_lean_{next(_statement_numbers)}"

    def run(self, value=None) -> list[dict]:
        connection = connections[self.alias]
        params = self.params
        if self.slot is not None:
            params = params.copy()
            params[self.slot] = self.placeholder.prepare(value, connection)
        if self.name is None:
            with connection.cursor() as cursor:
                cursor.execute(self.sql, params)
                rows = cursor.fetchall()
        else:
            execute = f"EXECUTE {self.name}(%s)" if self.slot is not None else f"EXECUTE {self.name}"
            params = [params[self.slot]] if self.slot is not None else []
            rows = execute_prepared(connection, self.name, statement=self.prepared_sql, execute=execute, params=params)
        names, converters = self.names, self.converters
        if converters:
            rows = [list(row) for row in rows]
            for row in rows:
                for position, (functions, expression) in converters:
                    value = row[position]
                    for function in functions:
                        value = function(value, expression, connection)
                    row[position] = value
        return [dict(zip(names, row, strict=True)) for row in rows]


_statement_numbers = itertools.count(1)


class _FirstParameter:
    """Written by psycopg2 as the prepared statement's first parameter, `$1`."""

    def __conform__(self, protocol):
        return self

    def getquoted(self) -> bytes:
        return b"$1"


class PageQuery:
    """The unfiltered lean list of a caller as CursorPagination uses a queryset: `order_by`, `annotate` (a sort key),
    one position `filter`, one slice; iterating it runs the Statement of that shape with the page's position."""

    def __init__(self, user, ops=(), position=None):
        self.user, self.ops, self.position = user, ops, position

    def _with(self, op, **changes) -> "PageQuery":
        return PageQuery(self.user, (*self.ops, op), changes.get("position", self.position))

    def order_by(self, *fields) -> "PageQuery":
        return self._with(("order_by", fields))

    def annotate(self, **expressions) -> "PageQuery":
        # The pagination's sort keys are constant expressions of their name (IssueCursorPagination).
        return self._with(("annotate", tuple(expressions.items())))

    def filter(self, **lookups) -> "PageQuery":
        ((lookup, position),) = lookups.items()
        return self._with(("filter", lookup), position=position)

    def __getitem__(self, window: slice) -> "PageQuery":
        return self._with(("slice", window.start, window.stop))

    def __iter__(self):
        shape = ("list", scope_for_user(self.user), tuple(_op_shape(op) for op in self.ops))
        has_position = any(op[0] == "filter" for op in self.ops)
        statement = Statement.of(shape, self._build, POSITION if has_position else None)
        return iter(statement.run(self.position))

    def _build(self, position):
        from issues.selectors import issue_list_for_user

        queryset = lean_queryset(issue_list_for_user(user=self.user))
        for op in self.ops:
            if op[0] == "order_by":
                queryset = queryset.order_by(*op[1])
            elif op[0] == "annotate":
                queryset = queryset.annotate(**dict(op[1]))
            elif op[0] == "filter":
                queryset = queryset.filter(**{op[1]: position})
            else:
                queryset = queryset[op[1] : op[2]]
        return queryset


def _op_shape(op) -> tuple:
    """Return what of a PageQuery operation shapes the SQL: an annotation by its name (constant per name)."""
    return ("annotate", tuple(name for name, _ in op[1])) if op[0] == "annotate" else op
