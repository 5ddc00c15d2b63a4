"""The channel every issue records: who may name which (issue_submit), the API field, the filter, the statistics."""

from http import HTTPStatus

import pytest
from django.contrib.auth.models import AnonymousUser
from django.db import connection
from django.db.migrations.executor import MigrationExecutor
from django.utils import translation

from config.errors import ValidationFailed
from issues import workflow
from issues.filters import IssueFilterSet
from issues.models import Issue
from issues.rollups import rollup_fold
from issues.selectors import issue_stats
from open311.services import service_request_create
from orgs.models import PartnerApp
from tests.api.test_issues_support import client_for, make_partner, partner_client, submit_body
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db

DESCRIPTION = "Bicycles and boxes block the stairwell."
PHONE = "13812345678"
ISSUES = "/api/v1/issues/"
C = Issue.Channel


@pytest.fixture
def partner_user(territory):
    user = UserFactory(username="partner_app")
    PartnerApp.objects.create(slug="mini", name="Mini-program", user=user, area=territory["district"])
    return user


def submit(actor, place, **fields):
    return workflow.issue_submit(actor=actor, description=DESCRIPTION, grid=place.code, **fields)


def refused_on(field, call) -> str:
    """Assert `call()` is refused on `field`, creates no issue, and return the message."""
    before = Issue.objects.count()
    with pytest.raises(ValidationFailed) as refused:
        call()
    assert list(refused.value.fields) == [field]
    assert Issue.objects.count() == before
    return refused.value.fields[field][0]


def test_channel_choices_are_the_six_ways_a_report_comes_in_both_languages():
    with translation.override("en"):
        assert [(value, str(label)) for value, label in C.choices] == [
            ("web", "web form"),
            ("partner", "partner app"),
            ("open311", "Open311"),
            ("hotline", "hotline"),
            ("patrol", "grid patrol"),
            ("on_behalf", "on behalf"),
        ]
    with translation.override("zh-hans"):
        assert [str(label) for label in C.labels] == [
            "网页",
            "合作应用",
            "Open311",
            "12345热线",
            "网格巡查",
            "代为上报",
        ]


# --- issue_submit ----------------------------------------------------------------------------------------------


def test_a_resident_and_an_anonymous_visitor_report_by_the_web_form(territory, resident):
    assert submit(resident, territory["grid"]).channel == C.WEB
    assert submit(AnonymousUser(), territory["grid"], reporter_phone=PHONE).channel == C.WEB
    assert submit(resident, territory["grid"], channel="web").channel == C.WEB


@pytest.mark.parametrize("channel", ["hotline", "patrol", "on_behalf", "partner", "open311"])
def test_a_resident_cannot_claim_another_channel(territory, resident, channel):
    refused_on("channel", lambda: submit(resident, territory["grid"], channel=channel, reporter_phone=PHONE))


def test_an_anonymous_visitor_cannot_claim_the_hotline(territory):
    message = refused_on(
        "channel", lambda: submit(AnonymousUser(), territory["grid"], channel="hotline", reporter_phone=PHONE)
    )
    assert message == "Only a hotline operator of this place or the hotline's system reports a hotline call."


def test_an_unknown_channel_is_refused(territory, resident):
    assert refused_on("channel", lambda: submit(resident, territory["grid"], channel="fax")).startswith(
        "Must be one of"
    )


def test_a_partner_app_reports_through_its_channel_or_the_hotline(territory, partner_user):
    assert submit(partner_user, territory["grid"], reporter_phone=PHONE).channel == C.PARTNER
    assert submit(partner_user, territory["grid"], reporter_phone=PHONE, channel="hotline").channel == C.HOTLINE
    for channel in ("web", "patrol", "on_behalf"):
        refused_on(
            "channel", lambda c=channel: submit(partner_user, territory["grid"], reporter_phone=PHONE, channel=c)
        )


def test_a_grid_worker_reports_a_patrol_and_on_behalf_of_a_resident_with_their_phone(territory, grid_worker):
    assert submit(grid_worker, territory["grid"]).channel == C.WEB
    assert submit(grid_worker, territory["grid"], channel="patrol").channel == C.PATROL
    issue = submit(grid_worker, territory["grid"], channel="on_behalf", reporter_name="刘洋", reporter_phone=PHONE)
    assert (issue.channel, issue.reporter_user, issue.reporter_phone) == (C.ON_BEHALF, grid_worker, PHONE)
    message = refused_on("reporter_phone", lambda: submit(grid_worker, territory["grid"], channel="on_behalf"))
    assert message == "Give the phone of the person you report for."


def test_a_grid_worker_reports_a_patrol_only_within_their_grid(territory, other_territory, grid_worker):
    message = refused_on("channel", lambda: submit(grid_worker, other_territory["grid"], channel="patrol"))
    assert message == "Only staff of this place report from a patrol."


def test_open311_requests_record_the_open311_channel(territory, partner_user, category):
    issue = service_request_create(
        actor=partner_user,
        params={"service_code": category.code, "description": DESCRIPTION, "address_id": territory["building"].code,
                "phone": PHONE},
    )  # fmt: skip
    assert issue.channel == C.OPEN311


# --- API --------------------------------------------------------------------------------------------------------


