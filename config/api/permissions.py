"""Who may call an endpoint at all, in one module for every app; *what* a role may do to an issue is the workflow's.

API views list these in `permission_classes`; pages ask the same class (`IsTerritoryStaff().has_permission(request,
None)`), so a page and its API endpoint never disagree. *Where* a caller may read is orgs.scoping's, applied by
issues.access.ScopedIssueMixin.
"""

from django.utils.translation import gettext_noop
from rest_framework.permissions import BasePermission

from orgs.scoping import scope_for_user


class IsTerritoryStaff(BasePermission):
    """Allow staff holding a role at a territory node (statistics cover nodes; residents and partners are refused)."""

    message = gettext_noop("Only staff with a territory role may read statistics.")

    def has_permission(self, request, view) -> bool:
        scope = scope_for_user(request.user)
        return bool(scope.node_roles) and not scope.is_partner


class IsStaffMember(BasePermission):
    """Allow staff (a territory role or a department); residents and partner apps may not export."""

    message = gettext_noop("Only staff may export issues.")

    def has_permission(self, request, view) -> bool:
        scope = scope_for_user(request.user)
        return scope.is_staff_member and not scope.is_partner


class IsPartnerApp(BasePermission):
    """Only a partner app (its service user, authenticated by its key) manages webhook endpoints."""

    message = gettext_noop("Only a partner app manages webhook endpoints, with its API key.")

    def has_permission(self, request, view) -> bool:
        user = request.user
        return bool(user and user.is_authenticated and getattr(user, "partner_app", None))


class IsStaffOrPartner(BasePermission):
    """Staff (a territory role or a department) and partner apps; residents are refused (triage suggestions)."""

    message = "Only staff and partner apps may ask for triage suggestions."

    def has_permission(self, request, view) -> bool:
        scope = scope_for_user(request.user)
        return scope.is_staff_member or scope.is_partner
