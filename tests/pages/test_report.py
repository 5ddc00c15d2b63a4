"""/report/ without a browser: who reports what, every bad input beside its field with the rest kept, photos kept
across a refused post, the anonymous throttle, reports on behalf and from patrol, the likely duplicates partial."""

import re
from http import HTTPStatus

import pytest
from django.core.cache import cache

from issues import workflow
from issues.models import Event, Issue, Photo
from issues.photo_stash import STASH_DIR
from orgs.models import Role
from tests.api.test_issues_support import png_file
from tests.factories import CategoryFactory, UserFactory, member

REPORT = "/report/"
DESCRIPTION = "楼道里堆满了旧家具，挡住了消防通道"
PHONE = "13812345678"


@pytest.fixture(autouse=True)
def media(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path
    return tmp_path


@pytest.fixture
def english(client):
    client.cookies["django_language"] = "en"
    return client


def body(territory, category, /, **changes) -> dict:
    data = {
        "kind": "complaint",
        "category": category.code,
        "description": DESCRIPTION,
        "grid": territory["grid"].code,
        "address": "金东南路 12 号 3 栋",
        "phone": PHONE,
        "name": "刘洋",
    }
    data.update(changes)
    return {k: v for k, v in data.items() if v is not None}


def token_of(html: str) -> str:
    match = re.search(r'name="photo_token" value="([^"]*)"', html)
    return match.group(1) if match else ""


def stash_files(media) -> list:
    return [p for p in (media / STASH_DIR).rglob("*") if p.is_file()] if (media / STASH_DIR).exists() else []


def test_the_form_labels_its_fields_in_english_and_groups_categories_and_grids(english, territory, category):
    html = english.get(REPORT).content.decode()

    for label in ["Kind", "Category", "Description", "Photos", "Urgent", "Latitude", "Longitude", "Grid"]:
        assert re.search(rf"<label[^>]*>{label}</label>", html), label
    for label in ["Building", "Address", "Name", "Phone"]:
        assert re.search(rf"<label[^>]*>{label}</label>", html), label
    assert re.search(r"<button[^>]*type=\"submit\"[^>]*>Submit</button>", html)
    # Categories grouped by their top category, the handling department in the option text.
    assert f'<optgroup label="{category.name}">' in html
    assert f'<option value="{category.code}">{category.name} · 城管</option>' in html
    # Grids grouped by community, the option values the grid codes.
    assert f'<optgroup label="{territory["community"].name}">' in html
    assert f'<option value="{territory["grid"].code}">{territory["grid"].name}</option>' in html
    assert 'name="channel"' not in html  # a visitor reports for themselves


def test_the_form_speaks_chinese_by_default(client, territory, category):
    html = client.get(REPORT).content.decode()

    assert "我要反映" in html and "提交" in html and "纬度" in html and "电话" in html


def test_an_anonymous_visitor_reports_by_grid_and_gets_the_number(client, territory, category):
    response = client.post(REPORT, body(territory, category))

    assert response.status_code == HTTPStatus.FOUND
    assert response["Location"] == "/report/sent/"
    issue = Issue.objects.get()
    assert (issue.grid, issue.category, issue.channel) == (territory["grid"], category, Issue.Channel.WEB)
    assert (issue.reporter_user, issue.reporter_name, issue.reporter_phone) == (None, "刘洋", PHONE)
    page = client.get("/report/sent/").content.decode()
    assert issue.number in page
    # A visitor has no account to see /issues/<number>/ with: the link is the page /follow/ opens, granted already.
    assert f'href="/follow/{issue.number}/"' in page
    followed = client.get(f"/follow/{issue.number}/")
    assert followed.status_code == HTTPStatus.OK
    assert DESCRIPTION in followed.content.decode()


def test_a_resident_reports_their_own_with_coordinates_and_a_photo(client, territory, category, resident):
    client.force_login(resident)
    data = body(territory, category, grid=None, phone=None, name=None, lat="25.825", lng="114.955")

    response = client.post(REPORT, {**data, "photos": [png_file()]})

    assert response.status_code == HTTPStatus.FOUND
    issue = Issue.objects.get()
    assert (issue.reporter_user, issue.grid, issue.lat) == (resident, territory["grid"], 25.825)
    assert Photo.objects.filter(issue=issue, uploaded_by=resident).count() == 1


def test_the_sent_page_without_a_report_goes_back_to_the_form(client):
    assert client.get("/report/sent/")["Location"] == REPORT


BAD_INPUTS = [
    ("description", {"description": "短"}),
    ("description", {"description": ""}),
    ("grid", {"grid": ""}),
    ("lng", {"grid": "", "lat": "25.825"}),
    ("lat", {"grid": "", "lat": "95", "lng": "114.955"}),
    ("lat", {"grid": "", "lat": "north", "lng": "114.955"}),
    ("lat", {"grid": "", "lat": "30.0", "lng": "120.0"}),  # no grid covers it: the workflow's refusal
    ("grid", {"grid": "360702091005999"}),
    ("building", {"building": "360702091001001001"}),
    ("phone", {"phone": ""}),
    ("phone", {"phone": "13x12345678"}),
    ("kind", {"kind": "rant"}),
    ("category", {"category": "no-such-category"}),
]


@pytest.mark.parametrize(("field", "change"), BAD_INPUTS)
def test_bad_input_is_refused_beside_its_field_and_everything_else_is_kept(
    english, territory, other_territory, category, field, change
):
    response = english.post(REPORT, body(territory, category, address="金东南路 12 号 3 栋", **change))

    assert response.status_code == HTTPStatus.BAD_REQUEST
    html = response.content.decode()
    error = re.search(rf'<p class="field-error" id="id_{field}-error">([^<]+)</p>', html)
    assert error, html[html.find("field-error") - 400 : html.find("field-error") + 400]
    assert re.search(rf'id="id_{field}"[^>]*aria-describedby="[^"]*id_{field}-error"', html) or re.search(
        rf'aria-describedby="[^"]*id_{field}-error"[^>]*id="id_{field}"', html
    )
    assert 'value="金东南路 12 号 3 栋"' in html  # the address typed is still there
    if field != "description":
        assert DESCRIPTION in html
    assert Issue.objects.count() == 0
    assert Event.objects.count() == 0


def test_a_workflow_refusal_shows_translated_beside_the_field(client, territory, category):
    response = client.post(REPORT, body(territory, category, grid="", lat="30.0", lng="120.0"))

    assert "该位置不在任何网格范围内。" in response.content.decode()


@pytest.mark.parametrize("count", [7])
def test_more_than_six_photos_is_refused_beside_photos(client, territory, category, count, media):
    files = [png_file(f"{i}.png", color=(i, 0, 0)) for i in range(count)]

    response = client.post(REPORT, {**body(territory, category), "photos": files})

    assert response.status_code == HTTPStatus.BAD_REQUEST
    assert 'id="id_photos-error"' in response.content.decode()
    assert Issue.objects.count() == 0


def test_a_file_that_is_no_photo_is_refused_by_name_and_the_good_photo_of_the_same_post_is_kept(
    client, territory, category, media
):
    fake = png_file("virus.png")
    fake.seek(0)
    fake.write(b"MZ this is not an image at all")
    fake.seek(0)

    response = client.post(REPORT, {**body(territory, category), "photos": [png_file("good.png"), fake]})

    html = response.content.decode()
    assert response.status_code == HTTPStatus.BAD_REQUEST
    error = re.search(r'<p class="field-error" id="id_photos-error">([^<]+)</p>', html).group(1)
    assert error == "virus.png 不是可接受的照片：请上传 JPEG、PNG 或 WebP 格式，每张不超过 10 MB。"
    assert DESCRIPTION in html
    assert html.count('src="data:image/jpeg;base64,') == 1  # good.png is kept
    assert Issue.objects.count() == 0

    client.post(REPORT, {**body(territory, category), "photo_token": token_of(html)})

    assert Photo.objects.filter(issue=Issue.objects.get()).count() == 1


def test_a_typo_in_the_phone_keeps_the_accepted_photo_until_the_report_is_sent(client, territory, category, media):
    refused = client.post(REPORT, {**body(territory, category, phone="1381234567x"), "photos": [png_file()]})

    html = refused.content.decode()
    assert refused.status_code == HTTPStatus.BAD_REQUEST
    assert 'id="id_phone-error"' in html
    token = token_of(html)
    assert token
    assert html.count('src="data:image/jpeg;base64,') == 1  # the kept photo is shown
    assert len(stash_files(media)) == 1

    sent = client.post(REPORT, {**body(territory, category), "photo_token": token})

    assert sent.status_code == HTTPStatus.FOUND
    issue = Issue.objects.get()
    assert Photo.objects.filter(issue=issue).count() == 1
    assert stash_files(media) == []  # stored on the issue now; the stash is gone


def test_a_second_refusal_keeps_the_photos_of_both_posts(client, territory, category, media):
    first = client.post(REPORT, {**body(territory, category, phone="x"), "photos": [png_file("a.png")]})
    second = client.post(
        REPORT,
        {
            **body(territory, category, phone="y"),
            "photo_token": token_of(first.content.decode()),
            "photos": [png_file("b.png", color=(0, 90, 200))],
        },
    )
    assert len(stash_files(media)) == 2  # one stash of both, the first one removed

    client.post(REPORT, {**body(territory, category), "photo_token": token_of(second.content.decode())})

    assert Photo.objects.filter(issue=Issue.objects.get()).count() == 2


def test_kept_and_new_photos_together_may_not_pass_six(client, territory, category):
    first = client.post(
        REPORT, {**body(territory, category, phone="x"), "photos": [png_file(f"{i}.png") for i in range(4)]}
    )
    response = client.post(
        REPORT,
        {
            **body(territory, category),
            "photo_token": token_of(first.content.decode()),
            "photos": [png_file(f"n{i}.png") for i in range(3)],
        },
    )

    assert response.status_code == HTTPStatus.BAD_REQUEST
    assert 'id="id_photos-error"' in response.content.decode()
    assert token_of(response.content.decode())  # the four kept ones are still kept
    assert Issue.objects.count() == 0


def test_a_forged_token_attaches_nothing(client, territory, category):
    response = client.post(REPORT, {**body(territory, category), "photo_token": "forged:token"})

    assert response.status_code == HTTPStatus.FOUND
    assert Photo.objects.count() == 0


def test_anonymous_reports_are_limited_by_the_api_throttle(client, territory, category, settings):
    rates = settings.REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"]
    settings.REST_FRAMEWORK = {**settings.REST_FRAMEWORK, "DEFAULT_THROTTLE_RATES": {**rates, "anon_create": "2/hour"}}
    cache.clear()
    # The API's counter and the page's are one: one API creation, one page report, then the page is refused.
    api = client.post(
        "/api/v1/issues/",
        {"description": DESCRIPTION, "grid": territory["grid"].code, "reporter": {"phone": PHONE}},
        content_type="application/json",
    )
    page = client.post(REPORT, body(territory, category))
    refused = client.post(REPORT, body(territory, category))

    assert (api.status_code, page.status_code) == (HTTPStatus.CREATED, HTTPStatus.FOUND)
    assert refused.status_code == HTTPStatus.TOO_MANY_REQUESTS
    assert int(refused["Retry-After"]) > 0
    assert DESCRIPTION in refused.content.decode()
    assert Issue.objects.count() == 2


# --- on behalf and patrol -------------------------------------------------------------------------------------------


@pytest.fixture
def building_leader(territory):
    return member(UserFactory(username="building_leader"), Role.BUILDING_LEADER, area=territory["building"])


def test_a_grid_worker_sees_the_choice_and_the_resident_fields(english, grid_worker, territory, category):
    english.force_login(grid_worker)
    html = english.get(REPORT).content.decode()

    assert 'name="channel"' in html and "For a resident" in html and "From my own patrol" in html
    assert 'name="phone"' in html


def test_a_resident_signed_in_gives_no_phone_and_no_channel(client, resident, territory, category):
    client.force_login(resident)
    html = client.get(REPORT).content.decode()

    assert 'name="channel"' not in html and 'name="phone"' not in html


def test_a_grid_worker_reports_on_behalf_of_a_resident(client, grid_worker, territory, category):
    client.force_login(grid_worker)

    response = client.post(REPORT, body(territory, category, channel="on_behalf", name="王芳", phone="13900001111"))

    assert response.status_code == HTTPStatus.FOUND
    issue = Issue.objects.get()
    assert (issue.channel, issue.reporter_name, issue.reporter_phone) == ("on_behalf", "王芳", "13900001111")
    assert Event.objects.get(issue=issue, action="submit").actor == grid_worker


def test_a_building_leader_reports_on_behalf_at_their_building(client, building_leader, territory, category):
    client.force_login(building_leader)
    data = body(territory, category, channel="on_behalf", building=territory["building"].code)

    assert client.post(REPORT, data).status_code == HTTPStatus.FOUND
    assert Issue.objects.get().channel == "on_behalf"


def test_on_behalf_needs_the_residents_name_and_phone(english, grid_worker, territory, category):
    english.force_login(grid_worker)

    response = english.post(REPORT, body(territory, category, channel="on_behalf", name="", phone=""))

    html = response.content.decode()
    assert response.status_code == HTTPStatus.BAD_REQUEST
    assert "Give the resident&#x27;s phone." in html and "Give the resident&#x27;s name." in html
    assert Issue.objects.count() == 0


def test_a_grid_worker_reports_from_patrol_without_a_resident(client, grid_worker, territory, category):
    client.force_login(grid_worker)

    response = client.post(REPORT, body(territory, category, channel="patrol", name="", phone=""))

    assert response.status_code == HTTPStatus.FOUND
    issue = Issue.objects.get()
    assert (issue.channel, issue.reporter_name, issue.reporter_phone, issue.reporter_user) == (
        "patrol",
        "",
        "",
        grid_worker,
    )


def test_on_behalf_outside_ones_own_place_is_refused_beside_the_choice(
    english, grid_worker, territory, other_territory, category
):
    english.force_login(grid_worker)

    response = english.post(REPORT, body(territory, category, channel="on_behalf", grid=other_territory["grid"].code))

    html = response.content.decode()
    assert response.status_code == HTTPStatus.BAD_REQUEST
    assert 'id="id_channel-error"' in html and "Only staff of this place report on a resident" in html
    assert Issue.objects.count() == 0


# --- likely duplicates ----------------------------------------------------------------------------------------------


def reported(territory, resident, category, **fields):
    return workflow.issue_submit(
        actor=resident, description="楼道堆满纸箱", grid=territory["grid"].code, category=category, **fields
    )


def test_the_duplicates_partial_lists_open_reports_of_the_category_near_the_point(
    client, territory, category, resident
):
    near = reported(territory, resident, category, lat=25.825, lng=114.955)
    other = CategoryFactory(code="burst-pipe", name="管道破裂")
    reported(territory, resident, other, lat=25.825, lng=114.955)

    html = client.get(
        "/report/duplicates/", {"category": category.code, "lat": "25.8251", "lng": "114.9551"}
    ).content.decode()

    assert html.count('class="item duplicate"') == 1
    assert near.number in html and "已提交" in html  # its status, in the reader's language
    assert f'href="/issues/{near.number}/"' in html
    assert near.description not in html  # only what is public of someone else's report


def test_the_duplicates_partial_uses_the_grid_when_no_point_is_given(client, territory, category, resident):
    issue = reported(territory, resident, category)

    html = client.get(
        "/report/duplicates/", {"category": category.code, "grid": territory["grid"].code}
    ).content.decode()

    assert issue.number in html


def test_the_duplicates_partial_without_a_category_lists_nothing(client, territory, category, resident):
    reported(territory, resident, category)

    html = client.get("/report/duplicates/", {"grid": territory["grid"].code}).content.decode()

    assert 'class="item duplicate"' not in html


def test_a_refused_post_shows_the_likely_duplicates_without_javascript(client, territory, category, resident):
    issue = reported(territory, resident, category)

    html = client.post(REPORT, body(territory, category, phone="")).content.decode()

    assert issue.number in html
