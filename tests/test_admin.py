"""Django admin for grids and orgs: changelists in a bounded number of queries, keys shown once, revoke, paths."""

from http import HTTPStatus

import pytest
from django.urls import reverse

from grids.models import Area
from orgs.models import ApiKey, Department, Membership, PartnerApp, Role
from tests.factories import AreaFactory, DepartmentFactory, UserFactory, member

# Session, user, the page's rows, the count, the filters' choices: a fixed number, whatever the number of rows.
MAX_QUERIES = 7


@pytest.fixture
def admin_client(client, db):
    admin = UserFactory(username="admin", is_staff=True, is_superuser=True)
    client.force_login(admin)
    return client


def add_rows(territory, n: int) -> None:
    """Add `n` more grids, departments, memberships and partner apps with keys."""
    community = territory["community"]
    start = Area.objects.filter(level=Area.Level.GRID).count() + 1
    for i in range(start, start + n):
        grid = AreaFactory(code=f"{community.code}{i:03d}", level=Area.Level.GRID, parent=community, name=f"第{i}网格")
        dept = DepartmentFactory(code=f"dept-{i}", district=territory["district"])
        member(UserFactory(username=f"worker{i}"), Role.GRID_WORKER, area=grid)
        member(UserFactory(username=f"staff{i}"), Role.DEPARTMENT_STAFF, department=dept)
        partner = PartnerApp.objects.create(
            slug=f"partner-{i}", name=f"Partner {i}", user=UserFactory(username=f"partner{i}"), area=community
        )
        ApiKey.issue(partner=partner, name="k")


@pytest.mark.parametrize("model", [Area, Department, Membership, PartnerApp, ApiKey], ids=lambda m: m._meta.model_name)
def test_changelist_renders_in_a_bounded_number_of_queries_whatever_the_row_count(
    admin_client, territory, model, django_assert_max_num_queries
):
    url = reverse(f"admin:{model._meta.app_label}_{model._meta.model_name}_changelist")
    add_rows(territory, 2)
    with django_assert_max_num_queries(MAX_QUERIES):
        few = admin_client.get(url)
    assert few.status_code == HTTPStatus.OK
    add_rows(territory, 12)
    with django_assert_max_num_queries(MAX_QUERIES):
        many = admin_client.get(url)
    assert many.status_code == HTTPStatus.OK
    assert model.objects.count() > 12


def test_area_changelist_searches_code_and_filters_level(admin_client, territory):
    url = reverse("admin:grids_area_changelist")
    response = admin_client.get(url, {"q": territory["grid"].code})
    assert territory["grid"].name in response.content.decode()
    response = admin_client.get(url, {"level__exact": "street"})
    assert list(response.context["cl"].result_list) == [territory["street"]]


def test_area_search_by_code_prefix_finds_the_subtree(admin_client, territory, other_territory):
    response = admin_client.get(reverse("admin:grids_area_changelist"), {"q": "360702091001"})
    assert {a.code for a in response.context["cl"].result_list} == {
        other_territory[k].code for k in ("community", "grid", "building")
    }


def test_membership_changelist_filters_role_and_searches_the_user(admin_client, community_staff, chengguan_staff):
    url = reverse("admin:orgs_membership_changelist")
    by_role = admin_client.get(url, {"role__exact": Role.DEPARTMENT_STAFF})
    assert [m.user.username for m in by_role.context["cl"].result_list] == ["chengguan_staff"]
    by_user = admin_client.get(url, {"q": "community_st"})
    assert [m.user.username for m in by_user.context["cl"].result_list] == ["community_staff"]


def test_adding_an_area_in_the_admin_sets_its_path_from_the_parent(admin_client, territory):
    community = territory["community"]
    response = admin_client.post(
        reverse("admin:grids_area_add"),
        {"code": f"{community.code}042", "name": "第42网格", "level": "grid", "parent": community.pk, "extra": "{}"},
    )
    assert response.status_code == HTTPStatus.FOUND, response.context["adminform"].form.errors
    grid = Area.objects.get(code=f"{community.code}042")
    assert grid.path == f"{community.path}/{grid.code}"


def test_adding_an_area_that_does_not_fit_its_parent_is_refused(admin_client, territory):
    before = Area.objects.count()
    response = admin_client.post(
        reverse("admin:grids_area_add"),
        {"code": "999999999001", "name": "x", "level": "grid", "parent": territory["community"].pk, "extra": "{}"},
    )
    assert response.status_code == HTTPStatus.OK
    assert response.context["adminform"].form.errors
    assert Area.objects.count() == before


def test_code_and_parent_of_an_existing_area_cannot_be_changed(admin_client, territory):
    grid = territory["grid"]
    admin_client.post(
        reverse("admin:grids_area_change", args=[grid.pk]),
        {
            "code": "360702091005999",
            "name": "改名网格",
            "level": "grid",
            "parent": territory["street"].pk,
            "extra": "{}",
        },
    )
    grid.refresh_from_db()
    assert (grid.code, grid.parent_id, grid.name) == ("360702091005001", territory["community"].pk, "改名网格")


def test_creating_a_partner_app_shows_its_raw_key_once(admin_client, territory):
    service_user = UserFactory(username="wechat-service")
    response = admin_client.post(
        reverse("admin:orgs_partnerapp_add"),
        {
            "slug": "wechat",
            "name": "小程序",
            "user": service_user.pk,
            "area": territory["district"].pk,
            "is_active": "on",
            "api_keys-TOTAL_FORMS": "0",
            "api_keys-INITIAL_FORMS": "0",
        },
        follow=True,
    )
    assert response.status_code == HTTPStatus.OK
    shown = [str(m) for m in response.context["messages"]]
    assert len(shown) >= 1
    partner = PartnerApp.objects.get(slug="wechat")
    (key,) = partner.api_keys.all()
    raw = next(s for s in shown if key.prefix in s).split("<code>")[1].split("</code>")[0]
    assert ApiKey.find(raw) == key
    # Shown once: the next page carries no key.
    again = admin_client.get(reverse("admin:orgs_partnerapp_change", args=[partner.pk]))
    assert key.prefix + "." not in again.content.decode()


def test_revoke_action_stops_the_selected_keys_only(admin_client, territory):
    partner = PartnerApp.objects.create(
        slug="hotline", name="12345", user=UserFactory(username="hotline"), area=territory["district"]
    )
    (k1, raw1), (k2, raw2) = ApiKey.issue(partner=partner), ApiKey.issue(partner=partner)
    admin_client.post(
        reverse("admin:orgs_apikey_changelist"), {"action": "revoke_keys", "_selected_action": [k1.pk]}, follow=True
    )
    assert ApiKey.find(raw1) is None
    assert ApiKey.find(raw2) == k2


def test_partner_actions_issue_a_new_key_and_revoke_all(admin_client, territory):
    partner = PartnerApp.objects.create(
        slug="hotline", name="12345", user=UserFactory(username="hotline"), area=territory["district"]
    )
    _, old_raw = ApiKey.issue(partner=partner)
    url = reverse("admin:orgs_partnerapp_changelist")
    response = admin_client.post(url, {"action": "issue_key", "_selected_action": [partner.pk]}, follow=True)
    assert partner.api_keys.count() == 2
    assert any("<code>" in str(m) for m in response.context["messages"])
    admin_client.post(url, {"action": "revoke_keys", "_selected_action": [partner.pk]}, follow=True)
    assert ApiKey.objects.active().filter(partner=partner).count() == 0
    assert ApiKey.find(old_raw) is None
