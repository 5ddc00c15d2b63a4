"""Open311 GeoReport v2 under /open311/v2/: every endpoint in JSON and XML, errors in the spec's shape."""

import xml.etree.ElementTree as ET
from datetime import timedelta
from http import HTTPStatus

import pytest
from django.utils import timezone

from issues.models import Issue
from issues.photos import photo_add
from issues.workflow import issue_classify, issue_comment, issue_dispatch, issue_reject, issue_submit
from tests.factories import CategoryFactory

from .conftest import REPORTER_PHONE

BASE = "/open311/v2"


def xml_of(response) -> ET.Element:
    assert response["Content-Type"].startswith("text/xml")
    assert response.content.startswith(b'<?xml version="1.0" encoding="UTF-8"?>')
    return ET.fromstring(response.content)


def assert_error(response, status: int, contains: str):
    """Assert GeoReport's error shape, [{"code", "description"}], with `contains` in a description."""
    assert response.status_code == status
    body = response.json()
    assert [e["code"] for e in body] == [status] * len(body)
    assert any(contains in e["description"] for e in body), body


# --- discovery ------------------------------------------------------------------------------------------------


def test_discovery_json_names_this_endpoint_and_both_formats(client, db):
    response = client.get(f"{BASE}/discovery.json")

    assert response.status_code == HTTPStatus.OK
    assert response["Content-Type"].startswith("application/json")
    [endpoint] = response.json()["endpoints"]
    assert endpoint["specification"] == "http://wiki.open311.org/GeoReport_v2"
    assert endpoint["url"] == "http://testserver/open311/v2/"
    assert endpoint["formats"] == ["text/xml", "application/json"]
    assert {"changeset", "contact", "key_service"} <= set(response.json())


def test_discovery_xml(client, db):
    root = xml_of(client.get(f"{BASE}/discovery.xml"))

    assert root.tag == "discovery"
    assert root.findtext("endpoints/endpoint/specification") == "http://wiki.open311.org/GeoReport_v2"
    assert [f.text for f in root.findall("endpoints/endpoint/formats/format")] == ["text/xml", "application/json"]


def test_unknown_format_is_not_an_endpoint(client, db):
    assert client.get(f"{BASE}/services.csv").status_code == HTTPStatus.NOT_FOUND


# --- services -------------------------------------------------------------------------------------------------


def test_services_json_lists_leaf_categories_with_metadata_flag(client, category, leak_service):
    CategoryFactory(code="retired", name="停用", is_active=False)

    response = client.get(f"{BASE}/services.json")

    assert response.status_code == HTTPStatus.OK
    services = {s["service_code"]: s for s in response.json()}
    assert set(services) == {"stairwell", "water-leak"}  # the group "utilities" and the inactive one are not services
    assert services["water-leak"] == {
        "service_code": "water-leak",
        "service_name": "漏水",
        "description": "漏水 (水务)",
        "metadata": True,
        "type": "realtime",
        "keywords": "complaint",
        "group": "水电气",
    }
    assert services["stairwell"]["metadata"] is False


def test_services_xml(client, category, leak_service):
    root = xml_of(client.get(f"{BASE}/services.xml"))

    assert root.tag == "services"
    leak = next(s for s in root.findall("service") if s.findtext("service_code") == "water-leak")
    assert (leak.findtext("metadata"), leak.findtext("type"), leak.findtext("group")) == ("true", "realtime", "水电气")


def test_unknown_jurisdiction_is_refused(client, category):
    assert_error(client.get(f"{BASE}/services.json?jurisdiction_id=999999"), 400, "jurisdiction_id")


def test_service_definition_json(client, leak_service):
    response = client.get(f"{BASE}/services/water-leak.json")

    assert response.status_code == HTTPStatus.OK
    body = response.json()
    assert body["service_code"] == "water-leak"
    floor, severity = body["attributes"]
    assert floor == {
        "variable": True,
        "code": "floor",
        "datatype": "number",
        "required": True,
        "datatype_description": "",
        "order": 1,
        "description": "楼层",
        "values": [],
    }
    assert severity["values"] == [{"key": "minor", "name": "轻微"}, {"key": "major", "name": "严重"}]


