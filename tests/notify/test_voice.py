from __future__ import annotations

from collections.abc import Iterator

import pydantic
import pytest

from hotline_ops.clock import FixedClock
from hotline_ops.errors import ChannelError
from hotline_ops.notify.base import Recipient
from hotline_ops.notify.emulators import GatewayEmulator, voice_gateway
from hotline_ops.notify.voice import VoiceChannel
from tests.conftest import T0
from tests.notify.samples import ZHANG, incident, long_title

TOKEN = "voice-7c6b5a4d3e2f1a0b"
SECRETS = {"voice_token": TOKEN}


@pytest.fixture
def gateway() -> Iterator[GatewayEmulator]:
    with voice_gateway(clock=FixedClock(T0), token=TOKEN, per_number=(1, 60.0)) as emulator:
        yield emulator  # type: ignore[misc]


def _channel(gateway: GatewayEmulator, secrets=SECRETS, **provider: object) -> VoiceChannel:
    spec = {"type": "http", "url": f"{gateway.url}/voice/call", "token_secret": "voice_token",
            **provider}
    return VoiceChannel("oncall-voice", {"provider": spec}, secrets)


def _error(channel: VoiceChannel, message=None) -> ChannelError:
    with channel, pytest.raises(ChannelError) as info:
        channel.send(message or incident())
    return info.value


def test_it_places_a_call_reading_a_short_zh_cn_text(gateway: GatewayEmulator) -> None:
    with _channel(gateway, caller_id="07745812345") as channel:
        channel.send(incident())
    assert gateway.accepted == [
        {
            "idempotency_key": "INC-7:opened:1",
            "phone": "13877400001",
            "tts": "张伟您好，这里是热线运维告警。梧州12345·一级故障 12345 呼入中继中断。"
            "这是一级故障，请立即处理，并在系统中确认响应。",
            "repeat": 2,
            "id": "INC-7:opened:1",
            "caller_id": "07745812345",
        }
    ]


def test_it_keeps_the_tts_within_200_characters_for_a_long_title(
    gateway: GatewayEmulator,
) -> None:
    tts = _channel(gateway).tts(long_title())
    assert len(tts) == 200
    assert tts.endswith("…。这是一级故障，请立即处理，并在系统中确认响应。")


def test_it_reads_no_link(gateway: GatewayEmulator) -> None:
    assert "http" not in _channel(gateway).tts(incident())


def test_it_speaks_english_when_asked(gateway: GatewayEmulator) -> None:
    spec = {"type": "http", "url": f"{gateway.url}/voice/call", "token_secret": "voice_token"}
    channel = VoiceChannel("v", {"provider": spec, "lang": "en"}, SECRETS)
    assert channel.tts(incident(Recipient("Li Na", phone="13877400003"))).startswith(
        "Hello Li Na, this is the hotline operations alert."
    )


def test_it_refuses_a_message_without_recipient_naming_the_field(gateway: GatewayEmulator) -> None:
    error = _error(_channel(gateway), incident(None))
    assert (error.permanent, str(error)) == (
        True,
        "channel 'oncall-voice' (voice): message has no recipient (needs recipient.phone)",
    )


def test_it_reports_the_per_number_limit_as_transient_with_retry_after(
    gateway: GatewayEmulator,
) -> None:
    with _channel(gateway) as channel:
        channel.send(incident())
        error = _error(channel)
    assert (error.permanent, error.retry_after) == (False, 60.0)


def test_it_calls_another_number_while_one_is_rate_limited(gateway: GatewayEmulator) -> None:
    with _channel(gateway) as channel:
        channel.send(incident(ZHANG))
        channel.send(incident(Recipient("王芳", phone="13877400002")))
    assert [a["phone"] for a in gateway.accepted] == ["13877400001", "13877400002"]


def test_it_reports_an_invalid_number_as_permanent(gateway: GatewayEmulator) -> None:
    error = _error(_channel(gateway), incident(Recipient("座机", phone="12345")))
    assert (error.permanent, str(error)) == (
        True,
        "voice gateway HTTP 400 code 1001: invalid phone number 12345",
    )


def test_it_reports_a_provider_outage_as_transient(gateway: GatewayEmulator) -> None:
    gateway.script.append((502, {"code": 502, "message": "upstream carrier down"}, {}))
    error = _error(_channel(gateway))
    assert (error.permanent, str(error)) == (
        False,
        "voice gateway HTTP 502 code 502: upstream carrier down",
    )


def test_it_reports_a_wrong_path_as_permanent(gateway: GatewayEmulator) -> None:
    channel = _channel(gateway)
    gateway.path = "/elsewhere"  # the emulator now answers 404 for the configured path
    error = _error(channel)
    assert (error.permanent, str(error)) == (True, "voice gateway HTTP 404 code 404: not found")


def test_it_never_shows_the_token(gateway: GatewayEmulator) -> None:
    error = _error(_channel(gateway, secrets={"voice_token": "wrong-token-value"}))
    channel = _channel(gateway)
    assert (error.permanent, str(error)) == (True, "voice gateway HTTP 401 code 401: invalid token")
    assert TOKEN not in repr(channel)
    assert channel.mask(f"Bearer {TOKEN}") == "Bearer ***"


def test_it_rejects_more_than_3_readings() -> None:
    with pytest.raises(pydantic.ValidationError) as info:
        VoiceChannel("v", {"provider": {"type": "http", "url": "http://x", "repeat": 5}})
    assert [e["loc"] for e in info.value.errors()] == [("provider", "repeat")]


def test_it_needs_a_phone() -> None:
    assert (VoiceChannel.requires, VoiceChannel.rate_limit) == ("phone", None)


def test_it_rejects_an_unknown_time_zone_at_load_time() -> None:
    spec = {"type": "http", "url": "http://127.0.0.1/voice/call"}
    with pytest.raises(pydantic.ValidationError) as info:
        VoiceChannel("v", {"provider": spec, "timezone": "Asia/Wuzhou"})
    assert [(e["loc"], e["msg"]) for e in info.value.errors()] == [
        (("timezone",), "Value error, unknown time zone 'Asia/Wuzhou'")
    ]
