"""Each submission rule has one home (issues.arguments, issues.workflow.rules): the API and the workflow refuse the
same input with the same field and the same words, whichever of them is asked."""

from http import HTTPStatus

import pytest
from django.contrib.auth.models import AnonymousUser

from config.errors import ValidationFailed
from issues import workflow
from issues.arguments import PHONE_MESSAGE
from issues.models import Issue
from issues.workflow.rules import DESCRIPTION_MAX, EXTEND_MAX, NOTE_MAX
from tests.api import test_issues_support as support
from tests.api.test_issues_support import REPORTER_NAME, make_partner, submit_body
from tests.factories import assert_refused

pytestmark = pytest.mark.django_db

ISSUES = "/api/v1/issues/"


def client_for(user=None):
    """Return an API client asking for English, the language the workflow words its messages in."""
    client = support.client_for(user)
    client.defaults["HTTP_ACCEPT_LANGUAGE"] = "en"
    return client


def partner_client(raw_key: str):
    client = support.partner_client(raw_key)
    client.defaults["HTTP_ACCEPT_LANGUAGE"] = "en"
    return client


def workflow_refusal(**kwargs) -> dict[str, list[str]]:
    """Return the fields workflow.issue_submit refuses `kwargs` with."""
    with pytest.raises(ValidationFailed) as refused:
        workflow.issue_submit(**kwargs)
    return refused.value.fields


def api_refusal(response) -> dict[str, list[str]]:
    assert response.status_code == HTTPStatus.BAD_REQUEST, response.content
    assert response.json()["error"]["code"] == "validation_error"
    return response.json()["error"]["fields"]


@pytest.mark.parametrize("phone", ["call me", "12345", "+86 138 1234 567x", "-13812345678"])
def test_the_api_and_the_workflow_refuse_a_bad_phone_alike(phone, territory, resident):
    body = submit_body(territory, reporter={"name": REPORTER_NAME, "phone": phone})
    from_api = api_refusal(client_for(resident).post(ISSUES, body, format="json"))
    from_workflow = workflow_refusal(
        actor=resident, description=body["description"], grid=territory["grid"].code, reporter_phone=phone
    )

    assert from_api == {"reporter.phone": from_workflow["reporter_phone"]}
    assert Issue.objects.count() == 0


def test_a_phone_in_the_wrong_shape_gets_the_phone_rules_own_words(territory, resident):
    body = submit_body(territory, reporter={"phone": "call me"})

    assert api_refusal(client_for(resident).post(ISSUES, body, format="json")) == {"reporter.phone": [PHONE_MESSAGE]}


@pytest.mark.parametrize("phone", ["13812345678", "+86 138-1234-5678", "0797 8123456"])
def test_the_api_and_the_workflow_accept_the_same_phones(phone, territory, resident):
    body = submit_body(territory, reporter={"phone": phone})
    response = client_for(resident).post(ISSUES, body, format="json")
    assert response.status_code == HTTPStatus.CREATED, response.content

    issue = workflow.issue_submit(
        actor=resident, description=body["description"], grid=territory["grid"].code, reporter_phone=phone
    )
    assert Issue.objects.get(pk=response.json()["id"]).reporter_phone == issue.reporter_phone == phone


def test_nobody_signed_in_must_give_a_phone_in_the_same_words_everywhere(territory):
    body = submit_body(territory, reporter={"name": REPORTER_NAME})
    from_api = api_refusal(client_for().post(ISSUES, body, format="json"))
    from_workflow = workflow_refusal(actor=AnonymousUser(), description=body["description"], grid=body["grid"])

    assert from_api == {"reporter.phone": from_workflow["reporter_phone"]}
    assert Issue.objects.count() == 0


def test_a_partner_app_must_give_a_phone_in_the_same_words_everywhere(territory):
    partner, key = make_partner(area=territory["district"])
    body = submit_body(territory, reporter={"name": REPORTER_NAME})
    from_api = api_refusal(partner_client(key).post(ISSUES, body, format="json"))
    from_workflow = workflow_refusal(actor=partner.user, description=body["description"], grid=body["grid"])

    assert from_api == {"reporter.phone": from_workflow["reporter_phone"]}
    assert Issue.objects.count() == 0


def test_a_report_naming_no_place_is_refused_alike(resident):
    body = {"description": "楼道里堆满了旧家具", "reporter": {"phone": "13812345678"}}
    from_api = api_refusal(client_for(resident).post(ISSUES, body, format="json"))
    from_workflow = workflow_refusal(actor=resident, description=body["description"])

    assert from_api == from_workflow == {"location": ["Give a location, a building or a grid."]}


def test_the_description_limit_is_the_same_in_the_api_and_the_workflow(territory, resident):
    description = "x" * (DESCRIPTION_MAX + 1)
    body = submit_body(territory, description=description)
    from_api = api_refusal(client_for(resident).post(ISSUES, body, format="json"))
    from_workflow = workflow_refusal(actor=resident, description=description, grid=territory["grid"].code)

    # DRF words its length messages in the caller's language, the workflow in English: the field and the limit agree.
    assert list(from_api) == list(from_workflow) == ["description"]
    assert str(DESCRIPTION_MAX) in from_api["description"][0]
    assert str(DESCRIPTION_MAX) in from_workflow["description"][0]


def test_a_note_longer_than_the_limit_is_refused_by_the_workflow_as_by_the_api(make, community_staff, category):
    issue = make("classified")
    note = "x" * (NOTE_MAX + 1)
    url = f"{ISSUES}{issue.pk}/dispatch/"

    from_api = api_refusal(
        client_for(community_staff).post(url, {"departments": [category.department.code], "note": note}, format="json")
    )
    refused = assert_refused(
        ValidationFailed,
        lambda: workflow.issue_dispatch(
            issue=issue, actor=community_staff, departments=[category.department], note=note
        ),
        issue,
    )
    assert list(from_api) == list(refused.fields) == ["note"]
    assert str(NOTE_MAX) in from_api["note"][0] and str(NOTE_MAX) in refused.fields["note"][0]


def test_the_extension_limit_is_the_same_in_the_api_and_the_workflow(make, street_officer):
    issue = make("in_progress")
    url = f"{ISSUES}{issue.pk}/extend/"

    from_api = api_refusal(client_for(street_officer).post(url, {"workdays": EXTEND_MAX + 1}, format="json"))
    refused = assert_refused(
        ValidationFailed,
        lambda: workflow.issue_extend(issue=issue, actor=street_officer, workdays=EXTEND_MAX + 1),
        issue,
    )
    assert list(from_api) == list(refused.fields) == ["workdays"]
