"""The admin shows issues and their history but never changes them: state changes go through the workflow only."""

from http import HTTPStatus

import pytest
from django.urls import reverse

from issues.models import Event, Issue
from orgs.models import Role
from tests.factories import UserFactory, issue_in_status, member

pytestmark = pytest.mark.django_db


@pytest.fixture
def admin_client(client, territory):
    # The admin's issue views are scoped like the API: the operator holds the district's admin role to see them.
    user = member(
        UserFactory(username="root", is_staff=True, is_superuser=True), Role.DISTRICT_ADMIN, area=territory["district"]
    )
    client.force_login(user, backend="django.contrib.auth.backends.ModelBackend")
    return client


@pytest.fixture
def issue(territory, resident, community_staff, category, chengguan_staff):
    return issue_in_status(
        "in_progress",
        reporter=resident,
        place=territory["building"],
        triage=community_staff,
        category=category,
        handler=chengguan_staff,
    )


def test_issue_pages_show_the_issue_with_its_dispatches_and_events(admin_client, issue):
    listing = admin_client.get(reverse("admin:issues_issue_changelist"), {"q": issue.number})
    assert listing.status_code == HTTPStatus.OK
    assert issue.number in listing.content.decode()

    page = admin_client.get(reverse("admin:issues_issue_change", args=[issue.pk]))
    assert page.status_code == HTTPStatus.OK
    body = page.content.decode()
    assert "chengguan" in body or "城管" in body
    assert "classify" in body and "accept" in body


def test_an_issue_cannot_be_changed_added_or_deleted_in_the_admin(admin_client, issue):
    before = Issue.objects.values().get(pk=issue.pk)
    response = admin_client.post(
        reverse("admin:issues_issue_change", args=[issue.pk]), {"status": "closed", "description": "changed"}
    )
    assert response.status_code == HTTPStatus.FORBIDDEN
    assert Issue.objects.values().get(pk=issue.pk) == before
    assert admin_client.get(reverse("admin:issues_issue_add")).status_code == HTTPStatus.FORBIDDEN
    assert admin_client.post(reverse("admin:issues_issue_delete", args=[issue.pk])).status_code == HTTPStatus.FORBIDDEN
    assert Issue.objects.filter(pk=issue.pk).exists()


def test_events_are_read_only_in_the_admin(admin_client, issue):
    event = Event.objects.filter(issue=issue).first()
    assert admin_client.get(reverse("admin:issues_event_changelist")).status_code == HTTPStatus.OK
    assert admin_client.get(reverse("admin:issues_event_change", args=[event.pk])).status_code == HTTPStatus.OK
    response = admin_client.post(reverse("admin:issues_event_change", args=[event.pk]), {"note": "rewritten"})
    assert response.status_code == HTTPStatus.FORBIDDEN
    assert Event.objects.get(pk=event.pk).note == event.note
    assert admin_client.get(reverse("admin:issues_event_add")).status_code == HTTPStatus.FORBIDDEN
    assert admin_client.post(reverse("admin:issues_event_delete", args=[event.pk])).status_code == HTTPStatus.FORBIDDEN


def test_categories_are_edited_in_the_admin(admin_client, category):
    page = admin_client.get(reverse("admin:issues_category_change", args=[category.pk]))
    assert page.status_code == HTTPStatus.OK
    assert admin_client.get(reverse("admin:issues_category_changelist")).status_code == HTTPStatus.OK
