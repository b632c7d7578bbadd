from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pydantic
import pytest

from hotline_ops import content
from hotline_ops.clock import FixedClock
from hotline_ops.errors import ChannelError, ConfigError
from hotline_ops.notify.base import Recipient
from hotline_ops.notify.emulators import AliyunSmsEmulator, GatewayEmulator, sms_gateway
from hotline_ops.notify.render import sms_segments
from hotline_ops.notify.sms import SmsChannel, aliyun_signature
from tests.conftest import T0
from tests.notify.samples import incident, long_title

GW_TOKEN = "gw-9f8e7d6c5b4a3210"
AK_ID = "LTAI5tQ8example0id"
AK_SECRET = "Vq3kR7exampleSecretValue0xZ"
SECRETS = {"sms_token": GW_TOKEN, "ak_id": AK_ID, "ak_secret": AK_SECRET}
SIGN = "梧州热线运维"
TEMPLATE = "SMS_465000001"


@pytest.fixture
def gateway() -> Iterator[GatewayEmulator]:
    with sms_gateway(clock=FixedClock(T0), token=GW_TOKEN, per_number=(1, 60.0)) as emulator:
        yield emulator  # type: ignore[misc]


@pytest.fixture
def aliyun() -> Iterator[AliyunSmsEmulator]:
    emulator = AliyunSmsEmulator(
        clock=FixedClock(T0),
        access_keys={AK_ID: AK_SECRET},
        sign_names={SIGN},
        templates={TEMPLATE: ("level", "title", "id")},
    )
    with emulator:
        yield emulator  # type: ignore[misc]


def _http(gateway: GatewayEmulator, **params: object) -> SmsChannel:
    provider = {"type": "http", "url": f"{gateway.url}/sms/send", "token_secret": "sms_token",
                "sign_name": SIGN}
    return SmsChannel("oncall-sms", {"provider": provider, **params}, SECRETS)


def _aliyun(aliyun: AliyunSmsEmulator, secrets=SECRETS, clock=None, **provider: object):
    spec = {
        "type": "aliyun",
        "endpoint": f"{aliyun.url}/",
        "access_key_id_secret": "ak_id",
        "access_key_secret_secret": "ak_secret",
        "sign_name": SIGN,
        "template_code": TEMPLATE,
        **provider,
    }
    return SmsChannel("aliyun-sms", {"provider": spec}, secrets, clock=clock or FixedClock(T0))


def _error(channel: SmsChannel, message=None) -> ChannelError:
    with channel, pytest.raises(ChannelError) as info:
        channel.send(message or incident())
    return info.value


# --- text and length ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("length", "segments"), [(1, 1), (70, 1), (71, 2), (134, 2), (135, 3), (201, 3), (202, 4)]
)
def test_it_counts_segments_like_a_carrier(length: int, segments: int) -> None:
    assert sms_segments("字" * length) == segments


def test_it_writes_the_incident_as_one_line_of_sms(gateway: GatewayEmulator) -> None:
    assert _http(gateway).text(incident()) == (
        "[梧州12345·一级故障]12345 呼入中继中断 事件编号：#7；故障等级：一级（重大故障）；"
        "监测对象：trunk/unicom-sip-1；发生时间：2026-11-28 10:00:00；合同时限：；"
        "- 响应（M2.3a）：2026-11-28 10:30:00 前 确认：https://ops.example.org/ack/7/3f9a"
    )


def test_it_keeps_a_long_title_within_3_segments_with_the_signature(
    gateway: GatewayEmulator,
) -> None:
    text = _http(gateway).text(long_title())
    assert len(f"【{SIGN}】{text}") == 201
    assert sms_segments(f"【{SIGN}】{text}") == 3


def test_it_cuts_a_long_title_cleanly_and_keeps_the_ack_link(gateway: GatewayEmulator) -> None:
    text = _http(gateway).text(long_title())
    assert text.endswith("… 确认：https://ops.example.org/ack/7/3f9a")


def test_it_leaves_the_signature_brackets_to_the_signature(gateway: GatewayEmulator) -> None:
    text = _http(gateway).text(incident())
    assert "【" not in text and "】" not in text


