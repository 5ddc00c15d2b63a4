"""The one scoped base (issues.access.ScopedIssueMixin): every view that reads issues or areas, API or page, sees
only what orgs.scoping lets its caller see, and anything else is the same 404 as a missing one."""

import uuid
from http import HTTPStatus

import pytest
from django.http import Http404
from django.test import Client, RequestFactory
from django.views import View

from config.errors import NotFound
from issues.access import ScopedIssueMixin
from issues.api.export import IssueExportView
from issues.api.photo_files import IssuePhotoFileView
from issues.api.views import IssueViewSet, StatsView
from issues.stats_views import StatsPageView
from issues.views import IssuePageView
from tests.factories import issue_in_status

pytestmark = pytest.mark.django_db


class ScopedPage(ScopedIssueMixin, View):
    """A Django page view on the scoped base, as the residents' pages use it."""


def page_for(user) -> ScopedPage:
    view = ScopedPage()
    view.setup(RequestFactory().get("/"), user=user)
    view.request.user = user
    return view


@pytest.fixture
def here_and_elsewhere(territory, other_territory, resident):
    here = issue_in_status("submitted", reporter=resident, place=territory["grid"])
    elsewhere = issue_in_status("submitted", reporter=resident, place=other_territory["grid"])
    return here, elsewhere


def test_every_view_reading_issues_stands_on_the_scoped_base():
    for view in (IssueViewSet, IssueExportView, IssuePhotoFileView, StatsView, StatsPageView, IssuePageView):
        assert issubclass(view, ScopedIssueMixin), view


def test_a_page_reads_the_issues_in_scope_and_nothing_else(community_staff, here_and_elsewhere):
    here, elsewhere = here_and_elsewhere
    page = page_for(community_staff)

    assert list(page.get_queryset()) == [here]
    assert page.get_issue(here.pk) == here
    assert page.get_issue(str(here.pk)) == here


@pytest.mark.parametrize("issue_id", ["elsewhere", "missing", "not-a-uuid"])
def test_out_of_scope_missing_and_malformed_are_the_same_not_found(issue_id, community_staff, here_and_elsewhere):
    ids = {"elsewhere": here_and_elsewhere[1].pk, "missing": uuid.uuid4(), "not-a-uuid": "not-a-uuid"}
    with pytest.raises(NotFound) as refused:
        page_for(community_staff).get_issue(ids[issue_id])
    # One exception for both worlds: the API answers not_found, a page Django's 404.
    assert refused.value.code == "not_found"
    assert isinstance(refused.value, Http404)


def test_an_area_is_in_scope_under_the_callers_node_only(community_staff, territory, other_territory):
    page = page_for(community_staff)

    assert page.get_area(territory["grid"].code) == territory["grid"]
    for code in (other_territory["community"].code, territory["street"].code, "999999"):
        with pytest.raises(NotFound):
            page.get_area(code)


def test_a_resident_reads_only_their_own(resident, other_resident, here_and_elsewhere):
    assert set(page_for(resident).get_queryset()) == set(here_and_elsewhere)
    assert list(page_for(other_resident).get_queryset()) == []


def test_out_of_scope_in_a_page_answers_djangos_404_page(community_staff, territory, other_territory):
    client = Client()
    client.force_login(community_staff)

    response = client.get("/stats/", {"area": other_territory["community"].code})
    assert response.status_code == HTTPStatus.NOT_FOUND
    assert not response["Content-Type"].startswith("application/json")
