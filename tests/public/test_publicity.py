"""The one public rule (issues.publicity), the private flag staff set, and Open311's lists read through the rule."""

from http import HTTPStatus

import pytest

from config.errors import PermissionDenied, ValidationFailed
from issues import workflow
from issues.models import Event, Issue
from issues.personal_data import mask_phones
from issues.publicity import grid_centroid, is_public, public_issue_list
from tests.factories import assert_refused

from .conftest import SPELLINGS

pytestmark = pytest.mark.django_db
BASE = "/open311/v2"


@pytest.mark.parametrize("spelling", SPELLINGS)
def test_every_spelling_of_a_phone_is_masked(spelling):
    masked = mask_phones(f"请联系{spelling}谢谢")
    assert masked.startswith("请联系") and masked.endswith("谢谢")
    digits = [c for c in masked if c.isdigit()]
    assert "*" in masked and len(digits) <= 7, masked
    assert "1234" not in masked.translate(str.maketrans("１２３４", "1234"))


def test_dates_numbers_and_rooms_are_not_phones():
    kept = "GD-20261202-00001 于 2026-12-02 10:30 报 3栋2单元401，热线 12345"
    assert mask_phones(kept) == kept


def test_only_seen_not_report_not_private_issues_are_public(build):
    public = {build("classified"), build("in_progress"), build("resolved")}
    hidden = {
        build("submitted"),
        build("rejected"),
        build("resolved", kind="report"),
        build("resolved", private=True),
    }
    listed = set(public_issue_list())
    assert listed == public
    assert {i for i in public | hidden if is_public(Issue.objects.get(pk=i.pk))} == public


def test_private_is_set_by_staff_with_an_internal_event_and_refused_to_others(build, community_staff, resident):
    issue = build("classified")
    # The reporter sees the issue but holds no triage role: refused, nothing changed.
    assert_refused(
        PermissionDenied,
        lambda: workflow.issue_set_privacy(issue=issue, actor=resident, private=True),
        issue,
        code="permission_denied",
    )

    workflow.issue_set_privacy(issue=issue, actor=community_staff, private=True, note="涉及邻里纠纷")
    event = Event.objects.filter(issue=issue).latest("at", "id")
    assert (event.action, event.internal, event.data, event.note) == (
        "set_privacy",
        True,
        {"private": True},
        "涉及邻里纠纷",
    )
    assert Issue.objects.get(pk=issue.pk).private is True
    with pytest.raises(ValidationFailed):
        workflow.issue_set_privacy(issue=issue, actor=community_staff, private=True)


def test_the_grid_centroid_is_the_place_the_public_reads(territory):
    assert grid_centroid(territory["grid"]) == (25.825, 114.955)
    assert grid_centroid(None) == (None, None)


def _open311(client, **params):
    response = client.get(f"{BASE}/requests.json", params)
    assert response.status_code == HTTPStatus.OK
    return {r["service_request_id"]: r for r in response.json()}


@pytest.mark.parametrize("spelling", SPELLINGS)
def test_keyless_open311_masks_every_spelling_and_shows_no_address_nor_exact_place(client, build, spelling, territory):
    issue = build("classified", description=f"门口堆满杂物，请打 {spelling} 联系", address=f"3栋 电话{spelling}")
    workflow.issue_comment(issue=issue, actor=issue.reporter_user, text=f"我的电话是{spelling}")
    Issue.objects.filter(pk=issue.pk).update(lat=25.8213, lng=114.9587)

    [request] = _open311(client).values()

    body = str(request)
    assert spelling not in body
    assert "*" in request["description"] and "*" in request["status_notes"]
    assert (request["address"], request["address_id"]) == ("", "")
    assert (request["lat"], request["long"]) == (25.825, 114.955)


def test_keyless_open311_lists_no_unseen_report_or_private_issue(client, build):
    public = build("classified")
    hidden = [build("submitted"), build("classified", kind="report"), build("classified", private=True)]

    listed = _open311(client)

    assert set(listed) == {public.number}
    for issue in hidden:
        response = client.get(f"{BASE}/requests/{issue.number}.json")
        assert response.status_code == HTTPStatus.NOT_FOUND


def test_keyed_open311_reads_the_partners_own_as_submitted_and_nothing_public_of_others(client, build, partner_key):
    user, key = partner_key
    spelling = "138.1234.5678"
    own = workflow.issue_submit(
        actor=user,
        description=f"请回电 {spelling}，楼道堆物",
        grid=build("submitted").grid.code,
        address=f"3栋 {spelling}",
        reporter_phone="13800138000",
    )
    other = build("classified", description=f"邻居的报告 {spelling}")

    listed = _open311(client, api_key=key)

    assert set(listed) == {own.number}  # its own, even unseen; never another's public issue through its key
    assert spelling in listed[own.number]["description"]  # the partner submitted it: its own words come back
    assert listed[own.number]["address"] == f"3栋 {spelling}"
    assert other.number in _open311(client)
