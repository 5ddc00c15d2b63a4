"""The one place that says where a user may act: memberships turned into filters and role checks.

*What* a role may do is the workflow's business (issues/workflow/); this module only answers *where*: a user's
scope (nodes, departments, partner app) and which of their roles cover a given issue. The issues a scope sees are
issues.models.issue_visibility_q (Issue.objects.visible_to), built on scope_for_user: orgs knows nothing of issues.
"""

from collections.abc import Callable
from dataclasses import dataclass, field
from functools import reduce
from operator import or_

from django.db.models import Q

from grids.models import PATH_SEPARATOR, Area, subtree_q
from orgs import auth_cache
from orgs.models import INTAKE_ROLES, NODE_ROLES, Membership, Role

_CACHE_ATTR = "_griddesk_scope"


@dataclass(frozen=True)
class Scope:
    """A user's reach: the nodes they hold each role at, their departments, their partner app."""

    user_id: int | None
    node_roles: tuple[tuple[str, str], ...] = ()  # (role, area path)
    department_ids: frozenset[int] = field(default_factory=frozenset)
    partner_id: int | None = None
    partner_area_path: str | None = None
    intake_paths: tuple[str, ...] = ()  # where they take hotline calls (orgs.models.INTAKE_ROLES): no reach

    @property
    def is_staff_member(self) -> bool:
        return bool(self.node_roles or self.department_ids or self.intake_paths)

    @property
    def is_partner(self) -> bool:
        return self.partner_id is not None

    @property
    def is_resident(self) -> bool:
        """A signed-in person with no role and no partner app: they see what they reported."""
        return self.user_id is not None and not self.is_staff_member and not self.is_partner

    def roles_at(self, path: str) -> set[str]:
        """Return the node roles held at `path` or above it."""
        return {role for role, at in self.node_roles if path == at or path.startswith(at + PATH_SEPARATOR)}

    def takes_calls_at(self, path: str) -> bool:
        """Return whether the user takes hotline calls for the node at `path` (a hotline operator at or above it)."""
        return any(path == at or path.startswith(at + PATH_SEPARATOR) for at in self.intake_paths)

    def role_paths(self, roles) -> list[str]:
        """Return the paths where the user holds any of `roles`."""
        return [at for role, at in self.node_roles if role in roles]


def scope_for_user(user) -> Scope:
    """Return `user`'s scope, read once per request (cached on the user object) and remembered between requests
    (orgs.auth_cache: forgotten when a membership or the user's partner app changes)."""
    if user is None or not getattr(user, "is_authenticated", False):
        return Scope(user_id=None)
    cached = getattr(user, _CACHE_ATTR, None)
    if cached is not None:
        return cached
    remembered = auth_cache.remembered(auth_cache.scope_key(user.pk))
    if isinstance(remembered, Scope) and remembered.user_id == user.pk:
        setattr(user, _CACHE_ATTR, remembered)
        return remembered
    rows = Membership.objects.filter(user=user).values_list("role", "area__path", "department_id")
    scope = _scope_cache(user, rows)
    auth_cache.remember(auth_cache.scope_key(user.pk), scope)
    return scope


def scope_given(user, scope) -> None:
    """Take `scope`, read from the shared cache along with the caller's token (orgs.auth_cache), as `user`'s scope."""
    if isinstance(scope, Scope) and scope.user_id == user.pk:
        setattr(user, _CACHE_ATTR, scope)


def scopes_prefetch(users) -> None:
    """Read the scopes of many users in one query and cache each on its user (an event's partner apps, say).

    Select their `partner_app__area` along with the users to keep the partner part from a query per user.
    """
    users = [u for u in users if getattr(u, "is_authenticated", False) and getattr(u, _CACHE_ATTR, None) is None]
    rows: dict[int, list] = {u.pk: [] for u in users}
    for user_id, *row in Membership.objects.filter(user__in=users).values_list(
        "user_id", "role", "area__path", "department_id"
    ):
        rows[user_id].append(row)
    for user in users:
        _scope_cache(user, rows[user.pk])