def test_service_definition_xml(client, leak_service):
    root = xml_of(client.get(f"{BASE}/services/water-leak.xml"))

    assert root.tag == "service_definition"
    attributes = root.findall("attributes/attribute")
    assert [a.findtext("code") for a in attributes] == ["floor", "severity"]
    assert attributes[0].findtext("required") == "true"
    assert [v.findtext("key") for v in attributes[1].findall("values/value")] == ["minor", "major"]


def test_unknown_service_definition_is_404_in_both_formats(client, db):
    assert_error(client.get(f"{BASE}/services/nope.json"), 404, "service_code nope was not found")

    response = client.get(f"{BASE}/services/nope.xml")
    assert response.status_code == HTTPStatus.NOT_FOUND
    root = xml_of(response)
    assert root.tag == "errors"
    assert root.findtext("error/code") == "404"
    assert "nope" in root.findtext("error/description")


# --- POST requests --------------------------------------------------------------------------------------------


def post_fields(key, territory, **overrides):
    fields = {
        "api_key": key,
        "service_code": "water-leak",
        "address_id": territory["building"].code,
        "description": "厨房天花板一直滴水",
        "first_name": "德华",
        "last_name": "刘",
        "phone": REPORTER_PHONE,
        "email": "liu@example.test",
        "attribute[floor]": "3",
        "attribute[severity]": "major",
    }
    fields.update(overrides)
    return {k: v for k, v in fields.items() if v is not None}


def test_post_creates_an_issue_through_the_workflow(client, api_key, partner, territory, leak_service):
    response = client.post(f"{BASE}/requests.json", post_fields(api_key, territory))

    assert response.status_code == HTTPStatus.CREATED
    [created] = response.json()
    issue = Issue.objects.get(number=created["service_request_id"])
    assert set(created) == {"service_request_id", "service_notice", "account_id"}
    assert (issue.status, issue.reporter_user, issue.category) == ("submitted", partner[0].user, leak_service)
    assert (issue.building, issue.grid) == (territory["building"], territory["grid"])
    assert (issue.reporter_name, issue.reporter_phone) == ("刘德华", REPORTER_PHONE)
    assert issue.description == "厨房天花板一直滴水\n\n楼层: 3\n严重程度: 严重"
    assert list(issue.events.values_list("action", flat=True)) == ["submit"]


def test_post_with_lat_long_is_routed_to_the_grid(client, api_key, territory, leak_service):
    fields = post_fields(api_key, territory, address_id=None, lat="25.825", long="114.955", address_string="3栋")

    response = client.post(f"{BASE}/requests.json", fields)

    assert response.status_code == HTTPStatus.CREATED
    issue = Issue.objects.get(number=response.json()[0]["service_request_id"])
    assert (issue.grid, issue.building, issue.lat, issue.lng, issue.address) == (
        territory["grid"],
        None,
        25.825,
        114.955,
        "3栋",
    )


def test_post_xml_answers_in_xml(client, api_key, territory, leak_service):
    response = client.post(f"{BASE}/requests.xml", post_fields(api_key, territory))

    assert response.status_code == HTTPStatus.CREATED
    root = xml_of(response)
    assert root.tag == "service_requests"
    number = root.findtext("request/service_request_id")
    assert Issue.objects.filter(number=number).exists()


@pytest.mark.parametrize(
    ("overrides", "status", "contains"),
    [
        ({"api_key": None}, 403, "api_key is required"),
        ({"api_key": "deadbeef.not-a-key"}, 403, "api_key is not valid"),
        ({"service_code": "nope"}, 400, "service_code nope was not found"),
        ({"service_code": None}, 400, "service_code is required"),
        ({"attribute[floor]": None}, 400, "attribute[floor] is required"),
        ({"attribute[floor]": "third"}, 400, "attribute[floor] must be a number"),
        ({"attribute[severity]": "apocalyptic"}, 400, "apocalyptic is not one of minor, major"),
        ({"phone": None}, 400, "phone:"),
        ({"service_code": "stairwell", "description": "漏"}, 400, "description:"),
        ({"address_id": "360702091005001999"}, 400, "address_id:"),
        ({"address_id": None, "address_string": "某小区3栋"}, 400, "address_string alone"),
        ({"address_id": None, "lat": "40.0", "long": "116.4"}, 400, "lat/long:"),
        ({"jurisdiction_id": "999999"}, 400, "jurisdiction_id 999999 was not found"),
    ],
    ids=[
        "no-key",
        "bad-key",
        "unknown-service",
        "no-service",
        "missing-attribute",
        "bad-number",
        "bad-list-value",
        "no-phone",
        "short-description",
        "unknown-building",
        "address-only",
        "outside-every-grid",
        "unknown-jurisdiction",
    ],
)
def test_post_refused_creates_nothing(client, api_key, territory, category, leak_service, overrides, status, contains):
    response = client.post(f"{BASE}/requests.json", post_fields(api_key, territory, **overrides))

    assert_error(response, status, contains)
    assert Issue.objects.count() == 0