def test_it_keeps_one_segment_when_configured(gateway: GatewayEmulator) -> None:
    text = _http(gateway, max_segments=1).text(long_title())
    assert len(f"【{SIGN}】{text}") <= 70


# --- generic HTTP gateway ----------------------------------------------------------------


def test_it_posts_phone_text_sign_and_dedup_key_to_the_gateway(gateway: GatewayEmulator) -> None:
    channel = _http(gateway)
    with channel:
        channel.send(incident())
    assert gateway.accepted == [
        {
            "idempotency_key": "INC-7:opened:1",
            "phone": "13877400001",
            "content": channel.text(incident()),
            "sign": SIGN,
            "id": "INC-7:opened:1",
        }
    ]


def test_it_sends_the_gateway_token_as_bearer(gateway: GatewayEmulator) -> None:
    with _http(gateway) as channel:
        channel.send(incident())
    assert gateway.requests[0].headers["authorization"] == f"Bearer {GW_TOKEN}"


def test_it_refuses_a_message_without_recipient_naming_the_field(gateway: GatewayEmulator) -> None:
    error = _error(_http(gateway), incident(None))
    assert error.permanent is True
    assert str(error) == (
        "channel 'oncall-sms' (sms): message has no recipient (needs recipient.phone)"
    )
    assert gateway.requests == []


def test_it_refuses_a_recipient_without_phone_naming_the_field(gateway: GatewayEmulator) -> None:
    error = _error(_http(gateway), incident(Recipient("李娜", email="li.na@example.org")))
    assert error.permanent is True
    assert str(error) == (
        "channel 'oncall-sms' (sms): recipient '李娜' has no phone (needs recipient.phone)"
    )


def test_it_reports_the_gateway_rate_limit_as_transient_with_retry_after(
    gateway: GatewayEmulator,
) -> None:
    gateway.clock.advance(0)  # type: ignore[attr-defined]
    with _http(gateway) as channel:
        channel.send(incident())
        gateway.clock.advance(15)  # type: ignore[attr-defined]
        error = _error(channel)
    assert (error.permanent, error.retry_after) == (False, 45.0)
    assert str(error) == "sms gateway HTTP 429 code 1002: rate limited"


def test_it_reports_an_invalid_number_as_permanent(gateway: GatewayEmulator) -> None:
    error = _error(_http(gateway), incident(Recipient("错号", phone="0774-1234567")))
    assert (error.permanent, str(error)) == (
        True,
        "sms gateway HTTP 400 code 1001: invalid phone number 0774-1234567",
    )


def test_it_reports_a_wrong_token_as_permanent(gateway: GatewayEmulator) -> None:
    provider = {"type": "http", "url": f"{gateway.url}/sms/send", "token_secret": "sms_token"}
    channel = SmsChannel("s", {"provider": provider}, {"sms_token": "stale-token"})
    error = _error(channel)
    assert (error.permanent, str(error)) == (True, "sms gateway HTTP 401 code 401: invalid token")


def test_it_reports_a_gateway_outage_as_transient(gateway: GatewayEmulator) -> None:
    gateway.script.append((503, {"code": 503, "message": "maintenance"}, {}))
    error = _error(_http(gateway))
    assert (error.permanent, str(error)) == (False, "sms gateway HTTP 503 code 503: maintenance")


# --- Alibaba Cloud SendSms ---------------------------------------------------------------


def test_it_signs_like_alibabas_documented_example() -> None:
    # The worked example of Alibaba Cloud's RPC signature document (DescribeRegions, GET).
    params = {
        "Timestamp": "2016-02-23T12:46:24Z",
        "Format": "XML",
        "AccessKeyId": "testid",
        "Action": "DescribeRegions",
        "SignatureMethod": "HMAC-SHA1",
        "SignatureNonce": "3ee8c1b8-83d3-44af-a94f-4e0ad82fd6cf",
        "Version": "2014-05-26",
        "SignatureVersion": "1.0",
    }
    assert aliyun_signature("testsecret", "GET", params) == "OLeaidS1JvxuMvnyHOwuJ+uX5qY="


