"""The email channel against a real SMTP server (aiosmtpd) with STARTTLS and AUTH."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pydantic
import pytest

from hotline_ops.clock import FixedClock
from hotline_ops.errors import ChannelError, ConfigError
from hotline_ops.notify.base import Recipient
from hotline_ops.notify.email import EmailChannel
from tests.conftest import T0
from tests.notify.samples import ZHANG, incident
from tests.support.process import free_port
from tests.support.smtp import PASSWORD, USER, Inbox, self_signed, start, tls_context

SECRETS = {"smtp_password": PASSWORD}


@pytest.fixture(scope="module")
def certificate(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """A self-signed certificate for 127.0.0.1, made for this test run."""
    return self_signed(tmp_path_factory.mktemp("tls"))


@dataclass
class Server:
    inbox: Inbox
    port: int
    ca_file: Path


@pytest.fixture
def smtp(certificate: tuple[Path, Path]) -> Iterator[Server]:
    inbox = Inbox()
    controller = start(inbox, tls_context(*certificate))
    try:
        yield Server(inbox, controller.port, certificate[0])
    finally:
        controller.stop()


@pytest.fixture
def plain_smtp(certificate: tuple[Path, Path]) -> Iterator[Server]:
    """A server that offers no STARTTLS."""
    inbox = Inbox()
    controller = start(inbox, None)
    try:
        yield Server(inbox, controller.port, certificate[0])
    finally:
        controller.stop()


def _channel(server: Server, secrets=SECRETS, **params: object) -> EmailChannel:
    config = {
        "host": "127.0.0.1",
        "port": server.port,
        "from_addr": USER,
        "from_name": "梧州12345运维",
        "username": USER,
        "password_secret": "smtp_password",
        "ca_file": str(server.ca_file),
        "timeout_s": 5,
        **params,
    }
    return EmailChannel("oncall-mail", config, secrets, clock=FixedClock(T0))


def _error(channel: EmailChannel, message=None) -> ChannelError:
    with pytest.raises(ChannelError) as info:
        channel.send(message or incident())
    return info.value


def test_it_delivers_over_starttls_after_auth(smtp: Server) -> None:
    _channel(smtp).send(incident())
    assert [(m.mail_from, m.rcpt_tos, m.tls, m.login) for m in smtp.inbox.mails] == [
        (USER, ["zhang.wei@example.org"], True, USER)
    ]


def test_it_writes_from_to_and_subject_in_utf8(smtp: Server) -> None:
    _channel(smtp).send(incident())
    mail = smtp.inbox.mails[0].parsed()
    assert (mail["From"], mail["To"], mail["Subject"]) == (
        "梧州12345运维 <alert@ops.example.org>",
        "zhang.wei@example.org",
        "【梧州12345·一级故障】12345 呼入中继中断",
    )


def test_it_encodes_the_headers_for_7bit_transport(smtp: Server) -> None:
    _channel(smtp).send(incident())
    raw = smtp.inbox.mails[0].data.decode("ascii")
    assert "Subject: =?utf-8?" in raw


def test_it_sends_a_zh_cn_plain_text_body(smtp: Server) -> None:
    _channel(smtp).send(incident())
    plain = smtp.inbox.mails[0].parsed().get_body(("plain",))
    assert plain is not None
    assert plain.get_content().replace("\r\n", "\n") == (
        "张伟：\n\n"
        "【梧州12345·一级故障】12345 呼入中继中断\n\n"
        "事件编号：#7\n故障等级：一级（重大故障）\n监测对象：trunk/unicom-sip-1\n"
        "发生时间：2026-11-28 10:00:00\n合同时限：\n- 响应（M2.3a）：2026-11-28 10:30:00 前\n\n"
        "确认响应：https://ops.example.org/ack/7/3f9a\n\n"
        "-- \n本邮件由 hotline-ops 自动发送，请勿直接回复。\n"
    )


def test_it_adds_an_html_alternative(smtp: Server) -> None:
    _channel(smtp).send(incident())
    mail = smtp.inbox.mails[0].parsed()
    html = mail.get_body(("html",))
    assert mail.get_content_type() == "multipart/alternative"
    assert html is not None
    assert '<p><a href="https://ops.example.org/ack/7/3f9a">点击确认响应</a></p>' in (
        html.get_content()
    )


def test_it_escapes_markup_from_the_title_in_html(smtp: Server) -> None:
    message = incident()
    message = type(message)(message.dedup_key, "告警 <b>x</b> & y", "告警 <b>x</b> & y", {}, ZHANG)
    html = _channel(smtp).compose(message).get_body(("html",))
    assert html is not None
    assert "<h2>告警 &lt;b&gt;x&lt;/b&gt; &amp; y</h2>" in html.get_content()


def test_it_writes_to_the_configured_list_for_an_announcement(smtp: Server) -> None:
    _channel(smtp, to=["noc@example.org", "manager@example.org"]).send(incident(None))
    assert smtp.inbox.mails[0].rcpt_tos == ["noc@example.org", "manager@example.org"]


def test_it_prefers_the_recipients_address_to_the_list(smtp: Server) -> None:
    _channel(smtp, to=["noc@example.org"]).send(incident(ZHANG))
    assert smtp.inbox.mails[0].rcpt_tos == ["zhang.wei@example.org"]


def test_it_refuses_a_message_without_any_address_naming_the_field(smtp: Server) -> None:
    error = _error(_channel(smtp), incident(Recipient("王芳", phone="13877400002")))
    assert (error.permanent, str(error)) == (
        True,
        "channel 'oncall-mail' (email): recipient '王芳' has no email (needs recipient.email)",
    )
    assert smtp.inbox.mails == []


def test_it_reports_a_wrong_password_as_permanent_without_it(smtp: Server) -> None:
    error = _error(_channel(smtp, secrets={"smtp_password": "wrong-" + PASSWORD}))
    assert error.permanent is True
    assert str(error) == (
        f"SMTP 127.0.0.1:{smtp.port}: SMTPAuthenticationError: "
        "535 5.7.8 Authentication credentials invalid"
    )


def test_it_reports_a_server_without_starttls_as_permanent(plain_smtp: Server) -> None:
    error = _error(_channel(plain_smtp))
    assert error.permanent is True
    assert str(error) == (
        f"SMTP 127.0.0.1:{plain_smtp.port}: SMTPNotSupportedError: "
        "STARTTLS extension not supported by server."
    )
    assert plain_smtp.inbox.mails == []


def test_it_reports_an_untrusted_certificate_as_permanent(smtp: Server) -> None:
    error = _error(_channel(smtp, ca_file=None))
    assert error.permanent is True
    assert str(error).startswith(f"SMTP 127.0.0.1:{smtp.port}: SSLCertVerificationError: ")


def test_it_reports_a_4xx_on_data_as_transient(smtp: Server) -> None:
    smtp.inbox.data_reply = "451 4.3.0 Mail server temporarily rejected message"
    error = _error(_channel(smtp))
    assert (error.permanent, str(error)) == (
        False,
        f"SMTP 127.0.0.1:{smtp.port}: SMTPDataError: "
        "451 4.3.0 Mail server temporarily rejected message",
    )


def test_it_reports_a_refused_recipient_as_permanent(smtp: Server) -> None:
    smtp.inbox.refuse_rcpt["zhang.wei@example.org"] = "550 5.1.1 No such user"
    error = _error(_channel(smtp))
    assert (error.permanent, str(error)) == (
        True,
        f"SMTP 127.0.0.1:{smtp.port}: SMTPRecipientsRefused: "
        "zhang.wei@example.org: 550 5.1.1 No such user",
    )


def test_it_reports_a_closed_port_as_transient(certificate: tuple[Path, Path]) -> None:
    server = Server(Inbox(), free_port(), certificate[0])
    error = _error(_channel(server))
    assert error.permanent is False
    assert str(error).startswith(f"SMTP 127.0.0.1:{server.port}: ConnectionRefusedError: ")


def test_it_derives_the_message_id_from_the_dedup_key(smtp: Server) -> None:
    channel = _channel(smtp)
    first, again = channel.compose(incident()), channel.compose(incident())
    digest = hashlib.sha256(b"INC-7:opened:1").hexdigest()[:32]
    assert first["Message-ID"] == again["Message-ID"] == f"<{digest}@ops.example.org>"


def test_it_dates_the_mail_by_the_clock(smtp: Server) -> None:
    assert _channel(smtp).compose(incident())["Date"] == "Sat, 28 Nov 2026 02:00:00 +0000"


def test_it_never_shows_the_password(smtp: Server) -> None:
    channel = _channel(smtp)
    assert PASSWORD not in repr(channel)
    assert channel.mask(f"AUTH PLAIN {PASSWORD}") == "AUTH PLAIN ***"


def test_it_refuses_a_password_without_a_username(smtp: Server) -> None:
    with pytest.raises(ConfigError) as info:
        _channel(smtp, username=None)
    assert str(info.value) == "channel 'oncall-mail': password_secret is set but username is not"


def test_it_rejects_a_malformed_from_address(smtp: Server) -> None:
    with pytest.raises(pydantic.ValidationError) as info:
        _channel(smtp, from_addr="alert at example")
    assert [e["loc"] for e in info.value.errors()] == [("from_addr",)]


def test_it_needs_an_email_address() -> None:
    assert (EmailChannel.requires, EmailChannel.rate_limit) == ("email", None)
