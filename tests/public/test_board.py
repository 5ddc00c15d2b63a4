"""The public board (/public/<community>/) and its Atom feed: no sign-in, public issues only, no personal data,
the community's rates and rank in its street, constant queries."""

from http import HTTPStatus

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from issues import workflow
from issues.models import Issue
from issues.public_board import ranking
from issues.rollups import rollup_fold, rollup_refresh
from notifications.inbox import unread_counts_forget
from tests.factories import territory_chain

from .conftest import SPELLINGS

pytestmark = pytest.mark.django_db


def board_url(territory, **params):
    query = "&".join(f"{k}={v}" for k, v in params.items())
    return f"/public/{territory['community'].code}/" + (f"?{query}" if query else "")


def test_the_board_shows_resolved_public_issues_without_personal_data(client, build, territory):
    spelling = " ".join(SPELLINGS)
    shown = build("resolved", description=f"3栋楼道堆满纸箱 {spelling}", note=f"已清运。物业电话 {SPELLINGS[0]}")
    hidden = [
        build("resolved", kind="report", description="举报：有人在楼顶违建"),
        build("resolved", private=True, description="邻里纠纷：噪音扰民"),
        build("in_progress", description="还在处理中的问题"),
        build("submitted", description="还没人看过的问题"),
    ]

    response = client.get(board_url(territory))

    assert response.status_code == HTTPStatus.OK
    page = response.content.decode()
    assert f'id="issue-{shown.number}"' in page
    assert "已清运。物业电话 138****5678" in page
    assert territory["grid"].name in page
    for issue in hidden:
        assert issue.number not in page and issue.description not in page
    for personal in ("刘阿姨", "13800138000", "金东南路 12 号", territory["building"].name, *SPELLINGS):
        assert personal not in page


def test_the_board_shows_the_three_rates_and_the_rank_in_the_street(client, build, territory, other_territory):
    build("resolved")
    build("in_progress")  # accepted, not resolved: resolution rate 1/2

    response = client.get(board_url(territory))

    rates = {r["key"]: r["value"] for r in response.context["rates"]}
    assert rates["resolution_rate"] == 0.5
    assert set(rates) == {"response_rate", "resolution_rate", "satisfaction_rate"}
    assert response.context["rank"] == 1
    ranked = response.context["ranked"]
    assert [(r["code"], r["rank"]) for r in ranked] == [
        (territory["community"].code, 1),
        (other_territory["community"].code, None),  # nothing accepted there: listed, not ranked
    ]


def test_ranking_shares_ties_and_lists_the_unranked_last():
    rows = [
        {"code": "a", "resolution_rate": 0.5},
        {"code": "b", "resolution_rate": 0.9},
        {"code": "c", "resolution_rate": None},
        {"code": "d", "resolution_rate": 0.5},
    ]
    assert [(r["code"], r["rank"]) for r in ranking(rows)] == [("b", 1), ("a", 2), ("d", 2), ("c", None)]


def test_the_month_picker_shows_that_months_resolutions_only(client, build, territory):
    issue = build("resolved")
    last_year = timezone.now() - timezone.timedelta(days=400)
    Issue.objects.filter(pk=issue.pk).update(resolved_at=last_year)
    rollup_refresh([issue.pk])

    assert issue.number not in client.get(board_url(territory)).content.decode()
    month = timezone.localtime(last_year).strftime("%Y-%m")
    assert issue.number in client.get(board_url(territory, month=month)).content.decode()
    assert client.get(board_url(territory, month="not-a-month")).status_code == HTTPStatus.OK


def test_an_unknown_or_non_community_code_is_404(client, territory):
    assert client.get("/public/999999999999/").status_code == HTTPStatus.NOT_FOUND
    assert client.get(f"/public/{territory['grid'].code}/").status_code == HTTPStatus.NOT_FOUND


def test_the_board_takes_the_same_queries_for_one_issue_or_many(client, build, territory):
    build("resolved")

    def queries():
        with CaptureQueriesContext(connection) as captured:
            assert client.get(board_url(territory)).status_code == HTTPStatus.OK
        return len(captured)

    one = queries()
    for _ in range(4):
        build("resolved")
    territory_chain(community="360702091002")  # another community in the street
    assert queries() == one


def test_the_board_takes_the_same_queries_signed_in(client, build, territory, resident):
    client.force_login(resident)
    build("resolved")

    def queries():
        unread_counts_forget(user_ids=[resident.pk])  # the header counts each time (new issues tell their reporter)
        rollup_fold()  # what a Celery beat counts every few seconds: the board's own look for more is one query
        with CaptureQueriesContext(connection) as captured:
            assert client.get(board_url(territory)).status_code == HTTPStatus.OK
        return len(captured)

    queries()  # the first page of a session also remembers its user (accounts.session_user)
    one = queries()
    for _ in range(3):
        build("resolved")
    assert queries() == one


def test_the_atom_feed_lists_new_public_issues_and_resolutions_only(client, build, territory):
    resolved = build("resolved", note=f"已处理，回电 {SPELLINGS[2]}")
    private = build("resolved", private=True, description="不公开的问题描述")
    report = build("classified", kind="report", description="举报内容不公开")

    response = client.get(f"/public/{territory['community'].code}/feed/")

    assert response.status_code == HTTPStatus.OK
    assert response["Content-Type"].startswith("application/atom+xml")
    feed = response.content.decode()
    assert feed.count("<entry>") == 2  # its classification (new) and its resolution
    assert "138****5678" in feed and SPELLINGS[2] not in feed
    for hidden in (private, report):
        assert hidden.description not in feed
    assert f"#issue-{resolved.number}" in feed
    assert "13800138000" not in feed and "金东南路" not in feed


def test_the_feed_takes_the_same_queries_for_one_issue_or_many(client, build, territory):
    build("resolved")

    def queries():
        with CaptureQueriesContext(connection) as captured:
            client.get(f"/public/{territory['community'].code}/feed/")
        return len(captured)

    queries()  # the first page of a session also remembers its user (accounts.session_user)
    one = queries()
    for _ in range(3):
        build("resolved")
    assert queries() == one


def test_staff_mark_an_issue_private_from_the_issue_page(client, build, community_staff, territory):
    issue = build("resolved")
    client.force_login(community_staff)
    page = client.get(f"/issues/{issue.number}/").content.decode()
    assert 'id="form-set_privacy"' in page

    response = client.post(
        f"/issues/{issue.number}/set-privacy/",
        {"set_privacy-version": issue.version, "set_privacy-private": "on", "set_privacy-note": "涉及隐私"},
    )

    assert response.status_code == HTTPStatus.FOUND
    assert Issue.objects.get(pk=issue.pk).private is True
    page = client.get(f"/issues/{issue.number}/").content.decode()
    assert "更改公开设置" in page and "涉及隐私" in page  # the event on the staff's timeline, with its reason
    client.logout()
    assert issue.number not in client.get(board_url(territory)).content.decode()
    workflow.issue_set_privacy(issue=issue, actor=community_staff, private=False)
    assert issue.number in client.get(board_url(territory)).content.decode()