def test_api_answers_the_channel_and_a_partner_may_say_hotline(territory):
    _, key = make_partner(area=territory["district"])
    response = partner_client(key).post(ISSUES, submit_body(territory, channel="hotline"), format="json")
    assert response.status_code == HTTPStatus.CREATED
    assert response.json()["channel"] == "hotline"
    assert Issue.objects.get().channel == C.HOTLINE


def test_api_refuses_a_resident_claiming_the_hotline_on_the_channel_field(territory, resident):
    response = client_for(resident).post(
        ISSUES, submit_body(territory, channel="hotline"), format="json", HTTP_ACCEPT_LANGUAGE="en"
    )
    assert response.status_code == HTTPStatus.BAD_REQUEST
    assert response.json()["error"]["fields"] == {
        "channel": ["Only a hotline operator of this place or the hotline's system reports a hotline call."]
    }
    assert not Issue.objects.exists()


def test_api_leaves_the_open311_channel_to_the_open311_endpoint(territory):
    _, key = make_partner(area=territory["district"])
    response = partner_client(key).post(ISSUES, submit_body(territory, channel="open311"), format="json")
    assert response.status_code == HTTPStatus.BAD_REQUEST
    assert list(response.json()["error"]["fields"]) == ["channel"]
    assert not Issue.objects.exists()


# --- filter and statistics ---------------------------------------------------------------------------------------


@pytest.fixture
def one_per_channel(territory, resident, grid_worker, partner_user):
    grid = territory["grid"]
    return {
        "web": submit(resident, grid),
        "partner": submit(partner_user, grid, reporter_phone=PHONE),
        "hotline": submit(partner_user, grid, reporter_phone=PHONE, channel="hotline"),
        "patrol": submit(grid_worker, grid, channel="patrol"),
        "patrol2": submit(grid_worker, grid, channel="patrol"),
    }


def test_filter_by_comma_separated_channels(one_per_channel):
    found = IssueFilterSet({"channel": "hotline,patrol"}, queryset=Issue.objects.all()).qs
    assert {i.pk for i in found} == {one_per_channel[k].pk for k in ("hotline", "patrol", "patrol2")}


def test_filter_by_an_unknown_channel_is_a_form_error(one_per_channel):
    filterset = IssueFilterSet({"channel": "fax"}, queryset=Issue.objects.all())
    assert not filterset.is_valid()
    assert list(filterset.errors) == ["channel"]


def test_api_list_filters_by_channel(one_per_channel, community_staff):
    response = client_for(community_staff).get(ISSUES, {"channel": "patrol"})
    assert response.status_code == HTTPStatus.OK
    assert sorted(r["number"] for r in response.json()["results"]) == sorted(
        one_per_channel[k].number for k in ("patrol", "patrol2")
    )
    assert client_for(community_staff).get(ISSUES, {"channel": "fax"}).status_code == HTTPStatus.BAD_REQUEST


def test_statistics_count_by_channel_in_four_queries(one_per_channel, territory, django_assert_num_queries):
    rollup_fold()  # counted as a Celery beat would; the read's look for more is its fourth query
    with django_assert_num_queries(4):
        stats = issue_stats(area=territory["street"], date_from=None, date_to=None)
    assert stats["by_channel"] == {"web": 1, "partner": 1, "open311": 0, "hotline": 1, "patrol": 2, "on_behalf": 0}
    assert sum(stats["by_channel"].values()) == stats["total"] == 5
    # The per-community rows are still whole: grouping by channel too splits no child area's figures.
    assert {row["code"]: row["total"] for row in stats["by_child_area"]} == {territory["community"].code: 5}


def test_api_statistics_add_by_channel(one_per_channel, territory, community_staff):
    response = client_for(community_staff).get("/api/v1/stats/", {"area": territory["community"].code})
    assert response.status_code == HTTPStatus.OK
    assert response.json()["by_channel"]["patrol"] == 2


# --- migration ----------------------------------------------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_migration_backfills_partner_submissions_as_partner_and_the_rest_as_web(territory):
    partner_user = UserFactory(username="partner_app")
    PartnerApp.objects.create(slug="mini", name="Mini-program", user=partner_user, area=territory["district"])
    resident = UserFactory(username="resident")
    executor = MigrationExecutor(connection)
    # The migration before issue_channel, found by name (its number may change when branches merge).
    channel = next(
        key for key in executor.loader.disk_migrations if key[0] == "issues" and key[1].endswith("_issue_channel")
    )
    before = [dep for dep in executor.loader.get_migration(*channel).dependencies if dep[0] == "issues"]
    executor.migrate(before)
    executor.loader.build_graph()
    old = executor.loader.project_state(before).apps
    OldIssue = old.get_model("issues", "Issue")
    grid = territory["grid"]
    common = {"description": DESCRIPTION, "grid_id": grid.pk, "area_path": grid.path, "district_code": "360702",
              "street_code": "360702091", "community_code": "360702091005", "grid_code": grid.code}  # fmt: skip
    OldIssue.objects.create(number="GD-OLD-1", reporter_user_id=partner_user.pk, **common)
    OldIssue.objects.create(number="GD-OLD-2", reporter_user_id=resident.pk, **common)
    OldIssue.objects.create(number="GD-OLD-3", reporter_user_id=None, **common)

    executor = MigrationExecutor(connection)
    executor.migrate(executor.loader.graph.leaf_nodes())

    assert dict(Issue.objects.values_list("number", "channel")) == {
        "GD-OLD-1": "partner",
        "GD-OLD-2": "web",
        "GD-OLD-3": "web",
    }
