"""The demo data of API.md "Demo data": territory, departments, categories, accounts and the demo partner app.

Every step creates what is missing and brings what exists back to the table below, so running it twice gives the
same rows (the partner key excepted: each run replaces the demo key with a new one, since raw keys are not stored).
"""

from collections.abc import Callable
from dataclasses import dataclass

from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group, Permission
from django.core.management import call_command
from django.db import transaction
from django.db.models import Q
from django.db.models.deletion import ProtectedError

from grids.generation import BBox, grids_generate
from grids.models import Area
from issues.models import Category, Kind
from orgs.models import ApiKey, Department, Membership, PartnerApp, Role
from orgs.scoping import scope_forget

DISTRICT = "360702"  # 章贡区
STREET = "360702091"  # 黄金岭街道
COMMUNITY_JINDONGNAN = "360702091005"  # 金东南路社区
COMMUNITY_JINLING = "360702091001"  # 金岭路社区
# Roughly where 黄金岭街道 lies; its communities tile it, so any point in it routes to a grid.
DEMO_BBOX = BBox(lat_min=25.80, lat_max=25.86, lng_min=114.93, lng_max=115.00)
DEMO_SEED = 360702091
GRIDS_PER_COMMUNITY = 6
BUILDINGS_PER_GRID = 8
FIRST_GRID = f"{COMMUNITY_JINDONGNAN}001"

PARTNER_SLUG = "demo-partner"
PARTNER_USERNAME = "partner-demo"
PARTNER_KEY_NAME = "demo"

# (code, name, kind)
DEPARTMENTS = [
    ("chengguan", "城管", Department.Kind.FUNCTIONAL),
    ("shuiwu", "水务", Department.Kind.FUNCTIONAL),
    ("shizheng", "市政", Department.Kind.FUNCTIONAL),
    ("huanwei", "环卫", Department.Kind.FUNCTIONAL),
    ("zhujian", "住建", Department.Kind.FUNCTIONAL),
    ("jindong-wuye", "金东物业服务有限公司", Department.Kind.PROPERTY),
    ("huangjinling-volunteers", "黄金岭街道志愿者协会", Department.Kind.SOCIAL),
]


@dataclass(frozen=True)
class CategorySpec:
    code: str
    name: str
    parent: str | None = None
    kind: str = Kind.COMPLAINT
    department: str | None = None
    response_hours: int = 24
    resolution_workdays: int = 5
    urgent_response_hours: int = 2
    urgent_resolution_workdays: int = 1


# Parents first; every category names its default department (DESIGN.md).
# Urgent items: feedback the same day; others done in 3–5 working days (12345 practice).
CATEGORIES = [
    CategorySpec("city-order", "市容秩序", department="chengguan"),
    CategorySpec("water-utilities", "供排水", department="shuiwu"),
    CategorySpec("public-facilities", "市政设施", department="shizheng"),
    CategorySpec("sanitation", "环境卫生", department="huanwei"),
    CategorySpec("building-safety", "房屋建设", department="zhujian"),
    CategorySpec("property-service", "物业服务", department="jindong-wuye"),
    CategorySpec("community-service", "社区服务", kind=Kind.HELP, department="huangjinling-volunteers"),
    CategorySpec("stairwell-clutter", "楼道堆物", "city-order", department="chengguan", resolution_workdays=3),
    CategorySpec(
        "fire-lane-blocked",
        "消防通道占用",
        "city-order",
        department="chengguan",
        response_hours=4,
        resolution_workdays=1,
        urgent_response_hours=1,
    ),
    CategorySpec("street-vending", "占道经营", "city-order", kind=Kind.REPORT, department="chengguan"),
    CategorySpec(
        "burst-pipe",
        "管道破裂",
        "water-utilities",
        department="shuiwu",
        response_hours=4,
        resolution_workdays=2,
        urgent_response_hours=1,
    ),
    CategorySpec(
        "water-outage", "停水", "water-utilities", kind=Kind.CONSULTATION, department="shuiwu", resolution_workdays=3
    ),
    CategorySpec("street-light-broken", "路灯损坏", "public-facilities", department="shizheng", resolution_workdays=5),
    CategorySpec("road-damage", "道路破损", "public-facilities", department="shizheng", resolution_workdays=5),
    CategorySpec("garbage-collection", "垃圾清运", "sanitation", department="huanwei", resolution_workdays=2),
    CategorySpec(
        "illegal-structure",
        "违章搭建",
        "building-safety",
        kind=Kind.REPORT,
        department="zhujian",
        resolution_workdays=5,
    ),
    CategorySpec(
        "elevator-fault",
        "电梯故障",
        "property-service",
        department="jindong-wuye",
        response_hours=2,
        resolution_workdays=2,
    ),
    CategorySpec(
        "property-suggestion", "物业管理建议", "property-service", kind=Kind.SUGGESTION, department="jindong-wuye"
    ),
    CategorySpec(
        "elderly-help",
        "老人帮扶",
        "community-service",
        kind=Kind.HELP,
        department="huangjinling-volunteers",
        resolution_workdays=3,
    ),
]

