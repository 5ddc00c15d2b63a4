"""What the header needs to know of the signed-in user's memberships, read once per page."""

from django.utils.functional import SimpleLazyObject

from accounts.session_user import membership_rows
from orgs.models import TRIAGE_ROLES, Membership, Role


def memberships(request) -> dict:
    """Return the links the user's memberships open in the header, and their roles' names.

    The memberships come with the session's user (accounts.session_user: remembered between requests, forgotten when
    a membership changes), else from one query on first use.
    """
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        return {}

    def read():
        rows = membership_rows(user)
        labels = dict(Membership._meta.get_field("role").flatchoices)
        return {
            "roles": sorted({str(labels.get(role, role)) for role, _ in rows}, key=str),
            "desk": any(role != Role.HOTLINE_OPERATOR for role, _ in rows),
            "hotline": any(role == Role.HOTLINE_OPERATOR for role, _ in rows),
            "territory": any(has_area and role != Role.HOTLINE_OPERATOR for role, has_area in rows),
            # Community staff and up hold the weekly meeting (meetings.services.may_meet).
            "meetings": any(role in TRIAGE_ROLES for role, _ in rows),
        }

    return {"my_memberships": SimpleLazyObject(read)}
