from __future__ import annotations

import pydantic
import pytest

from hotline_ops.errors import ConfigError
from hotline_ops.notify.base import Channel, Recipient
from hotline_ops.notify.fake import FakeChannel
from hotline_ops.notify.registry import (
    CHANNEL_KINDS,
    build_channel,
    channel_class,
    channel_requires,
)
from hotline_ops.notify.webhook import WebhookChannel


def test_it_resolves_webhook() -> None:
    assert channel_class("webhook") is WebhookChannel


def test_it_resolves_fake() -> None:
    assert channel_class("fake") is FakeChannel


@pytest.mark.parametrize("kind", sorted(CHANNEL_KINDS))
def test_it_maps_each_kind_to_a_channel_of_that_kind(kind: str) -> None:
    cls = channel_class(kind)
    assert issubclass(cls, Channel)
    assert cls.kind == kind


def test_it_names_the_known_kinds_for_an_unknown_kind() -> None:
    with pytest.raises(ConfigError) as info:
        channel_class("pager")
    assert str(info.value) == (
        "unknown channel kind 'pager' (known: dingtalk, email, fake, sms, voice, webhook, wecom)"
    )


def test_it_builds_a_channel_with_its_name_and_params() -> None:
    channel = build_channel("ops", "webhook", {"url": "http://127.0.0.1/hook", "timeout_s": 2})
    assert isinstance(channel, WebhookChannel)
    assert (channel.name, channel.params.url, channel.params.timeout_s) == (
        "ops",
        "http://127.0.0.1/hook",
        2.0,
    )


def test_it_passes_secrets_to_the_channel() -> None:
    params = {"url": "http://127.0.0.1/hook", "token_secret": "t"}
    with pytest.raises(ConfigError) as info:
        build_channel("ops", "webhook", params, secrets={"other": "x"})
    assert str(info.value) == "channel 'ops': token_secret 't' is not a defined secret"


def test_it_lets_param_validation_errors_propagate() -> None:
    with pytest.raises(pydantic.ValidationError) as info:
        build_channel("ops", "fake", {"nope": 1})
    assert [e["loc"] for e in info.value.errors()] == [("nope",)]


@pytest.mark.parametrize(
    ("kind", "field"),
    [("wecom", None), ("dingtalk", None), ("sms", "phone"), ("voice", "phone"),
     ("email", "email"), ("webhook", None)],
)
def test_it_says_which_address_each_kind_needs(kind: str, field: str | None) -> None:
    assert channel_requires(kind) == field


def test_it_names_the_missing_address_of_a_person() -> None:
    person = Recipient("王芳", email="wang.fang@example.org")
    assert channel_class("sms").address_problem(person) == "sms needs the recipient's phone"


def test_it_finds_no_problem_when_the_address_is_there() -> None:
    person = Recipient("王芳", phone="13877400002")
    assert channel_class("voice").address_problem(person) is None