def test_post_refused_answers_xml_errors(client, api_key, territory, leak_service):
    response = client.post(f"{BASE}/requests.xml", post_fields(api_key, territory, **{"attribute[floor]": None}))

    assert response.status_code == HTTPStatus.BAD_REQUEST
    root = xml_of(response)
    assert root.tag == "errors"
    assert root.findtext("error/code") == "400"
    assert "attribute[floor] is required" in root.findtext("error/description")
    assert Issue.objects.count() == 0


def test_revoked_key_is_refused(client, partner, territory, leak_service):
    partner[0].api_keys.get().revoke()

    assert_error(client.post(f"{BASE}/requests.json", post_fields(partner[1], territory)), 403, "api_key is not valid")
    assert Issue.objects.count() == 0


def test_put_is_not_allowed(client, api_key, db):
    assert_error(client.put(f"{BASE}/requests.json"), 405, "PUT")


# --- GET requests ---------------------------------------------------------------------------------------------


def handle(issue, *, community_staff, category, note="请城管处理"):
    """Classify and dispatch `issue` to its category's department (the lead)."""
    issue = issue_classify(issue=issue, actor=community_staff, category=category)
    return issue_dispatch(issue=issue, actor=community_staff, departments=[category.department], note=note)


def test_get_requests_with_key_lists_only_the_partners_own(client, api_key, partner_issue, resident_issue):
    response = client.get(f"{BASE}/requests.json", {"api_key": api_key})

    assert response.status_code == HTTPStatus.OK
    assert [r["service_request_id"] for r in response.json()] == [partner_issue.number]


def test_request_shows_status_agency_notes_deadline_and_photo(
    client, api_key, partner, partner_issue, community_staff, category, chengguan, settings, tmp_path
):
    settings.MEDIA_ROOT = tmp_path
    handle(partner_issue, community_staff=community_staff, category=category)
    issue_comment(issue=partner_issue, actor=community_staff, text="内部：物业电话未接", internal=True)
    photo_add(issue=partner_issue, actor=partner[0].user, files=[_jpeg_upload()])
    partner_issue.refresh_from_db()

    [body] = client.get(f"{BASE}/requests/{partner_issue.number}.json", {"api_key": api_key}).json()

    assert body["service_request_id"] == partner_issue.number
    assert (body["status"], body["status_notes"], body["agency_responsible"]) == ("open", "请城管处理", "城管")
    assert (body["service_code"], body["service_name"]) == ("stairwell", "楼道堆物")
    assert body["expected_datetime"] == timezone.localtime(partner_issue.resolution_due_at).isoformat(
        timespec="seconds"
    )
    assert body["requested_datetime"].endswith("+08:00")
    assert body["address_id"] == partner_issue.building_code
    assert (body["lat"], body["long"]) == (25.825, 114.955)  # the building's point
    assert body["media_url"].startswith("http://testserver/media/issues/")
    assert body["description"] == "三单元楼道堆满纸箱，堵住了消防通道"


def test_request_xml(client, api_key, partner_issue):
    root = xml_of(client.get(f"{BASE}/requests/{partner_issue.number}.xml", {"api_key": api_key}))

    assert root.tag == "service_requests"
    assert root.findtext("request/service_request_id") == partner_issue.number
    assert root.findtext("request/status") == "open"
    assert root.findtext("request/agency_responsible") == ""


