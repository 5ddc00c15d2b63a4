"""Triage suggestions: the model learns the shipped set and the staff's decisions, the endpoint answers staff and
partners only, and nothing waits on a model that does not exist."""

from http import HTTPStatus

import pytest
from django.core.management import call_command
from rest_framework.test import APIClient

from issues import workflow
from issues.demo import demo_categories, demo_departments
from issues.models import Category
from tests.api.test_issues_support import make_partner, partner_client
from triage import engine
from triage.models import TriageModel
from triage.suggest import triage_suggest
from triage.training import Example, labelled_set, split, staff_decisions, triage_seed, triage_train

URL = "/api/v1/triage/suggest/"


@pytest.fixture
def demo(territory):
    """The demo departments and categories (the codes the shipped labelled set uses), in the test district."""
    demo_categories(departments=demo_departments(district=territory["district"]))
    return {c.code: c for c in Category.objects.all()}


@pytest.fixture
def model(demo):
    return triage_train(measure=False)


def _top(description, **kw):
    return triage_suggest(description, **kw)[0]


# --- the engine ---------------------------------------------------------------------------------------------------


def test_the_shipped_set_is_several_hundred_lines_over_every_demo_leaf_category():
    examples = labelled_set()
    assert len(examples) >= 400
    leaves = {"stairwell-clutter", "fire-lane-blocked", "street-vending", "burst-pipe", "water-outage",
              "street-light-broken", "road-damage", "garbage-collection", "illegal-structure", "elevator-fault",
              "property-suggestion", "elderly-help"}  # fmt: skip
    assert {e.category for e in examples} == leaves
    assert len({e.description for e in examples}) == len(examples)


def test_held_out_accuracy_on_the_shipped_set_meets_the_target():
    train, held = split(labelled_set())
    assert not {e.description for e in train} & {e.description for e in held}
    fitted = engine.fit([e.description for e in train], [e.category for e in train], [e.kind for e in train])
    top1, top3 = engine.accuracy(fitted, [e.description for e in held], [e.category for e in held])
    assert top1 >= 0.85
    assert top3 >= top1


@pytest.mark.parametrize(
    "text, category, kind",
    [
        ("我们单元的电梯又坏了，卡在五楼不动", "elevator-fault", "complaint"),
        ("小区门口路灯晚上不亮", "street-light-broken", "complaint"),
        ("楼下消防通道天天停满了车", "fire-lane-blocked", "complaint"),
        ("请问我们小区什么时候来水", "water-outage", "consultation"),
        ("建议物业多装几个监控", "property-suggestion", "suggestion"),
    ],
)
def test_obvious_descriptions_rank_their_category_first_with_its_kind_and_department(model, demo, text, category, kind):
    top = _top(text)
    assert top.category.code == category
    assert top.kind == kind
    assert top.department == demo[category].department


def test_suggestions_are_ranked_with_scores_between_0_and_1(model):
    suggestions = triage_suggest("路面有个大坑，电动车摔了")
    assert len(suggestions) == 3
    scores = [s.score for s in suggestions]
    assert scores == sorted(scores, reverse=True)
    assert all(0 <= s <= 1 for s in scores) and sum(scores) <= 1.0001


def test_the_department_is_left_out_when_the_place_is_in_another_district(model, territory):
    from tests.factories import territory_chain

    other = territory_chain(district="360703", street="360703001", community="360703001001")[3]
    assert _top("电梯坏了", place=territory["grid"]).department is not None
    assert _top("电梯坏了", place=other).department is None


def test_an_inactive_category_is_never_suggested(model, demo):
    Category.objects.filter(code="elevator-fault").update(is_active=False)
    assert "elevator-fault" not in {s.category.code for s in triage_suggest("电梯坏了困人了")}


# --- learning from the staff ----------------------------------------------------------------------------------------

CONFUSED = "小区喷泉水池里的水一直往外溢，流到路上了"


def test_a_staff_correction_changes_later_suggestions_after_retraining(
    model, demo, territory, resident, community_staff
):
    before = _top(CONFUSED).category.code
    assert before != "road-damage"
    for n in range(3):
        issue = workflow.issue_submit(actor=resident, grid=territory["grid"].code, description=f"{CONFUSED}{'。' * n}")
        workflow.issue_classify(issue=issue, actor=community_staff, category="road-damage")
    decisions = staff_decisions()
    assert [d.category for d in decisions] == ["road-damage"] * 3
    retrained = triage_train()
    assert retrained.staff_decisions == 3 and retrained.pk > model.pk
    assert _top(CONFUSED).category.code == "road-damage"


def test_only_classified_issues_are_decisions_with_the_category_their_classify_event_chose(
    demo, territory, resident, street_officer
):
    workflow.issue_submit(actor=resident, grid=territory["grid"].code, description="还没有人分类的一件事")
    issue = workflow.issue_submit(actor=resident, grid=territory["grid"].code, description="路灯坏了好几天")
    workflow.issue_classify(issue=issue, actor=street_officer, category="street-light-broken", kind="report")
    assert staff_decisions() == [
        Example(description="路灯坏了好几天", category="street-light-broken", kind="report", staff=True)
    ]


# --- no model ---------------------------------------------------------------------------------------------------


def test_without_a_model_submission_works_and_suggestions_are_empty(demo, territory, resident, community_staff):
    assert not TriageModel.objects.exists()
    issue = workflow.issue_submit(actor=resident, grid=territory["grid"].code, description="电梯坏了，困人了")
    assert issue.pk and issue.category is None
    assert triage_suggest("电梯坏了") == []
    client = APIClient()
    client.force_authenticate(community_staff)
    answer = client.post(URL, {"description": "电梯坏了"}, format="json")
    assert answer.status_code == HTTPStatus.OK
    assert answer.json() == {"suggestions": []}