# (username, role, area code or department code); residents hold no membership.
ACCOUNTS = [
    ("resident1", None, None),
    ("resident2", None, None),
    ("grid1", Role.GRID_WORKER, FIRST_GRID),
    ("community1", Role.COMMUNITY_STAFF, COMMUNITY_JINDONGNAN),
    ("community2", Role.COMMUNITY_STAFF, COMMUNITY_JINLING),
    ("street1", Role.STREET_OFFICER, STREET),
    ("dept_cg1", Role.DEPARTMENT_STAFF, "chengguan"),
    ("dept_sw1", Role.DEPARTMENT_STAFF, "shuiwu"),
    ("district1", Role.DISTRICT_ADMIN, DISTRICT),
    ("hotline1", Role.HOTLINE_OPERATOR, DISTRICT),
]


def demo_seed(*, say: Callable[[str], None] = lambda _: None, progress: bool = False) -> str:
    """Load the demo data of API.md and return a fresh raw API key for the demo partner app."""
    say(f"Importing the divisions of district {DISTRICT} …")
    call_command("import_divisions", prefix=DISTRICT, verbosity=0)
    with transaction.atomic():
        say("Generating grids and buildings for the communities of 黄金岭街道 …")
        communities = list(Area.objects.filter(parent__code=STREET, level=Area.Level.COMMUNITY).order_by("code"))
        if not {COMMUNITY_JINDONGNAN, COMMUNITY_JINLING} <= {c.code for c in communities}:
            raise RuntimeError(f"import_divisions did not load the communities of street {STREET}")
        result = grids_generate(
            communities=communities,
            bbox=DEMO_BBOX,
            grids_per_community=GRIDS_PER_COMMUNITY,
            buildings_per_grid=BUILDINGS_PER_GRID,
            seed=DEMO_SEED,
            progress=progress,
        )
        say(
            f"  {len(communities)} communities; new: {result.grids_created} grids, {result.buildings_created} buildings"
        )
        district = Area.objects.get(code=DISTRICT)
        say("Departments …")
        departments = demo_departments(district=district)
        say("Categories …")
        demo_categories(departments=departments)
        say("Accounts …")
        demo_accounts(departments=departments)
        say("Partner app demo-partner …")
        raw_key = demo_partner(district=district)
    return raw_key


def demo_departments(*, district: Area) -> dict[str, Department]:
    """Create or restore the demo departments, all of the demo district."""
    out = {}
    for code, name, kind in DEPARTMENTS:
        out[code], _ = Department.objects.update_or_create(
            code=code, defaults={"name": name, "kind": kind, "district": district, "is_active": True}
        )
    return out