def test_it_is_accepted_by_sendsms_with_template_variables(aliyun: AliyunSmsEmulator) -> None:
    with _aliyun(aliyun) as channel:
        channel.send(incident())
    assert aliyun.accepted == [
        {
            "phone": "13877400001",
            "sign_name": SIGN,
            "template_code": TEMPLATE,
            "params": {"level": "一级", "title": "12345 呼入中继中断", "id": "7"},
            "out_id": "INC-7:opened:1",
        }
    ]


def test_it_sends_the_sendsms_fields_alibaba_documents(aliyun: AliyunSmsEmulator) -> None:
    form = _aliyun(aliyun).aliyun_params(incident(), "13877400001")
    fixed = {k: form[k] for k in form if k not in ("SignatureNonce", "Signature")}
    assert fixed == {
        "AccessKeyId": AK_ID,
        "Action": "SendSms",
        "Format": "JSON",
        "OutId": "INC-7:opened:1",
        "PhoneNumbers": "13877400001",
        "RegionId": "cn-hangzhou",
        "SignName": SIGN,
        "SignatureMethod": "HMAC-SHA1",
        "SignatureVersion": "1.0",
        "TemplateCode": TEMPLATE,
        "TemplateParam": '{"level":"一级","title":"12345 呼入中继中断","id":"7"}',
        "Timestamp": "2026-11-28T02:00:00Z",
        "Version": "2017-05-25",
    }


def test_it_cuts_template_variables_to_35_characters(aliyun: AliyunSmsEmulator) -> None:
    with _aliyun(aliyun) as channel:
        channel.send(long_title())
    title = aliyun.accepted[0]["params"]["title"]
    assert (len(title), title[-1]) == (35, "…")


def test_it_maps_configured_variables_to_fields(aliyun: AliyunSmsEmulator) -> None:
    channel = _aliyun(aliyun, template_params={"level": "level_label", "title": "target",
                                                "id": "opened_at"})
    assert channel.template_param(incident()) == {
        "level": "一级", "title": "trunk/unicom-sip-1", "id": "2026-11-28 10:00"
    }


def test_it_reports_a_wrong_access_key_secret_as_permanent_without_it(
    aliyun: AliyunSmsEmulator,
) -> None:
    wrong = {**SECRETS, "ak_secret": "not-the-secret-value"}
    error = _error(_aliyun(aliyun, secrets=wrong))
    assert (error.permanent, str(error)) == (
        True,
        "Aliyun SendSms SignatureDoesNotMatch: Specified signature is not matched.",
    )


def test_it_reports_business_limit_control_as_transient_after_a_minute(
    aliyun: AliyunSmsEmulator,
) -> None:
    with _aliyun(aliyun) as channel:
        channel.send(incident())
        error = _error(channel)
    assert (error.permanent, error.retry_after) == (False, 60.0)
    assert str(error) == "Aliyun SendSms isv.BUSINESS_LIMIT_CONTROL: 触发分钟级流控Permits:1"


def test_it_reports_an_illegal_mobile_number_as_permanent(aliyun: AliyunSmsEmulator) -> None:
    error = _error(_aliyun(aliyun), incident(Recipient("错号", phone="1387740000")))
    assert (error.permanent, str(error)) == (
        True,
        "Aliyun SendSms isv.MOBILE_NUMBER_ILLEGAL: 非法手机号",
    )


def test_it_reports_an_unapproved_template_as_permanent(aliyun: AliyunSmsEmulator) -> None:
    error = _error(_aliyun(aliyun, template_code="SMS_000"))
    assert (error.permanent, str(error)) == (
        True,
        "Aliyun SendSms isv.SMS_TEMPLATE_ILLEGAL: 该账号下找不到对应模板",
    )


def test_it_reports_a_missing_template_variable_as_permanent(aliyun: AliyunSmsEmulator) -> None:
    error = _error(_aliyun(aliyun, template_params={"title": "title"}))
    assert (error.permanent, str(error)) == (
        True,
        "Aliyun SendSms isv.TEMPLATE_MISSING_PARAMETERS: 模板缺少变量 level",
    )


