"""Who may call which issue endpoint at all; *what* a role may do to an issue is issues.workflow's business."""

from rest_framework.permissions import BasePermission

from orgs.scoping import scope_for_user


class IsTerritoryStaff(BasePermission):
    """Allow staff holding a role at a territory node (statistics cover nodes; residents and partners are refused)."""

    message = "Only staff with a territory role may read statistics."

    def has_permission(self, request, view) -> bool:
        scope = scope_for_user(request.user)
        return bool(scope.node_roles) and not scope.is_partner
