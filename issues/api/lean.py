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
"""

import orjson
from django.db import connections
from django.db.models import QuerySet
from django.db.models.expressions import RawSQL
from django.utils import timezone

from issues.models import Dispatch, Event, Issue, Photo, Rating
from issues.personal_data import can_see_reporter, handles_issue, reporter_for
from orgs.models import Department

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
DISPATCHES, PHOTOS, RATING = "lean_dispatches", "lean_photos", "lean_rating"


def _aggregates(vendor: str) -> dict[str, str]:
    """Return the SQL of the three correlated subqueries, for the database `vendor`."""
    issue, dispatch, department = Issue._meta.db_table, Dispatch._meta.db_table, Department._meta.db_table
    photo, rating = Photo._meta.db_table, Rating._meta.db_table
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
    if vendor == "postgresql":
        return {
            DISPATCHES: f"SELECT json_agg(json_build_array(x.code, x.lead, x.status, x.active, x.department_id))"
            f" FROM ({dispatch_rows} ORDER BY {dispatch_order}) x",
            PHOTOS: f"SELECT json_agg(x.image) FROM ({photo_rows} ORDER BY {photo_order}) x",
            RATING: latest_rating,
        }
    # SQLite (3.40 has no ORDER BY inside an aggregate): aggregate an ordered subquery, which it reads in order.
    return {
        DISPATCHES: f"SELECT json_group_array(json_array(x.code, x.lead, x.status, x.active, x.department_id))"
        f" FROM ({dispatch_rows} ORDER BY {dispatch_order}) x",
        PHOTOS: f"SELECT json_group_array(x.image) FROM ({photo_rows} ORDER BY {photo_order}) x",
        RATING: latest_rating,
    }


def lean_queryset(queryset: QuerySet[Issue]) -> QuerySet:
    """Return `queryset` (scoped, filtered) as the values a representation needs, in one query per page."""
    sql = _aggregates(connections[queryset.db].vendor)
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
        dispatches = _json(values[DISPATCHES])
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
            photos=_json(values[PHOTOS]),
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

    def events(self, facts: IssueFacts) -> list[dict]:
        """Return IssueDetailSerializer's `events` of the issue behind `facts`: one query."""
        viewer = self.viewer
        handles = handles_issue(viewer, facts)
        sees_reporter = can_see_reporter(viewer, facts)
        rows = (
            Event.objects.filter(issue_id=facts.pk)
            .order_by("at", "id")
            .values_list("at", "actor_id", "actor__username", "action", "from_status", "to_status", "note", "internal")
        )
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
    """Return IssueDetailSerializer's answer for issue `pk` of `queryset` (scoped), or None: two queries."""
    values = lean_queryset(queryset.filter(pk=pk)).first()
    if values is None:
        return None
    representer = Representer(request)
    data = representer.row(values)
    data["events"] = representer.events(_facts_of(values, _json(values[DISPATCHES])))
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


def _json(value) -> list:
    """Return an aggregated array: PostgreSQL's driver parses json, SQLite answers text; no rows is NULL in PG."""
    if value is None:
        return []
    if isinstance(value, (str, bytes)):
        return orjson.loads(value)
    return value
