"""Turn the arguments of workflow actions into checked values, or refuse them with ValidationFailed(fields=…).

Each accepts what the API hands over (model instances from its serializers) and what scripts and tests pass (codes,
ids), so issues.workflow reads as its rules only.
"""

import hmac
import re
import unicodedata
import uuid
from datetime import date, datetime

from django.core.exceptions import ValidationError
from django.utils.translation import gettext_lazy as _
from django.utils.translation import gettext_noop

from config.errors import Message, ValidationFailed, one_of
from grids.models import PATH_SEPARATOR, Area
from issues.models import Category, Issue, Kind
from orgs.models import Department
from orgs.scoping import scope_for_user

TEXT_MAX = 4000
# A phone number as people write it: digits, an optional leading +, spaces or dashes inside; 6 to 20 characters.
PHONE = re.compile(r"^\+?[0-9][0-9 -]{4,18}[0-9]$")
PHONE_MAX = 20
PHONE_MESSAGE = gettext_noop("Enter a phone number: digits, spaces or dashes.")


# Characters that show nothing: spaces of every width, line and paragraph separators, controls and format
# characters (zero-width space and joiners, the byte-order mark, bidirectional marks).
_INVISIBLE_CATEGORIES = {"Zs", "Zl", "Zp", "Cc", "Cf"}
# Days a period may name (statistics, the dashboard, Open311's ranges). Wider would overflow the period arithmetic
# (the day after 9999-12-31, midnight of 0001-01-01 in UTC), and no grid has issues from before 2000.
EARLIEST_DAY = date(2000, 1, 1)
LATEST_DAY = date(2099, 12, 31)


def visible_length(value: str) -> int:
    """Return how many characters of `value` show something (ten zero-width spaces show nothing)."""
    return sum(1 for ch in value if unicodedata.category(ch) not in _INVISIBLE_CATEGORIES)


def clean_text(value, *, field: str, required: bool = False, max_length: int = TEXT_MAX, min_length: int = 0) -> str:
    """Return `value` stripped, or refuse it when missing, too short or too long.

    Emptiness and the minimum count visible characters, so text of spaces and zero-width characters is empty.
    """
    value = (value or "").strip() if isinstance(value, str) or value is None else None
    if value is None:
        raise ValidationFailed.on(field, gettext_noop("Must be text."))
    if not visible_length(value):
        value = ""
    if required and not value:
        raise ValidationFailed.on(field, gettext_noop("This field is required."))
    if value and visible_length(value) < min_length:
        raise ValidationFailed.on(
            field, Message(gettext_noop("Ensure this field has at least %(count)s characters."), count=min_length)
        )
    if len(value) > max_length:
        raise ValidationFailed.on(
            field, Message(gettext_noop("Ensure this field has no more than %(count)s characters."), count=max_length)
        )
    return value


def validate_day(value: date | datetime) -> None:
    """Refuse a day (or a moment's day) outside EARLIEST_DAY–LATEST_DAY: a Django validator for forms and DRF."""
    day = value.date() if isinstance(value, datetime) else value
    if not EARLIEST_DAY <= day <= LATEST_DAY:
        raise ValidationError(
            _("Enter a date between %(earliest)s and %(latest)s."),
            code="date_range",
            params={"earliest": EARLIEST_DAY.isoformat(), "latest": LATEST_DAY.isoformat()},
        )


# A node named by a code that is not there (or at another level), by level: each a whole sentence for the catalogue.
NO_AREA_WITH_CODE = {
    Area.Level.DISTRICT: gettext_noop("No district with code %(code)s."),
    Area.Level.STREET: gettext_noop("No street with code %(code)s."),
    Area.Level.COMMUNITY: gettext_noop("No community with code %(code)s."),
    Area.Level.GRID: gettext_noop("No grid with code %(code)s."),
    Area.Level.BUILDING: gettext_noop("No building with code %(code)s."),
}


def clean_area(value, *, field: str, level: str) -> Area | None:
    """Return the node at `level` named by `value` (a code or an Area), None when not given."""
    if value in (None, ""):
        return None
    if isinstance(value, Area):
        area = value
    else:
        area = Area.objects.filter(code=str(value)).first()
    if area is None or area.level != level:
        raise ValidationFailed.on(field, Message(NO_AREA_WITH_CODE[level], code=getattr(value, "code", value)))
    return area


def clean_category(value, *, field: str = "category") -> Category | None:
    """Return the active category named by `value` (a code or a Category), None when not given."""
    if value in (None, ""):
        return None
    category = value if isinstance(value, Category) else Category.objects.filter(code=str(value)).first()
    if category is None or not category.is_active:
        raise ValidationFailed.on(
            field, Message(gettext_noop("No active category %(code)s."), code=getattr(value, "code", value))
        )
    return category


def clean_kind(value, *, field: str = "kind") -> str | None:
    """Return one of the five kinds, None when not given."""
    if value in (None, ""):
        return None
    if value not in Kind.values:
        raise ValidationFailed.on(field, one_of(Kind.values))
    return value


