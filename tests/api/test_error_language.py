"""Error messages speak the reader's language; their codes and the error shapes do not change with it.

The API and Open311 answer in the language of `Accept-Language` (Django's LocaleMiddleware; without the header, the
site's language, Chinese). Messages are worded in English in the code and translated where they are shown
(config.errors.translate), so the same refusal reads the same in both languages' catalogues.
"""

import json
import uuid
from http import HTTPStatus

import pytest
from django.test import Client
from rest_framework.test import APIClient

from config.errors import Message, translate
from issues.models import Issue
from tests.api.test_errors import assert_error
from tests.api.test_issues_support import client_for, issue_in, make_partner, partner_client, submit_body

pytestmark = pytest.mark.django_db

EN, ZH = {"HTTP_ACCEPT_LANGUAGE": "en"}, {"HTTP_ACCEPT_LANGUAGE": "zh-hans"}
ISSUES = "/api/v1/issues/"


def both(call) -> tuple[dict, dict]:
    """Return the error bodies of `call(headers)` in English and in Chinese, after checking they share a shape."""
    en, zh = call(EN), call(ZH)
    assert en.status_code == zh.status_code
    assert "Accept-Language" in zh.get("Vary", "")
    return json.loads(en.content), json.loads(zh.content)


def test_a_workflow_refusal_on_a_field_is_in_chinese_with_the_same_code_and_field(territory, resident):
    client = client_for(resident)
    en, zh = both(lambda h: client.post(ISSUES, submit_body(territory, channel="hotline"), format="json", **h))

    assert en["error"]["code"] == zh["error"]["code"] == "validation_error"
    assert en["error"]["fields"] == {
        "channel": ["Only a hotline operator of this place or the hotline's system reports a hotline call."]
    }
    assert zh["error"]["fields"] == {"channel": ["只有本辖区的热线接线员或热线系统可以登记热线来电。"]}
    assert not Issue.objects.exists()


def test_a_serializer_refusal_is_in_chinese(territory, resident):
    client = client_for(resident)
    body = submit_body(territory)
    del body["grid"]
    en, zh = both(lambda h: client.post(ISSUES, body, format="json", **h))

    assert en["error"]["fields"] == {"location": ["Give a location, a building or a grid."]}
    assert zh["error"]["fields"] == {"location": ["请提供位置、楼栋或网格。"]}
    assert en["error"]["message"] == "Some fields are invalid."
    assert zh["error"]["message"] != en["error"]["message"]


def test_a_message_with_values_is_translated_with_its_values(territory, resident, community_staff):
    issue = issue_in("submitted", reporter=resident, territory=territory)
    client = client_for(community_staff)
    en, zh = both(lambda h: client.post(f"{ISSUES}{issue.pk}/resolve/", {"note": "已处理"}, format="json", **h))

    assert en["error"] == {"code": "invalid_transition", "message": "Cannot resolve an issue that is submitted."}
    assert zh["error"] == {"code": "invalid_transition", "message": "问题处于 submitted 状态，不能执行 resolve。"}


def test_not_found_is_in_chinese(resident):
    client = client_for(resident)
    en, zh = both(lambda h: client.get(f"{ISSUES}{uuid.uuid4()}/", **h))

    assert en["error"] == {"code": "not_found", "message": "Not found."}
    assert zh["error"]["code"] == "not_found"
    assert zh["error"]["message"] == "未找到。"


def test_an_unknown_url_under_the_api_is_not_found_in_chinese(db):
    en, zh = both(lambda h: Client().get("/api/v1/no-such-thing/", **h))

    assert en["error"] == {"code": "not_found", "message": "Not found."}
    assert zh["error"] == {"code": "not_found", "message": "未找到。"}


def test_permission_denied_is_in_chinese(resident):
    client = client_for(resident)
    en, zh = both(lambda h: client.get("/api/v1/stats/", **h))

    message = "Only staff with a territory role may read statistics."
    assert en["error"] == {"code": "permission_denied", "message": message}
    assert zh["error"] == {"code": "permission_denied", "message": "只有在辖区内任职的工作人员可以查看统计数据。"}


