"""The one scoping rule: what each role may see, and which roles reach an issue."""

from grids.models import Area
from orgs.models import Role
from orgs.scoping import area_visibility_q, roles_on_issue, scope_for_user


def test_community_staff_reaches_the_subtree_of_their_community_only(territory, other_territory, community_staff):
    scope = scope_for_user(community_staff)
    assert scope.roles_at(territory["grid"].path) == {Role.COMMUNITY_STAFF}
    assert scope.roles_at(other_territory["grid"].path) == set()
    assert scope.roles_at(territory["street"].path) == set()


def test_street_officer_reaches_every_community_of_the_street(territory, other_territory, street_officer):
    scope = scope_for_user(street_officer)
    assert scope.roles_at(territory["building"].path) == {Role.STREET_OFFICER}
    assert scope.roles_at(other_territory["grid"].path) == {Role.STREET_OFFICER}


def test_area_visibility_is_the_subtree_of_each_membership(territory, other_territory, community_staff):
    codes = set(Area.objects.filter(area_visibility_q(community_staff)).values_list("code", flat=True))
    assert codes == {territory[k].code for k in ("community", "grid", "building")}


def test_resident_has_no_role_anywhere(territory, resident):
    scope = scope_for_user(resident)
    assert scope.is_resident
    assert scope.roles_at(territory["grid"].path) == set()


def test_a_code_sharing_a_prefix_is_not_inside(territory):
    # 3607020910051 is not under 360702091005's path: the path separator keeps siblings apart.
    from orgs.scoping import Scope

    scope = Scope(user_id=1, node_roles=((Role.COMMUNITY_STAFF, "360702/360702091/36070209100"),))
    assert scope.roles_at("360702/360702091/360702091005") == set()


def test_roles_on_issue_for_department_needs_a_dispatch(db, territory, chengguan_staff):
    class FakeDispatches:
        def __init__(self, ids):
            self.ids = ids

        def all(self):
            return [type("D", (), {"department_id": i}) for i in self.ids]

    issue = type("I", (), {"area_path": territory["grid"].path})()
    issue.dispatches = FakeDispatches([])
    assert roles_on_issue(chengguan_staff, issue) == set()
    dept_id = next(iter(scope_for_user(chengguan_staff).department_ids))
    issue.dispatches = FakeDispatches([dept_id])
    assert roles_on_issue(chengguan_staff, issue) == {Role.DEPARTMENT_STAFF}
