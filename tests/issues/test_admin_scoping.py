"""The Django admin serves district admins for reference data; its issue views are scoped and masked like the API."""

from http import HTTPStatus

import pytest
from django.core.management import call_command
from django.http import HttpRequest
from django.urls import reverse

from issues.models import Issue
from tests.factories import issue_in_status

pytestmark = pytest.mark.django_db


def staff_client(client, user):
    # Superuser: every admin permission, so that only the scoping and masking rules decide what shows.
    user.is_staff = user.is_superuser = True
    user.save()
    client.force_login(user, backend="django.contrib.auth.backends.ModelBackend")
    return client


@pytest.fixture
def issues(territory, other_territory, resident, community_staff, other_community_staff, category, chengguan_staff):
    def at(place, triage):
        return issue_in_status(
            "submitted",
            reporter=resident,
            place=place,
            triage=triage,
            category=category,
            handler=chengguan_staff,
            reporter_name="刘洋",
            reporter_phone="13812345678",
        )

    return at(territory["grid"], community_staff), at(other_territory["grid"], other_community_staff)


def test_the_issue_list_shows_only_the_viewers_scope_even_for_a_superuser(client, issues, community_staff):
    mine, theirs = issues
    admin = staff_client(client, community_staff)
    body = admin.get(reverse("admin:issues_issue_changelist")).content.decode()
    assert mine.number in body and theirs.number not in body
    assert admin.get(reverse("admin:issues_issue_change", args=[theirs.pk])).status_code != HTTPStatus.OK
    events = admin.get(reverse("admin:issues_event_changelist")).content.decode()
    assert mine.number in events and theirs.number not in events


def test_the_reporter_is_shown_to_handling_staff_and_masked_for_a_department_that_returned_it(
    client, make, community_staff, chengguan_staff
):
    from issues import workflow

    issue = make("dispatched", reporter_name="刘洋", reporter_phone="13812345678")
    workflow.issue_return(issue=issue, actor=chengguan_staff, reason="Not ours.")
    url = reverse("admin:issues_issue_change", args=[issue.pk])
    assert "13812345678" in staff_client(client, community_staff).get(url).content.decode()
    page = staff_client(client, chengguan_staff).get(url)
    assert page.status_code == HTTPStatus.OK
    body = page.content.decode()
    assert "13812345678" not in body and "138****5678" in body


def test_the_masked_view_saves_nothing(client, issues, street_officer):
    mine, _ = issues
    # A street officer sees the issue but handles it as a node role: unmasked; a department not dispatched: 404.
    before = Issue.objects.values().get(pk=mine.pk)
    staff_client(client, street_officer).post(
        reverse("admin:issues_issue_change", args=[mine.pk]), {"reporter_phone": "1"}
    )
    assert Issue.objects.values().get(pk=mine.pk) == before


def test_demo_staff_sign_in_to_the_admin_only_as_the_district_admin(client, settings):
    call_command("seed_demo", "--no-progress", stdout=None)
    for username, expected in [("district1", True), ("street1", False), ("community1", False), ("dept_cg1", False)]:
        client.logout()
        assert client.login(request=HttpRequest(), username=username, password=settings.DEMO_PASSWORD)
        page = client.get(reverse("admin:index"))
        assert (page.status_code == HTTPStatus.OK) is expected, username
    client.logout()
    client.login(request=HttpRequest(), username="district1", password=settings.DEMO_PASSWORD)
    for name in ["issues_category", "issues_calendarday", "orgs_department", "grids_area", "issues_issue"]:
        assert client.get(reverse(f"admin:{name}_changelist")).status_code == HTTPStatus.OK, name
    for name in ["orgs_membership", "orgs_partnerapp", "notifications_notification"]:
        assert client.get(reverse(f"admin:{name}_changelist")).status_code == HTTPStatus.FORBIDDEN, name