def test_public_reads_carry_no_personal_data(client, partner_issue, resident_issue, community_staff, category):
    spam = issue_submit(
        actor=resident_issue.reporter_user, description="广告广告广告", building=resident_issue.building_code
    )
    issue_reject(issue=spam, actor=community_staff, reason="invalid")
    unseen = issue_submit(
        actor=resident_issue.reporter_user, description="还没人看过的报告", building=resident_issue.building_code
    )
    for issue in (partner_issue, resident_issue):
        issue_classify(issue=issue, actor=community_staff, category=category)

    response = client.get(f"{BASE}/requests.json")

    assert response.status_code == HTTPStatus.OK
    numbers = {r["service_request_id"] for r in response.json()}
    # Not the rejected one, not the one staff have not seen yet (issues.publicity).
    assert numbers == {partner_issue.number, resident_issue.number}
    assert unseen.number not in numbers
    text = response.content.decode()
    for personal in ("刘德华", "张三", REPORTER_PHONE, "13987654321", "139 8765 4321", "partner_demo", "resident"):
        assert personal not in text
    lamp = next(r for r in response.json() if r["service_request_id"] == resident_issue.number)
    assert lamp["description"] == "路灯坏了，请联系我 139****4321"


def test_status_maps_to_open_and_closed(client, api_key, partner_issue, partner, territory, community_staff, category):
    other = issue_submit(
        actor=partner[0].user,
        description="重复的楼道堆物报告",
        building=territory["building"].code,
        reporter_phone=REPORTER_PHONE,
    )
    issue_reject(issue=other, actor=community_staff, reason="duplicate", duplicate_of=partner_issue)

    def numbers(**params):
        response = client.get(f"{BASE}/requests.json", {"api_key": api_key, **params})
        return {r["service_request_id"]: r["status"] for r in response.json()}

    assert numbers() == {partner_issue.number: "open", other.number: "closed"}
    assert numbers(status="open") == {partner_issue.number: "open"}
    assert numbers(status="closed") == {other.number: "closed"}
    assert numbers(status="open,closed") == numbers()


def test_filters_by_id_list_service_code_and_dates(client, api_key, partner, partner_issue, territory, leak_service):
    leak = issue_submit(
        actor=partner[0].user,
        description="厨房天花板一直滴水",
        building=territory["building"].code,
        category=leak_service,
        reporter_phone=REPORTER_PHONE,
    )
    old = issue_submit(
        actor=partner[0].user,
        description="去年的楼道堆物",
        building=territory["building"].code,
        reporter_phone=REPORTER_PHONE,
    )
    long_ago = timezone.now() - timedelta(days=120)
    Issue.objects.filter(pk=old.pk).update(created_at=long_ago)

    def numbers(**params):
        response = client.get(f"{BASE}/requests.json", {"api_key": api_key, **params})
        assert response.status_code == HTTPStatus.OK, response.content
        return {r["service_request_id"] for r in response.json()}

    assert numbers() == {partner_issue.number, leak.number}  # the last 90 days by default
    assert numbers(service_code="water-leak") == {leak.number}
    assert numbers(service_code="water-leak,stairwell") == {partner_issue.number, leak.number}
    # service_request_id overrides the other filters, the date range included.
    assert numbers(service_request_id=f"{old.number},{leak.number}", service_code="stairwell") == {
        old.number,
        leak.number,
    }
    start = (long_ago - timedelta(days=1)).isoformat()
    end = (long_ago + timedelta(days=1)).isoformat()
    assert numbers(start_date=start, end_date=end) == {old.number}
    assert numbers(start_date=timezone.localdate().isoformat()) == {partner_issue.number, leak.number}


@pytest.mark.parametrize(
    ("params", "contains"),
    [
        ({"status": "pending"}, "status must be open, closed"),
        ({"start_date": "yesterday"}, "start_date must be a W3C date-time"),
        ({"start_date": "2026-01-01T00:00:00Z", "end_date": "2026-06-01T00:00:00Z"}, "more than 90 days"),
        ({"start_date": "2026-06-01T00:00:00Z", "end_date": "2026-05-01T00:00:00Z"}, "before start_date"),
    ],
    ids=["status", "date", "range", "reversed"],
)
def test_bad_filters_are_refused(client, db, params, contains):
    assert_error(client.get(f"{BASE}/requests.json", params), 400, contains)


def test_invalid_key_on_a_read_is_refused_not_read_as_public(client, partner_issue):
    assert_error(client.get(f"{BASE}/requests.json", {"api_key": "nope"}), 403, "api_key is not valid")