def clean_bool(value, *, field: str) -> bool | None:
    """Return a real boolean (no truthy strings), None when not given."""
    if value is None or isinstance(value, bool):
        return value
    raise ValidationFailed.on(field, gettext_noop("Must be true or false."))


def clean_departments(values, *, field: str) -> list[Department]:
    """Return the departments named by `values` (codes or instances), each once, in the given order."""
    if isinstance(values, str | Department):
        values = [values]
    codes = []
    for value in values or ():
        code = value.code if isinstance(value, Department) else str(value)
        if code not in codes:
            codes.append(code)
    found = {d.code: d for d in Department.objects.select_related("district").filter(code__in=codes, is_active=True)}
    missing = [c for c in codes if c not in found]
    if missing:
        raise ValidationFailed.on(
            field, Message(gettext_noop("No active department %(codes)s."), codes=", ".join(missing))
        )
    return [found[c] for c in codes]


def route_report(*, grid, building, lat, lng) -> tuple[Area, Area | None]:
    """Return (grid, building) of a report: a building's grid, else the grid named, else the grid at lat/lng."""
    building = clean_area(building, field="building", level=Area.Level.BUILDING)
    named_grid = clean_area(grid, field="grid", level=Area.Level.GRID)
    if building is not None:
        if named_grid is not None and building.parent_id != named_grid.pk:
            raise ValidationFailed.on(
                "grid",
                Message(
                    gettext_noop("Building %(building)s is not in grid %(grid)s."),
                    building=building.code,
                    grid=named_grid.code,
                ),
            )
        return Area.objects.get(pk=building.parent_id), building
    if named_grid is not None:
        return named_grid, None
    require_place(grid=grid, building=building, lat=lat, lng=lng)
    from grids.routing import locate_grid

    located = locate_grid(lat=lat, lng=lng)
    if located is None:
        raise ValidationFailed.on("location", gettext_noop("No grid covers this location."))
    return located, None


def require_place(*, grid, building, lat, lng) -> None:
    """Refuse a report that names no place: one of a location, a building or a grid routes it (API.md)."""
    if grid in (None, "") and building in (None, "") and lat is None and lng is None:
        message = gettext_noop("Give a location, a building or a grid.")
        raise ValidationFailed(message, fields={"location": [message]})


def clean_coordinates(lat, lng) -> tuple[float | None, float | None]:
    """Return (lat, lng) as floats within range, both None when neither is given."""
    if lat is None and lng is None:
        return None, None
    try:
        lat, lng = float(lat), float(lng)
    except (TypeError, ValueError):
        raise ValidationFailed.on("location", gettext_noop("Give both lat and lng as numbers.")) from None
    if not (-90 <= lat <= 90 and -180 <= lng <= 180):
        raise ValidationFailed.on("location", gettext_noop("Latitude must be within ±90 and longitude within ±180."))
    return lat, lng


def issue_pk(issue) -> uuid.UUID | None:
    """Return the primary key of `issue` (an Issue or its id); None for a malformed id."""
    if isinstance(issue, Issue):
        return issue.pk
    try:
        return issue if isinstance(issue, uuid.UUID) else uuid.UUID(str(issue))
    except ValueError:
        return None


def clean_int(value, *, field: str, low: int, high: int, message: str) -> int:
    """Return a whole number from `low` to `high` (no bools, strings or fractions)."""
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise ValidationFailed.on(field, message)
    return value


def is_within(place: Area, path: str) -> bool:
    """Return whether `place` is the node at `path` or under it."""
    return place.path == path or place.path.startswith(path + PATH_SEPARATOR)


def clean_phone(value, *, field: str) -> str:
    """Return a phone number as given (digits, an optional +, spaces or dashes inside), "" when not given."""
    value = clean_text(value, field=field, max_length=PHONE_MAX)
    if value and not PHONE.match(value):
        raise ValidationFailed.on(field, PHONE_MESSAGE)
    return value


def require_reporter_phone(*, actor, reporter_phone: str, field: str = "reporter_phone") -> None:
    """Refuse a report without the reporter's phone from a partner app or from nobody signed in: staff call back.

    Such an issue has no reporter account to write to, so the phone is the only way back to the person.
    """
    if reporter_phone:
        return
    if scope_for_user(actor).is_partner:
        raise ValidationFailed.on(field, gettext_noop("A partner app must send the reporter's phone."))
    if actor is None or not getattr(actor, "is_authenticated", False):
        raise ValidationFailed.on(field, gettext_noop("Give your phone number so that staff can call you back."))


def phone_digits(value) -> str:
    """Return the digits of a phone number, without a leading 86 country code: how two spellings are compared."""
    digits = "".join(ch for ch in str(value or "") if ch.isdigit())
    if len(digits) == 13 and digits.startswith("86"):
        digits = digits[2:]
    return digits


def phones_match(stored: str, given: str) -> bool:
    """Return whether `given` is the phone `stored` (digits compared in constant time; empty never matches)."""
    a, b = phone_digits(stored), phone_digits(given)
    return hmac.compare_digest(a.encode() or b"\0", b.encode() or b"\1") and bool(a)
