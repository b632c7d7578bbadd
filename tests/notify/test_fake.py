from __future__ import annotations

from collections.abc import Iterator

import pydantic
import pytest

from hotline_ops.errors import ChannelError
from hotline_ops.notify import fake
from hotline_ops.notify.base import Message
from hotline_ops.notify.fake import FakeChannel


@pytest.fixture(autouse=True)
def _clean() -> Iterator[None]:
    fake.reset()
    yield
    fake.reset()


def _msg(key: str) -> Message:
    return Message(key, f"subject {key}", f"text {key}", {"incident": key})


def _sent() -> dict[str, list[Message]]:
    return fake.SENT


def _outcomes(channel: FakeChannel, count: int) -> list[str]:
    results = []
    for i in range(count):
        try:
            channel.send(_msg(str(i)))
            results.append("ok")
        except ChannelError as error:
            results.append("permanent" if error.permanent else "transient")
    return results


def test_it_records_sent_messages_under_the_channel_name() -> None:
    FakeChannel("ops", {}).send(_msg("a"))
    FakeChannel("ops", {}).send(_msg("b"))
    assert _sent() == {"ops": [_msg("a"), _msg("b")]}


def test_it_keeps_channels_apart() -> None:
    FakeChannel("ops", {}).send(_msg("a"))
    FakeChannel("duty", {}).send(_msg("b"))
    assert _sent() == {"ops": [_msg("a")], "duty": [_msg("b")]}


def test_it_plays_the_script_in_order_then_succeeds() -> None:
    channel = FakeChannel("ops", {"fail": ["transient", "ok", "permanent"]})
    assert _outcomes(channel, 5) == ["transient", "ok", "permanent", "ok", "ok"]


def test_it_records_only_successful_sends() -> None:
    channel = FakeChannel("ops", {"fail": ["transient", "permanent"]})
    _outcomes(channel, 3)
    assert _sent() == {"ops": [_msg("2")]}


def test_it_raises_a_transient_error_for_transient() -> None:
    with pytest.raises(ChannelError) as info:
        FakeChannel("ops", {"fail": ["transient"]}).send(_msg("a"))
    assert info.value.permanent is False
    assert str(info.value) == "fake channel 'ops': scripted transient failure"


def test_it_raises_a_permanent_error_for_permanent() -> None:
    with pytest.raises(ChannelError) as info:
        FakeChannel("ops", {"fail": ["permanent"]}).send(_msg("a"))
    assert info.value.permanent is True
    assert str(info.value) == "fake channel 'ops': scripted permanent failure"


def test_it_continues_the_script_when_the_channel_is_rebuilt() -> None:
    params = {"fail": ["transient", "transient"]}
    outcomes = [_outcomes(FakeChannel("ops", params), 1)[0] for _ in range(3)]
    assert outcomes == ["transient", "transient", "ok"]


def test_it_restarts_scripts_and_forgets_messages_on_reset() -> None:
    channel = FakeChannel("ops", {"fail": ["transient"]})
    _outcomes(channel, 2)
    fake.reset()
    assert _sent() == {}
    assert _outcomes(channel, 2) == ["transient", "ok"]


def test_it_rejects_an_unknown_outcome() -> None:
    with pytest.raises(pydantic.ValidationError) as info:
        FakeChannel("ops", {"fail": ["ok", "boom"]})
    assert [(e["loc"], e["type"]) for e in info.value.errors()] == [(("fail", 1), "literal_error")]


def test_it_rejects_an_unknown_param() -> None:
    with pytest.raises(pydantic.ValidationError) as info:
        FakeChannel("ops", {"fails": ["ok"]})
    assert [(e["loc"], e["type"]) for e in info.value.errors()] == [(("fails",), "extra_forbidden")]


def test_it_has_kind_fake() -> None:
    assert FakeChannel.kind == "fake"
