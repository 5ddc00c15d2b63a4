"""SMS backends: one interface; console and locmem for one machine and tests; for production an HTTP gateway of
one's own, or the providers Chinese cities use, Aliyun (阿里云短信) and Tencent Cloud (腾讯云短信), by their SDKs.

Choose one with settings.GRIDDESK_SMS_BACKEND (a dotted path). Every backend receives the notification id as
`message_id`, so a gateway that deduplicates by it turns a re-sent message into a no-op (Aliyun's OutId, Tencent's
SessionContext carry it). The providers send approved templates only: the message text fills the template's one
parameter (GRIDDESK_SMS_TEMPLATE_PARAM for Aliyun).
"""

import json
import logging
import sys
import threading

import requests
from django.conf import settings
from django.utils.module_loading import import_string

logger = logging.getLogger(__name__)


class SmsError(Exception):
    """The message was not accepted by the gateway (worth retrying)."""


class BaseSmsBackend:
    """Send one text message; raise SmsError when it was not accepted."""

    def send(self, *, to: str, text: str, message_id: str) -> None:
        raise NotImplementedError


class ConsoleSmsBackend(BaseSmsBackend):
    """Write messages to standard output (the embedded default and development)."""

    def send(self, *, to: str, text: str, message_id: str) -> None:
        sys.stdout.write(f"SMS {message_id} to {to}: {text}\n")
        sys.stdout.flush()


# Messages "sent" by LocmemSmsBackend, like django.core.mail.outbox.
outbox: list[dict] = []
_outbox_lock = threading.Lock()


class LocmemSmsBackend(BaseSmsBackend):
    """Keep messages in `notifications.sms.outbox` (tests)."""

    def send(self, *, to: str, text: str, message_id: str) -> None:
        with _outbox_lock:
            outbox.append({"to": to, "text": text, "message_id": message_id})


class HttpSmsBackend(BaseSmsBackend):
    """POST {"to", "text", "message_id"} as JSON to the gateway, authenticated with its key (Bearer)."""

    def __init__(self, *, url: str | None = None, key: str | None = None, timeout: float | None = None):
        self.url = url or settings.GRIDDESK_SMS_GATEWAY_URL
        self.key = key if key is not None else settings.GRIDDESK_SMS_GATEWAY_KEY
        self.timeout = timeout or settings.GRIDDESK_SMS_GATEWAY_TIMEOUT
        if not self.url:
            raise SmsError("GRIDDESK_SMS_GATEWAY_URL is not set")

    def send(self, *, to: str, text: str, message_id: str) -> None:
        try:
            response = requests.post(
                self.url,
                json={"to": to, "text": text, "message_id": message_id},
                headers={"Authorization": f"Bearer {self.key}", "Idempotency-Key": message_id},
                timeout=self.timeout,
            )
        except requests.RequestException as exc:
            raise SmsError(f"gateway unreachable: {exc}") from exc
        if not 200 <= response.status_code < 300:
            raise SmsError(f"gateway answered {response.status_code}: {response.text[:200]}")


def _mainland(phone: str) -> str:
    """Return `phone` as the providers want it: +86 added to a mainland number given without a country code."""
    phone = phone.replace(" ", "").replace("-", "")
    return phone if phone.startswith("+") else f"+86{phone}"