def test_a_bad_cursor_is_a_validation_error_on_cursor_in_chinese(resident):
    client = client_for(resident)
    en, zh = both(lambda h: client.get(ISSUES, {"cursor": "not-a-cursor"}, **h))

    message = "Invalid cursor: use the `next` or `previous` link of a page as it is."
    assert en["error"]["fields"] == {"cursor": [message]}
    assert zh["error"]["fields"] == {"cursor": ["游标无效：请原样使用分页结果中的 `next` 或 `previous` 链接。"]}
    assert en["error"]["code"] == zh["error"]["code"] == "validation_error"


def test_throttled_is_in_chinese_with_retry_after(settings, resident):
    settings.REST_FRAMEWORK = {
        **settings.REST_FRAMEWORK,
        "DEFAULT_THROTTLE_RATES": {**settings.REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"], "resident": "1/hour"},
    }
    client = client_for(resident)
    client.get("/api/v1/auth/me/")
    en, zh = client.get("/api/v1/auth/me/", **EN), client.get("/api/v1/auth/me/", **ZH)

    assert_error(en, HTTPStatus.TOO_MANY_REQUESTS, "throttled")
    assert_error(zh, HTTPStatus.TOO_MANY_REQUESTS, "throttled")
    assert en["Retry-After"] and zh["Retry-After"]
    assert en.json()["error"]["message"].startswith("Request was throttled.")
    assert zh.json()["error"]["message"].startswith("请求已被限流。")


def test_a_body_refused_before_it_is_read_is_in_the_requests_language(db):
    def post(headers):
        return Client().post(
            ISSUES, data="{}", content_type="application/json", CONTENT_LENGTH="99999999999", **headers
        )

    en, zh = both(post)
    assert en["error"]["code"] == zh["error"]["code"] == "payload_too_large"
    assert en["error"]["message"].startswith("The request body is 99999999999 bytes")
    assert zh["error"]["message"].startswith("请求体为 99999999999 字节")


def test_malformed_json_is_in_chinese(resident):
    client = client_for(resident)
    deep = "[" * 100 + "]" * 100
    en, zh = both(lambda h: client.post(ISSUES, '{"description": ' + deep + "}", content_type="application/json", **h))

    assert en["error"] == {"code": "malformed_json", "message": "JSON parse error - nested more than 32 levels deep."}
    assert zh["error"] == {"code": "malformed_json", "message": "JSON 解析错误：嵌套超过 32 层。"}


def test_without_accept_language_the_api_answers_in_the_sites_language_chinese(territory, resident):
    response = APIClient().get("/api/v1/no-such-thing/")

    assert response.json()["error"] == {"code": "not_found", "message": "未找到。"}


def test_open311_errors_keep_georeports_shape_in_chinese(territory):
    partner, key = make_partner(area=territory["district"])
    client = Client()
    url = "/open311/v2/requests/GD-00000000-0000.json"
    en, zh = both(lambda h: client.get(url, {"api_key": key}, **h))

    assert en == [{"code": 404, "description": "service_request_id GD-00000000-0000 was not found."}]
    assert zh == [{"code": 404, "description": "未找到 service_request_id GD-00000000-0000。"}]


def test_open311_field_errors_name_their_field_in_both_languages(territory):
    client = Client()
    en, zh = both(lambda h: client.get("/open311/v2/requests.json", {"status": "maybe"}, **h))

    assert en == [{"code": 400, "description": "status: status must be open, closed or both (comma-separated)."}]
    assert zh == [{"code": 400, "description": "status: status 必须是 open、closed 或两者（以逗号分隔）。"}]


def test_partner_key_errors_are_in_chinese(territory):
    en, zh = both(lambda h: partner_client("not-a-key").get(ISSUES, **h))

    assert en["error"] == {"code": "not_authenticated", "message": "Unknown or revoked API key."}
    assert zh["error"] == {"code": "not_authenticated", "message": "API 密钥不存在或已被吊销。"}


def test_a_message_reads_in_english_and_keeps_its_msgid_and_values():
    message = Message("Send at most %(count)s photos.", count=6)

    assert message == "Send at most 6 photos."
    assert (message.msgid, message.params) == ("Send at most %(count)s photos.", {"count": 6})


def test_translate_gives_the_catalogues_words_in_the_active_language():
    from django.utils import translation

    message = Message("Send at most %(count)s photos.", count=6)
    with translation.override("zh-hans"):
        assert translate(message) == "最多发送 6 张照片。"
        assert translate("No such issue.") == "没有该问题。"
        assert translate("a text with no translation") == "a text with no translation"
    with translation.override("en"):
        assert translate(message) == "Send at most 6 photos."
