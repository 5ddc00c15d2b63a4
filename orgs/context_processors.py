"""What the header needs to know of the signed-in user's memberships, read once per page."""

from django.utils.functional import SimpleLazyObject

from orgs.models import TRIAGE_ROLES, Role


def memberships(request) -> dict:
    """Return the user's memberships (one query, on first use) and the links they open in the header."""
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        return {}

    def read():
        rows = list(user.memberships.all())
        return {
            "all": rows,
            "roles": sorted({m.get_role_display() for m in rows}, key=str),
            "desk": any(m.role != Role.HOTLINE_OPERATOR for m in rows),
            "hotline": any(m.role == Role.HOTLINE_OPERATOR for m in rows),
            "territory": any(m.area_id and m.role != Role.HOTLINE_OPERATOR for m in rows),
            # Community staff and up hold the weekly meeting (meetings.services.may_meet).
            "meetings": any(m.role in TRIAGE_ROLES for m in rows),
        }

    return {"my_memberships": SimpleLazyObject(read)}
