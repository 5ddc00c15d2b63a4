"""Reads for Open311: categories as services, issues as service requests, and who may read which.

Who reads what (GeoReport v2 allows reads without a key):
- with a partner app's api_key: the requests that app may see (orgs.scoping: the ones it submitted), whatever
  their status;
- without a key: the public list, issues.publicity's rule (seen by staff, not a report, not private), as the
  public board shows it: no reporter, no address, the grid's centroid for coordinates, phones in text masked.
"""

import uuid
from datetime import datetime, timedelta

from django.core.exceptions import ValidationError as DjangoValidationError
from django.db.models import OuterRef, Q, QuerySet, Subquery
from django.utils import timezone
from django.utils.dateparse import parse_date, parse_datetime
from django.utils.translation import gettext_noop

from config.errors import Message, ValidationFailed
from grids.models import Area
from issues.arguments import validate_day
from issues.filters import MAX_UTC_OFFSET
from issues.models import Category, Dispatch, Event, Issue, Photo
from issues.publicity import public_issue_list

# GeoReport v2: a date range may not span more than 90 days; without one, the last 90 days.
MAX_RANGE = timedelta(days=90)
MAX_RESULTS = 1000

STATUS_OPEN = "open"
STATUS_CLOSED = "closed"
# Our states, seen through GeoReport v2's two.
OPEN311_STATUS = {status: STATUS_OPEN for status in Issue.OPEN_STATUSES} | {
    Issue.Status.RESOLVED: STATUS_CLOSED,
    Issue.Status.CLOSED: STATUS_CLOSED,
    Issue.Status.REJECTED: STATUS_CLOSED,
}
STATUSES_OF = {
    STATUS_OPEN: [s for s, o in OPEN311_STATUS.items() if o == STATUS_OPEN],
    STATUS_CLOSED: [s for s, o in OPEN311_STATUS.items() if o == STATUS_CLOSED],
}


def service_list() -> QuerySet[Category]:
    """Return the categories offered as services: the active ones without active children (parents are groups)."""
    return (
        Category.objects.filter(is_active=True)
        .exclude(children__is_active=True)
        .select_related("parent", "department")
        .order_by("code")
        .distinct()
    )


def service_get(*, service_code: str) -> Category | None:
    return service_list().filter(code=service_code).first()


def jurisdiction_get(*, jurisdiction_id: str | None) -> Area | None:
    """Return the district named by `jurisdiction_id`; None when it is not given; refuse an unknown one."""
    if not jurisdiction_id:
        return None
    area = Area.objects.filter(code=jurisdiction_id, level=Area.Level.DISTRICT).first()
    if area is None:
        raise ValidationFailed.on(
            "jurisdiction_id", Message(gettext_noop("jurisdiction_id %(id)s was not found."), id=jurisdiction_id)
        )
    return area


def service_request_list(*, user=None, jurisdiction: Area | None = None) -> QuerySet[Issue]:
    """Return the requests `user` (a partner app's user) may read, or the public ones when `user` is None.

    Each row carries what a GeoReport request shows, read in the same query: the last public note, the lead
    department's name and the first photo.
    """
    issues = Issue.objects.visible_to(user) if user is not None else public_issue_list()
    if jurisdiction is not None:
        issues = issues.under(jurisdiction)
    last_note = (
        Event.objects.filter(issue=OuterRef("pk"), internal=False)
        .exclude(note="")
        .order_by("-at", "-id")
        .values("note")[:1]
    )
    lead = Dispatch.objects.filter(issue=OuterRef("pk"), active=True, lead=True).values("department__name")[:1]
    first_photo = Photo.objects.filter(issue=OuterRef("pk")).order_by("created_at", "id").values("image")[:1]
    return (
        issues.select_related("category", "building", "grid")
        .annotate(
            open311_status_notes=Subquery(last_note),
            open311_agency=Subquery(lead),
            open311_media=Subquery(first_photo),
        )
        .order_by("-created_at", "-id")
    )


def _moment(value: str, *, field: str, end: bool = False) -> datetime:
    """Return a W3C date-time (or a plain date: its start, or for an end its next day's start) as aware.

    Refuse what the period arithmetic or the database cannot take: an offset past ±15:59, a day outside
    issues.arguments' EARLIEST_DAY–LATEST_DAY.
    """
    example = Message(gettext_noop("%(field)s must be a W3C date-time such as 2026-11-01T00:00:00+08:00."), field=field)
    try:
        moment = parse_datetime(value)
    except ValueError:  # an offset of 24 hours or more
        raise ValidationFailed.on(field, example) from None
    whole_day = moment is None
    if whole_day:
        day = parse_date(value)
        if day is None:
            raise ValidationFailed.on(field, example)
        moment = datetime.combine(day, datetime.min.time())
    if moment.utcoffset() is not None and abs(moment.utcoffset()) > MAX_UTC_OFFSET:
        raise ValidationFailed.on(
            field, Message(gettext_noop("%(field)s: enter a UTC offset between -15:59 and +15:59."), field=field)
        )
    try:
        validate_day(moment)
    except DjangoValidationError as exc:
        raise ValidationFailed.on(field, f"{field}: {exc.messages[0]}") from None
    if end and whole_day:
        moment += timedelta(days=1)
    if timezone.is_naive(moment):
        moment = timezone.make_aware(moment)
    return moment


def _codes(value: str) -> list[str]:
    return [part.strip() for part in value.split(",") if part.strip()]


def service_request_filter(issues: QuerySet[Issue], params, *, now: datetime | None = None) -> QuerySet[Issue]:
    """Apply GeoReport v2's GET requests filters to `issues`, newest first, at most MAX_RESULTS.

    `service_request_id` (comma-separated) overrides every other filter, as the spec says.
    """
    ids = _codes(params.get("service_request_id", ""))
    if ids:
        return issues.filter(number__in=ids)[:MAX_RESULTS]
    codes = _codes(params.get("service_code", ""))
    if codes:
        issues = issues.filter(category__code__in=codes)
    statuses = _codes(params.get("status", "").lower())
    unknown = [s for s in statuses if s not in STATUSES_OF]
    if unknown:
        raise ValidationFailed.on("status", gettext_noop("status must be open, closed or both (comma-separated)."))
    if statuses and set(statuses) != set(STATUSES_OF):
        issues = issues.filter(status__in=[s for status in statuses for s in STATUSES_OF[status]])
    start = _moment(params["start_date"], field="start_date") if params.get("start_date") else None
    end = _moment(params["end_date"], field="end_date", end=True) if params.get("end_date") else None
    if start is None and end is None:
        end = now or timezone.now()
        start = end - MAX_RANGE
    elif start is None:
        start = end - MAX_RANGE
    elif end is None:
        end = start + MAX_RANGE
    if end < start:
        raise ValidationFailed.on("end_date", gettext_noop("end_date is before start_date."))
    if end - start > MAX_RANGE:
        raise ValidationFailed.on("end_date", gettext_noop("The date range may not span more than 90 days."))
    # The end bound is inclusive for a date-time, as a client asking "up to now" expects.
    return issues.filter(Q(created_at__gte=start) & Q(created_at__lte=end))[:MAX_RESULTS]


def service_request_get(*, issues: QuerySet[Issue], service_request_id: str) -> Issue | None:
    """Return the request `service_request_id` (the issue's number; its UUID works too) among `issues`."""
    found = issues.filter(number=service_request_id).first()
    if found is None:
        try:
            found = issues.filter(pk=uuid.UUID(service_request_id)).first()
        except ValueError:
            return None
    return found