def _scope_cache(user, rows) -> Scope:
    """Build `user`'s scope from their (role, area path, department id) memberships and cache it on the user."""
    node_roles, intake_paths, departments = [], set(), set()
    for role, path, department_id in rows:
        if role in NODE_ROLES:
            node_roles.append((role, path))
        elif role in INTAKE_ROLES:
            intake_paths.add(path)
        else:
            departments.add(department_id)
    partner = getattr(user, "partner_app", None) if hasattr(user, "partner_app") else None
    scope = Scope(
        user_id=user.pk,
        node_roles=tuple(sorted(node_roles)),
        department_ids=frozenset(departments),
        partner_id=partner.pk if partner else None,
        partner_area_path=partner.area.path if partner else None,
        intake_paths=tuple(sorted(intake_paths)),
    )
    setattr(user, _CACHE_ATTR, scope)
    return scope


def scope_forget(user) -> None:
    """Drop the cached scope after memberships change (on the user object and between requests)."""
    if hasattr(user, _CACHE_ATTR):
        delattr(user, _CACHE_ATTR)
    auth_cache.forget(auth_cache.scope_key(user.pk))


def area_visibility_q(user) -> Q:
    """Return the filter for the territory nodes whose statistics `user` may read (their nodes' subtrees)."""
    scope = scope_for_user(user)
    paths = sorted({p for _, p in scope.node_roles})
    if not paths:
        return Q(pk__in=[])
    return reduce(or_, [subtree_q("path", p) for p in paths])


def roles_on_issue(user, issue) -> set[str]:
    """Return the roles `user` holds that reach `issue`: node roles above its area, department staff of a dispatch.

    `issue` needs `area_path` and its dispatches (prefetch `dispatches` to avoid a query).
    """
    scope = scope_for_user(user)
    roles = scope.roles_at(issue.area_path)
    if scope.department_ids and issue_department_ids(issue) & scope.department_ids:
        roles.add(Role.DEPARTMENT_STAFF)
    return roles


def issue_department_ids(issue) -> set[int]:
    """Return the departments an issue is (or was) dispatched to."""
    return {d.department_id for d in issue.dispatches.all()}


def user_department_ids_on_issue(user, issue) -> set[int]:
    """Return the departments of `user` that are dispatched on `issue`."""
    return scope_for_user(user).department_ids & issue_department_ids(issue)


def area_for_user_or_none(user, code: str) -> Area | None:
    """Return the node `code` if `user` may read under it, else None (the caller answers 404)."""
    return Area.objects.filter(area_visibility_q(user), code=code).first()


def ancestor_paths(path: str) -> list[str]:
    """Return the paths of the node at `path` and of every node above it, district first."""
    codes = path.split(PATH_SEPARATOR)
    return [PATH_SEPARATOR.join(codes[: i + 1]) for i in range(len(codes))]


def node_staff_ids(*, path: str, roles) -> list[int]:
    """Return the users holding any of `roles` at the node at `path` or above it (who reaches an issue there)."""
    return list(
        Membership.objects.filter(role__in=roles, area__path__in=ancestor_paths(path))
        .values_list("user_id", flat=True)
        .distinct()
    )


def node_staff_lookup(*, paths) -> Callable[..., list[int]]:
    """Return node_staff_ids for nodes at any of `paths`, answered from one query (a sweep's many issues).

    The returned `lookup(path=…, roles=…)` answers exactly what node_staff_ids answers for a path among `paths`.
    """
    ancestors = {ancestor for path in set(paths) for ancestor in ancestor_paths(path)}
    held: dict[str, list[tuple[str, int]]] = {}
    for role, area_path, user_id in Membership.objects.filter(area__path__in=ancestors).values_list(
        "role", "area__path", "user_id"
    ):
        held.setdefault(area_path, []).append((role, user_id))

    def lookup(*, path: str, roles) -> list[int]:
        found = {user_id for node in ancestor_paths(path) for role, user_id in held.get(node, ()) if role in roles}
        return sorted(found)

    return lookup


def department_staff_ids(*, department_ids) -> list[int]:
    """Return the users holding department_staff in any of `department_ids`."""
    if not department_ids:
        return []  # no query to build (an overdue escalation summons nobody): a sweep asks this thousands of times
    return list(
        Membership.objects.filter(role=Role.DEPARTMENT_STAFF, department_id__in=department_ids)
        .values_list("user_id", flat=True)
        .distinct()
    )