def test_key_in_the_authorization_header_works_too(client, api_key, partner_issue, resident_issue):
    response = client.get(f"{BASE}/requests.json", headers={"Authorization": f"Api-Key {api_key}"})

    assert [r["service_request_id"] for r in response.json()] == [partner_issue.number]


def test_request_outside_the_partners_reach_is_404(client, api_key, resident_issue):
    assert_error(
        client.get(f"{BASE}/requests/{resident_issue.number}.json", {"api_key": api_key}), 404, "was not found"
    )


def test_unknown_request_is_404(client, db):
    assert_error(client.get(f"{BASE}/requests/GD-20260101-99999.json"), 404, "was not found")


# --- tokens ---------------------------------------------------------------------------------------------------


def test_token_maps_to_the_request_id_in_both_formats(client, api_key, partner_issue):
    [body] = client.get(f"{BASE}/tokens/{partner_issue.pk}.json", {"api_key": api_key}).json()
    assert body == {"service_request_id": partner_issue.number, "token": str(partner_issue.pk)}

    root = xml_of(client.get(f"{BASE}/tokens/{partner_issue.number}.xml", {"api_key": api_key}))
    assert root.findtext("request/service_request_id") == partner_issue.number


def test_unknown_token_is_404(client, db):
    assert_error(client.get(f"{BASE}/tokens/nope.json"), 404, "token nope was not found")


def _jpeg_upload():
    import io

    from django.core.files.uploadedfile import SimpleUploadedFile
    from PIL import Image

    out = io.BytesIO()
    Image.new("RGB", (16, 16), (10, 200, 10)).save(out, "JPEG")
    return SimpleUploadedFile("p.jpg", out.getvalue(), content_type="image/jpeg")


# --- keys and limits ------------------------------------------------------------------------------------------


def test_a_used_key_records_when(client, partner, partner_issue):
    app, api_key = partner

    client.get(f"{BASE}/requests.json", {"api_key": api_key})

    assert app.api_keys.get().last_used_at is not None


def test_throttled_answer_is_in_the_spec_shape_with_retry_after(client, category, settings):
    settings.REST_FRAMEWORK = {
        **settings.REST_FRAMEWORK,
        "DEFAULT_THROTTLE_RATES": {**settings.REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"], "anon": "2/min"},
    }
    for _ in range(2):
        assert client.get(f"{BASE}/services.json").status_code == HTTPStatus.OK

    response = client.get(f"{BASE}/services.json")

    assert_error(response, 429, "")  # the message is DRF's, in the request's language
    assert int(response["Retry-After"]) >= 1


def test_xml_stays_well_formed_with_control_characters_in_text(client, partner, territory, category):
    issue = issue_submit(
        actor=partner[0].user,
        description="楼道堆物\x01\x1b <b>&</b>",
        building=territory["building"].code,
        reporter_phone=REPORTER_PHONE,
    )

    root = xml_of(client.get(f"{BASE}/requests/{issue.number}.xml", {"api_key": partner[1]}))

    assert root.findtext("request/description") == "楼道堆物 <b>&</b>"


def test_listing_takes_the_same_queries_for_one_request_or_many(
    client, api_key, partner, territory, category, community_staff
):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    def submit():
        issue = issue_submit(
            actor=partner[0].user,
            description="楼道堆满纸箱",
            building=territory["building"].code,
            reporter_phone=REPORTER_PHONE,
        )
        handle(issue, community_staff=community_staff, category=category)

    def queries() -> int:
        with CaptureQueriesContext(connection) as captured:
            assert client.get(f"{BASE}/requests.json", {"api_key": api_key}).status_code == HTTPStatus.OK
        return len(captured)

    submit()
    queries()  # the first call also records the key's use
    one = queries()
    for _ in range(4):
        submit()

    assert queries() == one


def test_requests_xml_lists_each_request(client, partner_issue, resident_issue, community_staff, category):
    for issue in (partner_issue, resident_issue):
        issue_classify(issue=issue, actor=community_staff, category=category)
    root = xml_of(client.get(f"{BASE}/requests.xml"))

    assert root.tag == "service_requests"
    requests = root.findall("request")
    assert {r.findtext("service_request_id") for r in requests} == {partner_issue.number, resident_issue.number}
    assert {r.findtext("status") for r in requests} == {"open"}
    assert {r.findtext("lat") for r in requests} == {"25.825"}