class AliyunSmsBackend(BaseSmsBackend):
    """Send through Aliyun SMS (Dysmsapi 2017-05-25 SendSms) with its SDK; settings GRIDDESK_SMS_ALIYUN_*."""

    def __init__(self):
        from alibabacloud_dysmsapi20170525.client import Client
        from alibabacloud_tea_openapi import models as openapi

        conf = settings.GRIDDESK_SMS_ALIYUN
        if not (conf["ACCESS_KEY_ID"] and conf["ACCESS_KEY_SECRET"] and conf["SIGN_NAME"] and conf["TEMPLATE_CODE"]):
            raise SmsError("GRIDDESK_SMS_ALIYUN_ACCESS_KEY_ID, _SECRET, _SIGN_NAME and _TEMPLATE_CODE must be set")
        self.conf = conf
        self.client = Client(
            openapi.Config(
                access_key_id=conf["ACCESS_KEY_ID"],
                access_key_secret=conf["ACCESS_KEY_SECRET"],
                endpoint=conf["ENDPOINT"],
                protocol=conf["PROTOCOL"],
                connect_timeout=int(settings.GRIDDESK_SMS_GATEWAY_TIMEOUT * 1000),
                read_timeout=int(settings.GRIDDESK_SMS_GATEWAY_TIMEOUT * 1000),
            )
        )

    def send(self, *, to: str, text: str, message_id: str) -> None:
        from alibabacloud_dysmsapi20170525 import models as dysms

        request = dysms.SendSmsRequest(
            phone_numbers=_mainland(to),
            sign_name=self.conf["SIGN_NAME"],
            template_code=self.conf["TEMPLATE_CODE"],
            template_param=json.dumps({self.conf["TEMPLATE_PARAM"]: text}, ensure_ascii=False),
            out_id=message_id,
        )
        try:
            body = self.client.send_sms(request).body
        except Exception as exc:  # noqa: BLE001 — the SDK raises its own and network errors alike: retry later
            raise SmsError(f"Aliyun SMS unreachable or refused: {exc}") from exc
        if body.code != "OK":
            raise SmsError(f"Aliyun SMS answered {body.code}: {body.message}")


class TencentSmsBackend(BaseSmsBackend):
    """Send through Tencent Cloud SMS (SendSms, 2021-01-11) with its SDK; settings GRIDDESK_SMS_TENCENT_*."""

    def __init__(self):
        from tencentcloud.common import credential
        from tencentcloud.common.profile.client_profile import ClientProfile
        from tencentcloud.common.profile.http_profile import HttpProfile
        from tencentcloud.sms.v20210111 import sms_client

        conf = settings.GRIDDESK_SMS_TENCENT
        if not (conf["SECRET_ID"] and conf["SECRET_KEY"] and conf["APP_ID"] and conf["TEMPLATE_ID"]):
            raise SmsError("GRIDDESK_SMS_TENCENT_SECRET_ID, _SECRET_KEY, _APP_ID and _TEMPLATE_ID must be set")
        self.conf = conf
        http = HttpProfile(
            endpoint=conf["ENDPOINT"], protocol=conf["PROTOCOL"], reqTimeout=int(settings.GRIDDESK_SMS_GATEWAY_TIMEOUT)
        )
        self.client = sms_client.SmsClient(
            credential.Credential(conf["SECRET_ID"], conf["SECRET_KEY"]),
            conf["REGION"],
            ClientProfile(httpProfile=http),
        )

    def send(self, *, to: str, text: str, message_id: str) -> None:
        from tencentcloud.common.exception.tencent_cloud_sdk_exception import TencentCloudSDKException
        from tencentcloud.sms.v20210111 import models

        request = models.SendSmsRequest()
        request.PhoneNumberSet = [_mainland(to)]
        request.SmsSdkAppId = self.conf["APP_ID"]
        request.SignName = self.conf["SIGN_NAME"]
        request.TemplateId = self.conf["TEMPLATE_ID"]
        request.TemplateParamSet = [text]
        request.SessionContext = message_id
        try:
            statuses = self.client.SendSms(request).SendStatusSet or []
        except (TencentCloudSDKException, OSError) as exc:
            raise SmsError(f"Tencent Cloud SMS unreachable or refused: {exc}") from exc
        refused = [f"{s.Code}: {s.Message}" for s in statuses if s.Code != "Ok"]
        if not statuses or refused:
            raise SmsError(f"Tencent Cloud SMS refused the message: {'; '.join(refused) or 'no status'}")


def get_sms_backend() -> BaseSmsBackend:
    """Return an instance of the configured SMS backend."""
    return import_string(settings.GRIDDESK_SMS_BACKEND)()