def demo_categories(*, departments: dict[str, Department]) -> None:
    """Create or restore the demo category tree, each leaf with its handling department and time limits."""
    by_code: dict[str, Category] = {}
    for spec in CATEGORIES:
        by_code[spec.code], _ = Category.objects.update_or_create(
            code=spec.code,
            defaults={
                "name": spec.name,
                "parent": by_code[spec.parent] if spec.parent else None,
                "kind": spec.kind,
                "department": departments[spec.department] if spec.department else None,
                "response_hours": spec.response_hours,
                "resolution_workdays": spec.resolution_workdays,
                "urgent_response_hours": spec.urgent_response_hours,
                "urgent_resolution_workdays": spec.urgent_resolution_workdays,
                "is_active": True,
            },
        )


# The Django admin serves district admins only, for reference data (DESIGN.md "Pages": /admin/); their issue and
# event views there are read-only and scoped like the API (issues.admin).
ADMIN_GROUP = "reference data"
ADMIN_PERMISSIONS = {
    "grids.area": ("view", "add", "change"),
    "orgs.department": ("view", "add", "change"),
    "issues.category": ("view", "add", "change"),
    "issues.calendarday": ("view", "add", "change", "delete"),
    "issues.issue": ("view",),
    "issues.event": ("view",),
}


def demo_admin_group() -> Group:
    """Create or restore the group that lets district admins edit reference data in the Django admin."""
    group, _ = Group.objects.get_or_create(name=ADMIN_GROUP)
    wanted = Q(pk__in=[])
    for model, actions in ADMIN_PERMISSIONS.items():
        app_label, name = model.split(".")
        codenames = [f"{action}_{name}" for action in actions]
        wanted |= Q(content_type__app_label=app_label, content_type__model=name, codename__in=codenames)
    group.permissions.set(Permission.objects.filter(wanted))
    return group


def demo_accounts(*, departments: dict[str, Department]) -> None:
    """Create or restore the demo accounts with DEMO_PASSWORD, each holding exactly its role of the table.

    Only district admins sign in to the Django admin (is_staff, the reference-data group); nobody is a superuser.
    """
    User = get_user_model()
    group = demo_admin_group()
    for username, role, place in ACCOUNTS:
        user, _ = User.objects.get_or_create(username=username, defaults={"email": f"{username}@demo.griddesk.local"})
        user.set_password(settings.DEMO_PASSWORD)
        user.is_active = True
        user.is_staff = role == Role.DISTRICT_ADMIN
        user.is_superuser = False
        user.save()
        user.groups.set([group] if user.is_staff else [])
        wanted = None
        if role == Role.DEPARTMENT_STAFF:
            wanted, _ = Membership.objects.get_or_create(user=user, role=role, department=departments[place], area=None)
        elif role is not None:
            area = Area.objects.get(code=place)
            wanted, _ = Membership.objects.get_or_create(user=user, role=role, area=area, department=None)
        stale = Membership.objects.filter(user=user)
        (stale.exclude(pk=wanted.pk) if wanted else stale).delete()
        scope_forget(user)


def demo_partner(*, district: Area) -> str:
    """Create or restore demo-partner (scope: the demo district) and replace its demo key; return the raw key."""
    User = get_user_model()
    user, created = User.objects.get_or_create(
        username=PARTNER_USERNAME, defaults={"email": f"{PARTNER_USERNAME}@demo.griddesk.local"}
    )
    if created:
        user.set_unusable_password()
        user.save(update_fields=["password"])
    partner, _ = PartnerApp.objects.update_or_create(
        slug=PARTNER_SLUG, defaults={"name": "Demo partner (小程序)", "user": user, "area": district, "is_active": True}
    )
    for key in partner.api_keys.filter(name=PARTNER_KEY_NAME):
        try:
            with transaction.atomic():
                key.delete()
        except ProtectedError:
            # Something (a log, an idempotency record) still points at it: keep the row, stop the key.
            if key.revoked_at is None:
                key.revoke()
    _, raw = ApiKey.issue(partner=partner, name=PARTNER_KEY_NAME)
    return raw
