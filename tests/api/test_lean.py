"""The lean hot paths (issues/api/lean.py, config/api/renderers.py, orgs/auth_cache.py) answer what the serializers
answered, byte for byte, in a fixed number of queries, and the caches they stand on are forgotten when they must be.

The expected answers are built here the way the API built them before: IssueSerializer / IssueDetailSerializer over
issues.selectors' prefetched querysets, rendered by DRF's JSONRenderer. Run on SQLite and on PostgreSQL.
"""

import io
from http import HTTPStatus

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import connection
from django.test.utils import CaptureQueriesContext
from PIL import Image
from rest_framework.authtoken.models import Token
from rest_framework.renderers import JSONRenderer
from rest_framework.test import APIClient

from config.api.renderers import OrjsonRenderer
from issues import workflow
from issues.api.serializers import IssueDetailSerializer, IssueSerializer
from issues.models import Issue
from issues.photos import photo_add
from issues.selectors import issue_after_action_for_user, issue_get_for_user, issue_list_for_user
from orgs.models import Membership, Role
from tests.api.test_issues_support import REPORTER_PHONE, make_partner
from tests.factories import issue_in_status, member

pytestmark = pytest.mark.django_db


@pytest.fixture
def media_root(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "media"
    return settings.MEDIA_ROOT


def _png() -> SimpleUploadedFile:
    out = io.BytesIO()
    Image.new("RGB", (8, 6), (200, 30, 30)).save(out, "PNG")
    return SimpleUploadedFile("p.png", out.getvalue(), content_type="image/png")


def token_client(user) -> APIClient:
    """A client that signs in as a real caller does: with a token (the path the per-token cache serves)."""
    token, _ = Token.objects.get_or_create(user=user)
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {token.key}")
    return client


@pytest.fixture
def world(
    territory,
    other_territory,
    resident,
    other_resident,
    community_staff,
    other_community_staff,
    street_officer,
    chengguan_staff,
    shuiwu,
    shuiwu_staff,
    category,
    media_root,
):
    """Issues in every state, with and without category, point, building, photos, rating, returned and summoned
    departments, internal notes, submitted by residents, a partner app and nobody."""
    partner, raw = make_partner(area=territory["district"])
    building, grid = territory["building"], territory["grid"]
    common = {"triage": community_staff, "category": category, "handler": chengguan_staff}
    common |= {"reporter_phone": REPORTER_PHONE, "reporter_name": "刘洋"}
    issues = []
    for status in ("submitted", "classified", "dispatched", "in_progress", "resolved", "closed", "rejected"):
        issues.append(
            issue_in_status(
                status,
                reporter=resident,
                place=building if status != "dispatched" else grid,
                **common,
            )
        )
    # A point, a title, an address, urgent; escalated with a summoned department, internal note and a comment.
    rich = workflow.issue_submit(
        actor=other_resident,
        description="路灯不亮，晚上看不清路\u2028第二行",
        title="路灯",
        address="金东南路 12 号",
        urgent=True,
        lat=25.8312345678,
        lng=114.9456789,
        grid=grid.code,
        reporter_phone="13900001111",
    )
    rich = workflow.issue_classify(issue=rich, actor=community_staff, category=category)
    rich = workflow.issue_dispatch(issue=rich, actor=community_staff, departments=[category.department])
    rich = workflow.issue_escalate(issue=rich, actor=street_officer, departments=[shuiwu])
    workflow.issue_comment(issue=rich, actor=community_staff, text="内部备注", internal=True)
    workflow.issue_comment(issue=rich, actor=other_resident, text="还是不亮")
    photo_add(issue=rich, actor=other_resident, files=[_png(), _png()])
    issues.append(rich)
    # A department returned it: its dispatch is inactive, the issue is back with triage.
    returned = issue_in_status("dispatched", reporter=resident, place=grid, **common)
    workflow.issue_return(issue=returned, actor=chengguan_staff, reason="不归我们管")
    issues.append(returned)
    # Seen by a department that no longer handles it: the reporter masked, in the rows and in the events.
    assert issue_list_for_user(user=chengguan_staff).filter(pk=returned.pk).exists()
    # A rated issue reopened by a low score: two ratings, the latest shown.
    low = issue_in_status("resolved", reporter=resident, place=grid, **common)
    workflow.issue_rate(issue=low, actor=resident, score=2)
    issues.append(low)
    # A partner's report and an anonymous one; one in another community (out of community_staff's scope).
    issues.append(
        workflow.issue_submit(
            actor=partner.user, description="合作方上报：井盖缺失", grid=grid.code, reporter_phone=REPORTER_PHONE
        )
    )
    issues.append(
        workflow.issue_submit(
            actor=None, description="匿名上报：噪音扰民", grid=grid.code, reporter_phone="13700000000"
        )
    )
    issues.append(
        workflow.issue_submit(
            actor=resident, description="别的社区的事", grid=other_territory["grid"].code, reporter_phone=REPORTER_PHONE
        )
    )
    return {"issues": issues, "partner": partner, "raw": raw}


def _expected_page(response, user, serializer=IssueSerializer) -> list:
    """IssueSerializer's rows for the ids of `response`'s page, in its order, as the API built them before."""
    request = response.renderer_context["request"]
    ids = [row["id"] for row in response.json()["results"]]
    by_id = {str(i.pk): i for i in issue_list_for_user(user=user).filter(pk__in=ids)}
    return [serializer(by_id[pk], context={"request": request}).data for pk in ids]


def _old_render(data) -> bytes:
    return JSONRenderer().render(data)


def _ordered_ids(user, ordering=("-created_at", "-id")) -> list[str]:
    return [str(pk) for pk in issue_list_for_user(user=user).order_by(*ordering).values_list("pk", flat=True)]


VIEWERS = [
    "resident",
    "other_resident",
    "community_staff",
    "other_community_staff",
    "street_officer",
    "district_admin",
    "chengguan_staff",
    "shuiwu_staff",
    "grid_worker",
]


@pytest.mark.parametrize("who", VIEWERS)
def test_every_list_page_is_the_serializer_answer_byte_for_byte(world, request, who):
    user = request.getfixturevalue(who)
    client = token_client(user)
    seen, url = [], "/api/v1/issues/?page_size=3"
    while url:
        response = client.get(url)
        assert response.status_code == HTTPStatus.OK, response.content
        body = response.json()
        expected = {"next": body["next"], "previous": body["previous"], "results": _expected_page(response, user)}
        assert response.content == _old_render(expected)
        seen += [row["id"] for row in body["results"]]
        url = body["next"]
    # Scoping unchanged: every page together is the caller's issues, newest first.
    assert seen == _ordered_ids(user)


def test_the_partner_app_reads_its_list_as_before(world):
    partner = world["partner"]
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Api-Key {world['raw']}")
    response = client.get("/api/v1/issues/")
    assert response.status_code == HTTPStatus.OK
    rows = response.json()["results"]
    assert len(rows) == 1 and rows[0]["reporter"]["phone"] == REPORTER_PHONE  # its own report, unmasked
    assert response.content == _old_render(
        {"next": None, "previous": None, "results": _expected_page(response, partner.user)}
    )


@pytest.mark.parametrize("ordering", ["resolution_due_at", "-resolution_due_at", "created_at"])
def test_other_orderings_and_filters_page_as_before(world, street_officer, ordering):
    client = token_client(street_officer)
    url = f"/api/v1/issues/?page_size=2&ordering={ordering}"
    pages = 0
    while url:
        response = client.get(url)
        assert response.status_code == HTTPStatus.OK, response.content
        body = response.json()
        expected = {
            "next": body["next"],
            "previous": body["previous"],
            "results": _expected_page(response, street_officer),
        }
        assert response.content == _old_render(expected)
        url, pages = body["next"], pages + 1
    assert pages > 3
    response = client.get("/api/v1/issues/?status=dispatched&urgent=true")
    assert [r["id"] for r in response.json()["results"]] == [
        str(i.pk) for i in issue_list_for_user(user=street_officer).filter(status="dispatched", urgent=True)
    ]


@pytest.mark.parametrize("who", VIEWERS)
def test_every_detail_is_the_serializer_answer_byte_for_byte(world, request, who):
    user = request.getfixturevalue(who)
    client = token_client(user)
    visible = set(_ordered_ids(user))
    for issue in world["issues"]:
        response = client.get(f"/api/v1/issues/{issue.pk}/")
        if str(issue.pk) not in visible:
            assert response.status_code == HTTPStatus.NOT_FOUND
            continue
        assert response.status_code == HTTPStatus.OK
        expected = IssueDetailSerializer(
            issue_get_for_user(user=user, issue_id=issue.pk), context={"request": response.renderer_context["request"]}
        ).data
        assert response.content == _old_render(expected)


def test_a_malformed_id_is_not_found(world, resident):
    assert token_client(resident).get("/api/v1/issues/not-a-uuid/").status_code == HTTPStatus.NOT_FOUND


SUBMITTERS = ["resident", "community_staff", "street_officer", "chengguan_staff", "anonymous"]


@pytest.mark.parametrize("who", SUBMITTERS)
@pytest.mark.parametrize("body", ["plain", "rich"])
def test_create_answers_from_memory_what_reading_it_back_answered(territory, category, request, who, body):
    user = None if who == "anonymous" else request.getfixturevalue(who)
    client = APIClient() if user is None else token_client(user)
    data = {"description": "楼道里堆满了旧家具，挡住了消防通道", "grid": territory["grid"].code}
    data["reporter"] = {"name": "刘洋", "phone": REPORTER_PHONE}
    if body == "rich":
        data |= {"title": "堆物", "urgent": True, "location": {"lat": 25.83, "lng": 114.96}, "address": "12 号"}
        data |= {"category": category.code, "building": territory["building"].code}
    if user is not None and user.username.startswith(("community", "street", "chengguan")):
        data["channel"] = "on_behalf" if who != "chengguan_staff" else "web"
    response = client.post("/api/v1/issues/", data, format="json")
    assert response.status_code == HTTPStatus.CREATED, response.content
    fresh, _ = issue_after_action_for_user(user=user, issue_id=response.json()["id"])
    expected = IssueSerializer(fresh, context={"request": response.renderer_context["request"]}).data
    assert response.json() == expected, (who, body)
    assert response.content == _old_render(expected)


def test_create_with_photos_and_a_replay_answer_as_before(territory, resident, media_root):
    client = token_client(resident)
    data = {"description": "楼道里堆满了旧家具，挡住了消防通道", "grid": territory["grid"].code, "photos": [_png()]}
    first = client.post("/api/v1/issues/", data, format="multipart", HTTP_IDEMPOTENCY_KEY="k-1")
    assert first.status_code == HTTPStatus.CREATED, first.content
    fresh, _ = issue_after_action_for_user(user=resident, issue_id=first.json()["id"])
    expected = IssueSerializer(fresh, context={"request": first.renderer_context["request"]}).data
    assert len(expected["photos"]) == 1
    assert first.content == _old_render(expected)
    data["photos"] = [_png()]
    again = client.post("/api/v1/issues/", data, format="multipart", HTTP_IDEMPOTENCY_KEY="k-1")
    assert again["Idempotent-Replayed"] == "true"
    assert again.content == first.content


def test_the_orjson_renderer_writes_what_drf_writes():
    from datetime import UTC, date, datetime
    from decimal import Decimal
    from uuid import uuid4

    from django.utils.translation import gettext_lazy

    data = {
        "text": '中文 \u2028 \u2029 "quoted" \\ </script>',
        "n": [0, -1, 2**62, 1.5, 25.8312345678, None, True, False],
        "when": datetime(2026, 1, 2, 3, 4, 5, 678901, tzinfo=UTC),
        "day": date(2026, 1, 2),
        "id": uuid4(),
        "lazy": gettext_lazy("submitted"),
        "money": Decimal("1.10"),
        "nested": {"a": [{"b": {}}], "empty": []},
    }
    assert OrjsonRenderer().render(data) == JSONRenderer().render(data)
    assert OrjsonRenderer().render({1: "int key"}) == JSONRenderer().render({1: "int key"})


# --- Queries ---------------------------------------------------------------------------------------------------


def _queries(client, url, method="get", **kwargs) -> tuple[int, object]:
    with CaptureQueriesContext(connection) as ctx:
        response = getattr(client, method)(url, **kwargs)
    assert response.status_code < 300, response.content
    return len(ctx.captured_queries), response


@pytest.mark.parametrize("who", ["street_officer", "chengguan_staff", "resident"])
def test_a_list_page_after_the_first_request_of_a_token_is_at_most_three_queries(world, request, who):
    client = token_client(request.getfixturevalue(who))
    first, _ = _queries(client, "/api/v1/issues/?page_size=2")
    second, response = _queries(client, "/api/v1/issues/?page_size=2")
    assert second <= 3
    assert second < first  # the token, its user and the scope came from the cache
    more, _ = _queries(client, "/api/v1/issues/?page_size=100")
    deep, _ = _queries(client, response.json()["next"] or "/api/v1/issues/?page_size=2")
    assert more == second and deep == second  # constant in the page's size and depth


def test_detail_and_create_queries_with_a_warm_token(world, community_staff, territory):
    client = token_client(community_staff)
    rich = world["issues"][7]
    client.get(f"/api/v1/issues/{rich.pk}/")
    detail, _ = _queries(client, f"/api/v1/issues/{rich.pk}/")
    assert detail <= 2  # the issue with its arrays, its events
    body = {"description": "楼道里堆满了旧家具，挡住了消防通道", "grid": territory["grid"].code}
    client.post("/api/v1/issues/", body, format="json")
    create, _ = _queries(client, "/api/v1/issues/", method="post", data=body, format="json")
    # Before: 16 (three to authenticate, four to read the issue back); the rest is the workflow's own writes,
    # the statistics rollup's refresh of the new issue among them (issues.rollups, in the event's transaction).
    assert create <= 12  # PostgreSQL also locks the issue row for the rollup (SQLite: 11)


# --- Caches forgotten ------------------------------------------------------------------------------------------


def test_a_removed_membership_shrinks_the_scope_at_once(world, community_staff):
    client = token_client(community_staff)
    assert len(client.get("/api/v1/issues/?page_size=100").json()["results"]) > 1
    Membership.objects.filter(user=community_staff).delete()
    rows = client.get("/api/v1/issues/?page_size=100").json()["results"]
    assert rows == []  # community staff report nothing themselves


def test_a_granted_membership_widens_the_scope_at_once(world, other_community_staff, territory):
    client = token_client(other_community_staff)
    before = len(client.get("/api/v1/issues/?page_size=100").json()["results"])
    member(other_community_staff, Role.COMMUNITY_STAFF, area=territory["community"])
    after = len(client.get("/api/v1/issues/?page_size=100").json()["results"])
    assert after > before


def test_a_deleted_token_is_refused_at_once(world, resident):
    client = token_client(resident)
    assert client.get("/api/v1/issues/").status_code == HTTPStatus.OK
    Token.objects.filter(user=resident).delete()
    assert client.get("/api/v1/issues/").status_code == HTTPStatus.UNAUTHORIZED


def test_a_password_change_refuses_the_token_at_once(world, resident):
    client = token_client(resident)
    assert client.get("/api/v1/issues/").status_code == HTTPStatus.OK
    resident.set_password("a new password 123")
    resident.save()
    assert client.get("/api/v1/issues/").status_code == HTTPStatus.UNAUTHORIZED


def test_a_deactivated_user_is_refused_at_once(world, resident):
    client = token_client(resident)
    assert client.get("/api/v1/issues/").status_code == HTTPStatus.OK
    resident.is_active = False
    resident.save(update_fields=["is_active"])
    assert client.get("/api/v1/issues/").status_code == HTTPStatus.UNAUTHORIZED


def test_a_revoked_partner_key_is_refused_at_once(world):
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Api-Key {world['raw']}")
    assert client.get("/api/v1/issues/").status_code == HTTPStatus.OK
    client.get("/api/v1/issues/")
    world["partner"].api_keys.get().revoke()
    assert client.get("/api/v1/issues/").status_code == HTTPStatus.UNAUTHORIZED


def test_a_deactivated_partner_app_is_refused_at_once(world):
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Api-Key {world['raw']}")
    assert client.get("/api/v1/issues/").status_code == HTTPStatus.OK
    partner = world["partner"]
    partner.is_active = False
    partner.save()
    assert client.get("/api/v1/issues/").status_code == HTTPStatus.UNAUTHORIZED


def test_a_partner_key_is_read_from_the_cache_after_its_first_use(world):
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Api-Key {world['raw']}")
    client.get("/api/v1/issues/")
    first, _ = _queries(client, "/api/v1/issues/")
    assert first <= 3


def test_without_the_cache_every_request_reads_the_database(world, resident, settings):
    settings.GRIDDESK_AUTH_CACHE_SECONDS = 0
    client = token_client(resident)
    client.get("/api/v1/issues/")
    uncached, _ = _queries(client, "/api/v1/issues/")
    settings.GRIDDESK_AUTH_CACHE_SECONDS = 300
    client.get("/api/v1/issues/")
    cached, _ = _queries(client, "/api/v1/issues/")
    assert cached < uncached
    Token.objects.filter(user=resident).delete()
    assert client.get("/api/v1/issues/").status_code == HTTPStatus.UNAUTHORIZED


def test_a_cache_that_does_not_answer_falls_back_to_the_database(world, resident, monkeypatch):
    from redis.exceptions import ConnectionError as RedisConnectionError

    from orgs import auth_cache

    client = token_client(resident)
    assert client.get("/api/v1/issues/").status_code == HTTPStatus.OK

    class Down:
        def __getattr__(self, name):
            def fail(*args, **kwargs):
                raise RedisConnectionError("down")

            return fail

    monkeypatch.setattr(auth_cache, "cache", Down())
    assert client.get("/api/v1/issues/").status_code == HTTPStatus.OK
    Token.objects.filter(user=resident).delete()
    assert client.get("/api/v1/issues/").status_code == HTTPStatus.UNAUTHORIZED


def test_the_issue_serializer_fields_are_the_lean_fields():
    """A field added to IssueSerializer must be added to issues/api/lean.py (the comparisons above show how)."""
    from issues.api.lean import Representer

    issue = Issue(number="X", status="submitted", kind="complaint", description="d", version=1, channel="web")
    assert list(Representer(None).issue(issue)) == IssueSerializer.Meta.fields
