"""The triage queue reads a page in a fixed number of queries whatever it shows (rows, likely duplicates, triage
suggestions), and the rows it remembers (issues.desk_views._render_rows) change with what they show."""

import re
from datetime import timedelta
from http import HTTPStatus

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext

from issues import workflow
from issues.demo import demo_categories, demo_departments
from issues.escalation import escalation_sweep
from issues.models import Category, Issue
from triage.models import TriageModel
from triage.training import triage_train

pytestmark = pytest.mark.django_db

ELEVATOR = "您好，我们单元的电梯又坏了，停在五楼不动，老人下不了楼"
# The session, the rows (their open supervision with them), the likely duplicates and the header's unread count. The
# user and the header's memberships come with the session (accounts.session_user); the tab counts (until an issue
# changes), the category choices and the triage model are remembered (issues.desks, triage.suggest); the place priors
# and the suggested categories are read only for issues the queue has not shown yet.
TRIAGE_QUERIES = 4


@pytest.fixture
def trained(territory):
    demo_categories(departments=demo_departments(district=territory["district"]))
    return triage_train(measure=False)


def signed_in(user, **kwargs) -> Client:
    client = Client(**kwargs)
    client.force_login(user)
    return client


def submit(territory, resident, n: int) -> list[Issue]:
    """Submit `n` issues at (nearly) one point: each is a likely duplicate of the others."""
    return [
        workflow.issue_submit(
            actor=resident, grid=territory["grid"].code, description=ELEVATOR, lat=25.83 + i * 1e-5, lng=114.96
        )
        for i in range(n)
    ]


def queries(client, url="/desk/triage/") -> tuple[int, str]:
    with CaptureQueriesContext(connection) as captured:
        response = client.get(url)
    assert response.status_code == HTTPStatus.OK
    return len(captured.captured_queries), response.content.decode()


def without_tokens(html: str) -> str:
    html = re.sub(r'name="csrfmiddlewaretoken" value="[^"]+"', "", html)
    return re.sub(r'"X-CSRFToken": "[^"]+"', "", html)


def test_triage_queue_queries_do_not_grow_with_rows_duplicates_or_suggestions(
    trained, territory, resident, community_staff
):
    client = signed_in(community_staff)
    first = submit(territory, resident, 2)
    queries(client)  # the scope, and the suggestions of issues not shown yet
    few, html = queries(client)
    assert f'id="suggestion-{first[0].number}"' in html and 'class="dups"' in html
    more = submit(territory, resident, 6)
    queries(client)
    many, html = queries(client)
    assert f'id="suggestion-{more[-1].number}"' in html and html.count('class="dups"') == 8
    assert many == few <= TRIAGE_QUERIES, (few, many)


def test_a_page_from_remembered_rows_is_the_page_rendered_afresh(trained, territory, resident, community_staff):
    submit(territory, resident, 3)
    client = signed_in(community_staff)
    fresh = client.get("/desk/triage/?tab=open").content.decode()
    remembered = client.get("/desk/triage/?tab=open").content.decode()
    assert without_tokens(remembered) == without_tokens(fresh)


def test_a_remembered_row_shows_the_issue_as_it_is_now(trained, territory, resident, community_staff, category):
    issue = submit(territory, resident, 1)[0]
    client = signed_in(community_staff)
    row = re.compile(rf'<tr id="row-{issue.number}".*?</tr>', re.S)
    assert "status-submitted" in row.search(client.get("/desk/triage/?tab=open").content.decode()).group(0)
    workflow.issue_classify(issue=issue, actor=community_staff, category=category)
    shown = row.search(client.get("/desk/triage/?tab=open").content.decode()).group(0)
    assert "status-classified" in shown and category.name in shown and "triage-suggestion" not in shown


def test_a_remembered_accept_form_carries_this_requests_csrf_token(trained, territory, resident, community_staff):
    issue = submit(territory, resident, 1)[0]
    signed_in(community_staff).get("/desk/triage/")  # the row and its accept form are remembered
    client = signed_in(community_staff, enforce_csrf_checks=True)
    html = client.get("/desk/triage/").content.decode()
    form = re.search(rf'<form [^>]*id="accept-{issue.number}".*?</form>', html, re.S).group(0)
    fields = dict(re.findall(r'name="([^"]+)" value="([^"]*)"', form))
    answer = client.post(f"/issues/{issue.number}/classify/", fields)
    assert answer.status_code == HTTPStatus.FOUND
    issue.refresh_from_db()
    assert issue.status == Issue.Status.CLASSIFIED and issue.category.code == "elevator-fault"


def test_a_category_renamed_shows_in_the_filters_at_once(trained, territory, community_staff):
    client = signed_in(community_staff)
    html = client.get("/desk/triage/").content.decode()
    category = Category.objects.get(code="elevator-fault")
    assert f'value="elevator-fault">{category.name} · ' in html
    category.name = "电梯故障（新名）"
    category.save()
    assert 'value="elevator-fault">电梯故障（新名） · ' in client.get("/desk/triage/").content.decode()


def test_a_new_triage_model_ranks_the_next_page(trained, territory, resident, community_staff):
    issue = submit(territory, resident, 1)[0]
    client = signed_in(community_staff)
    assert f'id="suggestion-{issue.number}"' in client.get("/desk/triage/").content.decode()
    TriageModel.objects.all().delete()
    assert f'id="suggestion-{issue.number}"' not in client.get("/desk/triage/").content.decode()


def tab_count(html: str, tab: str) -> int:
    return int(re.search(rf'id="tab-{tab}".*?<span class="count">(\d+)</span>', html, re.S).group(1))


def test_remembered_tab_counts_follow_every_change(trained, territory, resident, community_staff, category):
    issues = submit(territory, resident, 2)
    client = signed_in(community_staff)
    html = client.get("/desk/triage/").content.decode()
    assert (tab_count(html, "new"), tab_count(html, "open")) == (2, 2)
    submit(territory, resident, 1)
    html = client.get("/desk/triage/").content.decode()
    assert (tab_count(html, "new"), tab_count(html, "open")) == (3, 3)
    workflow.issue_classify(issue=issues[0], actor=community_staff, category=category)
    html = client.get("/desk/triage/").content.decode()
    assert (tab_count(html, "new"), tab_count(html, "open")) == (2, 3)


def test_a_second_page_does_not_count_the_tabs_again(trained, territory, resident, community_staff):
    submit(territory, resident, 2)
    client = signed_in(community_staff)
    client.get("/desk/triage/")
    with CaptureQueriesContext(connection) as captured:
        client.get("/desk/triage/")
    assert not [q for q in captured.captured_queries if 'COUNT("issues_issue"."id") FILTER' in q["sql"]]


def test_a_remembered_page_shows_what_the_sweep_escalated(make, street_officer):
    issue = make("dispatched")
    client = signed_in(street_officer)
    row = re.compile(rf'<tr id="row-{issue.number}".*?</tr>', re.S)
    before = row.search(client.get("/desk/triage/?tab=open").content.decode()).group(0)
    assert escalation_sweep(now=issue.response_due_at + timedelta(minutes=1))
    after = row.search(client.get("/desk/triage/?tab=open").content.decode()).group(0)
    issue.refresh_from_db()
    assert issue.escalation_level == Issue.EscalationLevel.STREET and after != before
    assert str(Issue.EscalationLevel.STREET.label) in after
