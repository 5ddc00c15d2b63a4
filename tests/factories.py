"""factory_boy factories that build whole territory chains and the people who act on them."""

import factory
from django.contrib.auth import get_user_model

from grids.models import Area
from grids.services import area_path_for
from issues.models import Category
from orgs.models import Department, Membership


class AreaFactory(factory.django.DjangoModelFactory):
    """Build a node; pass `parent` for anything below a district (the path follows it)."""

    class Meta:
        model = Area
        django_get_or_create = ("code",)

    level = Area.Level.DISTRICT
    parent = None
    code = factory.Sequence(lambda n: f"{900000 + n}")
    name = factory.LazyAttribute(lambda o: f"{o.level} {o.code}")
    path = factory.LazyAttribute(lambda o: area_path_for(code=o.code, parent=o.parent))


def territory_chain(*, district="360702", street="360702091", community="360702091005", grid_seq=1, building_seq=1):
    """Return (district, street, community, grid, building) with real-looking codes, with a grid box polygon."""
    d = AreaFactory(code=district, level=Area.Level.DISTRICT, name="章贡区")
    s = AreaFactory(code=street, level=Area.Level.STREET, parent=d, name="黄金岭街道")
    c = AreaFactory(code=community, level=Area.Level.COMMUNITY, parent=s, name=f"社区{community[-3:]}")
    g = AreaFactory(
        code=f"{community}{grid_seq:03d}",
        level=Area.Level.GRID,
        parent=c,
        name=f"第{grid_seq}网格",
        households=400,
        boundary={
            "type": "Polygon",
            "coordinates": [[[114.95, 25.82], [114.96, 25.82], [114.96, 25.83], [114.95, 25.83], [114.95, 25.82]]],
        },
    )
    b = AreaFactory(
        code=f"{g.code}{building_seq:03d}",
        level=Area.Level.BUILDING,
        parent=g,
        name=f"{building_seq}栋",
        lat=25.825,
        lng=114.955,
    )
    return d, s, c, g, b


class UserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = get_user_model()
        django_get_or_create = ("username",)

    username = factory.Sequence(lambda n: f"user{n}")
    email = factory.LazyAttribute(lambda o: f"{o.username}@example.test")
    password = factory.django.Password("pw-for-tests-2026")


class DepartmentFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Department
        django_get_or_create = ("code",)

    code = factory.Sequence(lambda n: f"dept{n}")
    name = factory.LazyAttribute(lambda o: o.code)
    district = factory.LazyFunction(lambda: AreaFactory(code="360702", name="章贡区"))


class CategoryFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Category
        django_get_or_create = ("code",)

    code = factory.Sequence(lambda n: f"cat{n}")
    name = factory.LazyAttribute(lambda o: o.code)
    department = factory.SubFactory(DepartmentFactory)
    response_hours = 24
    resolution_workdays = 5


def member(user, role, *, area=None, department=None):
    """Give `user` a role at `area` or in `department` and return the user."""
    Membership.objects.get_or_create(user=user, role=role, area=area, department=department)
    return user


def issue_in_status(
    status, *, reporter, place, triage=None, category=None, handler=None, department=None, **submit_fields
):
    """Return an issue driven through issues.workflow to `status` (the one way an issue changes state).

    `place` is the grid or building it is reported at; `triage` (community staff) classifies, dispatches to
    `department` as the lead (default: the category's department) and rejects; `handler` (staff of that department)
    accepts and resolves; the reporter rates. The one issue builder of the tests: the `make` fixture wraps it.
    """
    from issues import workflow

    key = "building" if place.level == Area.Level.BUILDING else "grid"
    submit_fields.setdefault("description", "Bicycles and boxes block the stairwell.")
    issue = workflow.issue_submit(actor=reporter, **{key: place.code}, **submit_fields)
    steps = {
        "rejected": lambda i: workflow.issue_reject(issue=i, actor=triage, reason="invalid"),
        "classified": lambda i: workflow.issue_classify(issue=i, actor=triage, category=category),
        "dispatched": lambda i: workflow.issue_dispatch(
            issue=i, actor=triage, departments=[department or category.department], lead=department
        ),
        "in_progress": lambda i: workflow.issue_accept(issue=i, actor=handler),
        "resolved": lambda i: workflow.issue_resolve(issue=i, actor=handler, note="Cleared and checked."),
        "closed": lambda i: workflow.issue_rate(issue=i, actor=reporter, score=5),
    }
    if status == "rejected":
        return steps["rejected"](issue)
    order = ["submitted", "classified", "dispatched", "in_progress", "resolved", "closed"]
    for step in order[1 : order.index(status) + 1]:
        issue = steps[step](issue)
    return issue


def issue_state(issue) -> dict:
    """Return everything an action may change about `issue`, to assert that a refused action changed nothing."""
    from issues.models import Dispatch, Event, ExtensionRequest, Issue, Photo, Rating
    from notifications.models import Notification

    return {
        "issue": Issue.objects.filter(pk=issue.pk).values().get(),
        "dispatches": list(Dispatch.objects.filter(issue=issue).order_by("pk").values()),
        "extensions": list(ExtensionRequest.objects.filter(issue=issue).order_by("pk").values()),
        "ratings": Rating.objects.filter(issue=issue).count(),
        "photos": sorted(Photo.objects.filter(issue=issue).values_list("image", flat=True)),
        "events": Event.objects.filter(issue=issue).count(),
        "notifications": Notification.objects.filter(issue=issue).count(),
    }


def assert_refused(error_class, call, issue, *, code: str | None = None):
    """Assert that `call()` raises `error_class` with its code (API.md's, when `code` names it) and leaves `issue`
    exactly as it was."""
    import pytest

    before = issue_state(issue)
    with pytest.raises(error_class) as refused:
        call()
    assert refused.value.code == (code or error_class.code)
    assert issue_state(issue) == before
    return refused.value


def last_event(issue):
    """Return the newest event of `issue`."""
    from issues.models import Event

    return Event.objects.filter(issue=issue).order_by("at", "id").last()


def indexes_only(table: str, *keep: str) -> None:
    """Drop every index of `table` but `keep` inside the test's transaction (rolled back after it), and turn sequential
    scans off: a plan test then shows whether those indexes serve a query, whatever a statistics-less test database
    would make the planner prefer among the others."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT indexname FROM pg_indexes WHERE tablename = %s AND NOT indexname = ANY(%s)", [table, list(keep)]
        )
        for (name,) in cursor.fetchall():
            cursor.execute(f'ALTER TABLE {table} DROP CONSTRAINT IF EXISTS "{name}"')
            cursor.execute(f'DROP INDEX IF EXISTS "{name}"')
        cursor.execute("SET LOCAL enable_seqscan = off")
