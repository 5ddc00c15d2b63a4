"""Who holds roles at or above a territory node, remembered between requests: the staff told of an issue there.

Every submission tells its community's staff (issues.audience), which read the memberships above the issue's node:
a query per event, whose answer changes only when a membership does. The memberships at a node and above it are kept
in the shared cache (orgs.auth_cache: same switch, same lifetime, forgotten at once and again on commit) under the
node's path, and forgotten by orgs.signals for every node under a membership's node (before and after it changed)
when a membership is saved or deleted. Moving a node (its path) is not heard: the lifetime bounds it, as for scopes.
"""

from grids.models import Area, subtree_q
from orgs import auth_cache
from orgs.models import Membership
from orgs.scoping import ancestor_paths, node_staff_ids


def node_key(path: str) -> str:
    return f"{auth_cache._PREFIX}staff:{path}"


# Read by every submission (issues.events): kept in the process too, under the shared generation.
auth_cache.kept_in_process(node_key(""))


def node_staff_remembered(*, path: str, roles) -> list[int]:
    """Return node_staff_ids(path=…, roles=…) (sorted), from the shared cache when it holds the node."""
    if not auth_cache.enabled():
        return sorted(node_staff_ids(path=path, roles=roles))
    key = node_key(path)
    held = auth_cache.remembered(key)
    if held is None:
        held = list(Membership.objects.filter(area__path__in=ancestor_paths(path)).values_list("role", "user_id"))
        auth_cache.remember(key, held)
    return sorted({user_id for role, user_id in held if role in roles})


def node_staff_forget(*area_ids) -> None:
    """Forget what is remembered of the nodes at and under the areas `area_ids` (a membership there changed)."""
    area_ids = [pk for pk in area_ids if pk is not None]
    if not area_ids or not auth_cache.enabled():
        return
    roots = list(Area.objects.filter(pk__in=area_ids).values_list("path", flat=True))
    if not roots:
        return
    query = subtree_q("path", roots[0])
    for root in roots[1:]:
        query |= subtree_q("path", root)
    auth_cache.forget(*(node_key(path) for path in Area.objects.filter(query).values_list("path", flat=True)))
