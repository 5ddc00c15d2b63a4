"""The Aliyun and Tencent Cloud SMS adapters, through the providers' own SDKs, against a local fake of each API.

The fake speaks just enough of each API (Aliyun's ACS3-signed SendSms, Tencent's TC3-signed JSON SendSms) to check
what the SDK sent and to answer success or a refusal, so the adapters are tested through real HTTP.
"""

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlparse

import pytest

from notifications.sms import AliyunSmsBackend, SmsError, TencentSmsBackend


class FakeProvider:
    """Serve on a free loopback port; record each request; answer with `answer(request) -> dict` as JSON."""

    def __init__(self, answer):
        self.requests: list[dict] = []
        provider = self

        class Handler(BaseHTTPRequestHandler):
            def _handle(self):
                body = self.rfile.read(int(self.headers.get("content-length", 0) or 0))
                url = urlparse(self.path)
                request = {
                    "method": self.command,
                    "query": {k: v[0] for k, v in parse_qs(url.query).items()},
                    "form": {k: v[0] for k, v in parse_qs(body.decode()).items()} if b"=" in body else {},
                    "json": json.loads(body) if body.startswith(b"{") else None,
                    "headers": {k.lower(): v for k, v in self.headers.items()},
                }
                provider.requests.append(request)
                payload = json.dumps(answer(request)).encode()
                self.send_response(200)
                self.send_header("content-type", "application/json")
                self.send_header("content-length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            do_GET = do_POST = _handle

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.endpoint = f"127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self):
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def fake():
    providers = []

    def start(answer):
        provider = FakeProvider(answer)
        providers.append(provider)
        return provider

    yield start
    for provider in providers:
        provider.close()


def _aliyun(settings, provider):
    settings.GRIDDESK_SMS_ALIYUN = {
        "ACCESS_KEY_ID": "LTAI-test",
        "ACCESS_KEY_SECRET": "secret",
        "SIGN_NAME": "网格通",
        "TEMPLATE_CODE": "SMS_123",
        "TEMPLATE_PARAM": "content",
        "ENDPOINT": provider.endpoint,
        "PROTOCOL": "http",
    }
    return AliyunSmsBackend()


def _tencent(settings, provider):
    settings.GRIDDESK_SMS_TENCENT = {
        "SECRET_ID": "AKID-test",
        "SECRET_KEY": "secret",
        "APP_ID": "1400000000",
        "SIGN_NAME": "网格通",
        "TEMPLATE_ID": "449739",
        "REGION": "ap-guangzhou",
        "ENDPOINT": provider.endpoint,
        "PROTOCOL": "http",
    }
    return TencentSmsBackend()


def _aliyun_params(request) -> dict:
    return {**request["query"], **request["form"]}


def test_aliyun_sends_the_text_in_the_template_with_the_message_id(settings, fake):
    provider = fake(lambda r: {"Code": "OK", "Message": "OK", "BizId": "1", "RequestId": "r"})

    _aliyun(settings, provider).send(to="13800138000", text="您的诉求已受理", message_id="n-1")

    [request] = provider.requests
    params = _aliyun_params(request)
    assert request["headers"]["x-acs-action"] == "SendSms"
    assert request["headers"]["authorization"].startswith("ACS3-HMAC-SHA256 Credential=LTAI-test,")
    assert params["PhoneNumbers"] == "+8613800138000"
    assert params["SignName"] == "网格通"
    assert params["TemplateCode"] == "SMS_123"
    assert json.loads(params["TemplateParam"]) == {"content": "您的诉求已受理"}
    assert params["OutId"] == "n-1"


def test_aliyun_refusal_is_an_sms_error_worth_retrying(settings, fake):
    provider = fake(lambda r: {"Code": "isv.BUSINESS_LIMIT_CONTROL", "Message": "触发流控", "RequestId": "r"})

    with pytest.raises(SmsError, match="BUSINESS_LIMIT_CONTROL"):
        _aliyun(settings, provider).send(to="13800138000", text="x", message_id="n-2")


def test_tencent_sends_the_text_as_the_template_parameter_with_the_message_id(settings, fake):
    ok = {"Response": {"SendStatusSet": [{"Code": "Ok", "Message": "send success", "SerialNo": "s"}], "RequestId": "r"}}
    provider = fake(lambda r: ok)

    _tencent(settings, provider).send(to="13800138000", text="您的诉求已办结", message_id="n-3")

    [request] = provider.requests
    assert request["headers"]["x-tc-action"] == "SendSms"
    assert request["headers"]["authorization"].startswith("TC3-HMAC-SHA256 Credential=AKID-test/")
    assert request["json"] == {
        "PhoneNumberSet": ["+8613800138000"],
        "SmsSdkAppId": "1400000000",
        "SignName": "网格通",
        "TemplateId": "449739",
        "TemplateParamSet": ["您的诉求已办结"],
        "SessionContext": "n-3",
    }


@pytest.mark.parametrize(
    "answer",
    [
        {"Response": {"SendStatusSet": [{"Code": "LimitExceeded.PhoneNumberDailyLimit", "Message": "limit"}]}},
        {"Response": {"Error": {"Code": "AuthFailure.SignatureFailure", "Message": "bad"}, "RequestId": "r"}},
    ],
)
def test_tencent_refusal_is_an_sms_error_worth_retrying(settings, fake, answer):
    provider = fake(lambda r: answer)

    with pytest.raises(SmsError):
        _tencent(settings, provider).send(to="13800138000", text="x", message_id="n-4")


def test_an_unreachable_provider_is_an_sms_error(settings, fake):
    provider = fake(lambda r: {})
    backend = _aliyun(settings, provider)
    provider.close()

    with pytest.raises(SmsError):
        backend.send(to="13800138000", text="x", message_id="n-5")


def test_an_adapter_without_its_credentials_refuses_to_start(settings):
    settings.GRIDDESK_SMS_TENCENT = {**settings.GRIDDESK_SMS_TENCENT, "SECRET_ID": ""}
    with pytest.raises(SmsError, match="SECRET_ID"):
        TencentSmsBackend()