# --- the endpoint -------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("who", ["community_staff", "grid_worker", "chengguan_staff", "district_admin"])
def test_staff_get_ranked_suggestions(request, model, demo, who):
    client = APIClient()
    client.force_authenticate(request.getfixturevalue(who))
    answer = client.post(URL, {"description": "楼道里堆满了纸箱和旧家具"}, format="json")
    assert answer.status_code == HTTPStatus.OK
    first = answer.json()["suggestions"][0]
    assert first["category"] == "stairwell-clutter"
    assert first["kind"] == "complaint" and first["department"] == "chengguan"
    assert 0 < first["score"] <= 1


def test_a_partner_key_gets_suggestions_and_the_location_limits_the_department(model, territory):
    _, key = make_partner(area=territory["district"])
    client = partner_client(key)
    answer = client.post(URL, {"description": "水管爆了到处是水", "grid": territory["grid"].code}, format="json")
    assert answer.status_code == HTTPStatus.OK
    assert answer.json()["suggestions"][0]["department"] == "shuiwu"


def test_residents_and_anonymous_callers_are_refused(model, resident):
    anonymous = APIClient().post(URL, {"description": "电梯坏了"}, format="json")
    assert anonymous.status_code == HTTPStatus.UNAUTHORIZED
    client = APIClient()
    client.force_authenticate(resident)
    answer = client.post(URL, {"description": "电梯坏了"}, format="json")
    assert answer.status_code == HTTPStatus.FORBIDDEN
    assert answer.json()["error"]["code"] == "permission_denied"


def test_a_bad_body_is_a_validation_error_in_the_documented_shape(model, community_staff):
    client = APIClient()
    client.force_authenticate(community_staff)
    missing = client.post(URL, {}, format="json")
    assert missing.status_code == HTTPStatus.BAD_REQUEST
    assert missing.json()["error"]["code"] == "validation_error"
    assert "description" in missing.json()["error"]["fields"]
    nowhere = client.post(URL, {"description": "电梯坏了", "location": {"lat": 1.0, "lng": 1.0}}, format="json")
    assert nowhere.status_code == HTTPStatus.BAD_REQUEST
    assert "location" in nowhere.json()["error"]["fields"]


def test_the_endpoint_is_in_the_schema(db):
    from drf_spectacular.generators import SchemaGenerator

    schema = SchemaGenerator().get_schema(request=None, public=True)
    operation = schema["paths"]["/api/v1/triage/suggest/"]["post"]
    assert {"200", "400", "401", "403"} <= set(operation["responses"])


# --- training: command, task, seed ------------------------------------------------------------------------------


def test_triage_train_stores_a_measured_versioned_model(demo, capsys):
    call_command("triage_train")
    model = TriageModel.objects.get()
    assert model.trained_on == len(labelled_set()) and model.staff_decisions == 0
    assert model.held_out > 0 and model.top1 >= 0.85 and model.top3 >= model.top1
    assert model.engine == engine.ENGINE and len(bytes(model.blob)) > 0
    assert f"v{model.pk}" in capsys.readouterr().out


def test_the_beat_task_retrains_and_old_models_are_pruned(demo, settings):
    from triage.tasks import triage_train_task

    assert settings.CELERY_BEAT_SCHEDULE["triage-train"]["task"] == "triage.train"
    ids = [triage_train_task() for _ in range(7)]
    assert list(TriageModel.objects.values_list("id", flat=True)) == sorted(ids, reverse=True)[:5]


def test_seed_trains_only_when_no_model_exists(demo):
    first = triage_seed()
    assert first is not None
    assert triage_seed() is None
    assert TriageModel.objects.count() == 1


def test_seed_demo_trains_the_first_model_once(db):
    call_command("seed_demo", verbosity=0)
    call_command("seed_demo", verbosity=0)
    model = TriageModel.objects.get()
    assert model.trained_on >= 400 and model.top1 >= 0.85
    assert _top("电梯又坏了，困人了").category.code == "elevator-fault"


def test_the_place_tips_a_close_call_towards_what_its_grid_usually_reports(
    model, demo, territory, other_territory, resident, community_staff
):
    text = "门口堆了好多东西过不去"  # stairwell clutter or a blocked fire lane: the text alone hesitates
    plain = {s.category.code: s.score for s in triage_suggest(text, limit=12)}
    for n in range(8):
        issue = workflow.issue_submit(actor=resident, grid=territory["grid"].code, description=f"消防通道被占{n}")
        workflow.issue_classify(issue=issue, actor=community_staff, category="fire-lane-blocked")
    here = {s.category.code: s.score for s in triage_suggest(text, place=territory["grid"], limit=12)}
    elsewhere = {s.category.code: s.score for s in triage_suggest(text, place=other_territory["grid"], limit=12)}
    assert here["fire-lane-blocked"] > plain["fire-lane-blocked"]
    assert elsewhere == plain  # a grid with no history changes nothing
    # A building's grid counts as its grid.
    at_building = {s.category.code: s.score for s in triage_suggest(text, place=territory["building"], limit=12)}
    assert at_building == here


def test_only_the_newest_decisions_are_learnt_past_the_limit(demo, territory, resident, community_staff):
    for text in ("第一件：路灯坏了", "第二件：路灯坏了", "第三件：路灯坏了"):
        issue = workflow.issue_submit(actor=resident, grid=territory["grid"].code, description=text)
        workflow.issue_classify(issue=issue, actor=community_staff, category="street-light-broken")
    assert [d.description for d in staff_decisions(limit=2)] == ["第二件：路灯坏了", "第三件：路灯坏了"]
