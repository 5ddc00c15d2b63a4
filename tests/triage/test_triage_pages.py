"""Suggestions where triage happens: the issue page's classify form and the triage queue (server-rendered)."""

from http import HTTPStatus

import pytest

from issues import workflow
from issues.demo import demo_categories, demo_departments
from issues.models import Issue
from triage.training import triage_train

ELEVATOR = "您好，我们单元的电梯又坏了，停在五楼不动，老人下不了楼"


@pytest.fixture
def trained(territory):
    demo_categories(departments=demo_departments(district=territory["district"]))
    return triage_train(measure=False)


@pytest.fixture
def new_issue(territory, resident):
    return workflow.issue_submit(actor=resident, grid=territory["grid"].code, description=ELEVATOR)


def test_the_classify_form_preselects_the_top_suggestion_with_its_confidence(
    client, trained, new_issue, community_staff
):
    client.force_login(community_staff)
    page = client.get(f"/issues/{new_issue.number}/")
    form = next(e["form"] for e in page.context["staff_forms"] if e["action"] == "classify")
    assert form.initial["category"] == "elevator-fault" and form.initial["kind"] == "complaint"
    html = page.content.decode()
    assert 'id="triage-suggestions"' in html and "电梯故障" in html
    assert f"{round(form.suggestions[0].score * 100)}%" in html


def test_the_reporters_own_category_is_kept(client, trained, territory, resident, community_staff):
    issue = workflow.issue_submit(
        actor=resident, grid=territory["grid"].code, description=ELEVATOR, category="property-suggestion"
    )
    client.force_login(community_staff)
    page = client.get(f"/issues/{issue.number}/")
    form = next(e["form"] for e in page.context["staff_forms"] if e["action"] == "classify")
    assert form.initial["category"] == "property-suggestion"


def test_without_a_model_the_pages_work_and_show_no_suggestion(client, territory, new_issue, community_staff):
    client.force_login(community_staff)
    assert 'id="triage-suggestions"' not in client.get(f"/issues/{new_issue.number}/").content.decode()
    queue = client.get("/desk/triage/")
    assert queue.status_code == HTTPStatus.OK and f'id="accept-{new_issue.number}"' not in queue.content.decode()


def test_the_queue_offers_one_click_acceptance_that_classifies(client, trained, new_issue, community_staff):
    client.force_login(community_staff)
    html = client.get("/desk/triage/").content.decode()
    assert f'id="suggestion-{new_issue.number}"' in html and f'form="accept-{new_issue.number}"' in html
    assert 'name="classify-category" value="elevator-fault"' in html
    answer = client.post(
        f"/issues/{new_issue.number}/classify/",
        {"classify-version": new_issue.version, "classify-category": "elevator-fault", "classify-kind": "complaint"},
    )
    assert answer.status_code == HTTPStatus.FOUND
    issue = Issue.objects.get(pk=new_issue.pk)
    assert (issue.status, issue.category.code) == ("classified", "elevator-fault")
    # Classified: no longer offered in the queue.
    assert f'id="accept-{new_issue.number}"' not in client.get("/desk/triage/").content.decode()


def test_long_shots_are_not_shown_on_the_classify_form(client, trained, new_issue, community_staff):
    client.force_login(community_staff)
    page = client.get(f"/issues/{new_issue.number}/")
    form = next(e["form"] for e in page.context["staff_forms"] if e["action"] == "classify")
    html = page.content.decode()
    panel = html[html.index('id="triage-suggestions"') :]
    panel = panel[: panel.index("</div>")]
    shown = [s for s in form.suggestions if s.score >= 0.05 or s is form.suggestions[0]]
    assert panel.count("<li>") == len(shown) < len(form.suggestions)