def test_it_reports_a_clock_15_minutes_off_as_permanent(aliyun: AliyunSmsEmulator) -> None:
    error = _error(_aliyun(aliyun, clock=FixedClock(T0 + timedelta(minutes=15, seconds=1))))
    assert (error.permanent, str(error)) == (
        True,
        "Aliyun SendSms InvalidTimeStamp.Expired: Specified time stamp or date is expired.",
    )


def test_it_reports_a_system_error_as_transient(aliyun: AliyunSmsEmulator) -> None:
    aliyun.script.append((500, {"Code": "isp.SYSTEM_ERROR", "Message": "系统错误"}, {}))
    error = _error(_aliyun(aliyun))
    assert (error.permanent, str(error)) == (False, "Aliyun SendSms isp.SYSTEM_ERROR: 系统错误")


def test_it_uses_a_fresh_nonce_for_every_attempt(aliyun: AliyunSmsEmulator) -> None:
    channel = _aliyun(aliyun)
    nonces = {channel.aliyun_params(incident(), "13877400001")["SignatureNonce"] for _ in range(3)}
    assert len(nonces) == 3


def test_it_never_shows_the_access_key_secret(aliyun: AliyunSmsEmulator) -> None:
    aliyun.script.append((400, {"Code": "X", "Message": f"echo {AK_SECRET}"}, {}))
    error = _error(_aliyun(aliyun))
    assert str(error) == "Aliyun SendSms X: echo ***"
    assert AK_SECRET not in repr(_aliyun(aliyun))


# --- configuration -----------------------------------------------------------------------


def test_it_rejects_an_unknown_provider_type() -> None:
    with pytest.raises(pydantic.ValidationError) as info:
        SmsChannel("s", {"provider": {"type": "twilio", "url": "http://x"}}, SECRETS)
    assert [e["type"] for e in info.value.errors()] == ["union_tag_invalid"]


def test_it_rejects_an_unknown_template_field() -> None:
    spec = {"type": "aliyun", "access_key_id_secret": "ak_id", "access_key_secret_secret":
            "ak_secret", "sign_name": SIGN, "template_code": TEMPLATE,
            "template_params": {"x": "password"}}
    with pytest.raises(pydantic.ValidationError) as info:
        SmsChannel("s", {"provider": spec}, SECRETS)
    assert [e["loc"] for e in info.value.errors()] == [
        ("provider", "template_params")
    ]


def test_it_names_an_undefined_access_key_secret() -> None:
    spec = {"type": "aliyun", "access_key_id_secret": "ak_id", "access_key_secret_secret":
            "nope", "sign_name": SIGN, "template_code": TEMPLATE}
    with pytest.raises(ConfigError) as info:
        SmsChannel("s", {"provider": spec}, SECRETS)
    assert str(info.value) == (
        "channel 's': provider.access_key_secret_secret 'nope' is not a defined secret"
    )


def test_it_names_file_line_and_field_for_a_bad_provider_in_channels_yaml(tmp_path: Path) -> None:
    path = tmp_path / "channels.yaml"
    path.write_text(
        "channels:\n"
        "  oncall-sms:\n"
        "    kind: sms\n"
        "    provider:\n"
        "      type: http\n"
        "      url: ftp://gw.example.org/send\n",
        encoding="utf-8",
    )
    with pytest.raises(ConfigError) as info:
        content.load_channels(path, {})
    assert str(info.value).startswith(
        f"{path}:6: channels.oncall-sms.provider.url: must be an http:// or https:// URL"
    )


def test_it_needs_a_phone_and_declares_no_channel_wide_limit() -> None:
    assert (SmsChannel.requires, SmsChannel.rate_limit) == ("phone", None)


def test_it_reads_json_answers_as_utf8(gateway: GatewayEmulator) -> None:
    gateway.script.append((400, {"code": 1003, "message": "内容含敏感词"}, {}))
    error = _error(_http(gateway))
    expected = '"sms gateway HTTP 400 code 1003: 内容含敏感词"'
    assert json.dumps(str(error), ensure_ascii=False) == expected
