"""The email channel against a real SMTP server (aiosmtpd) with STARTTLS and AUTH."""

from __future__ import annotations

import datetime as dt
import hashlib
import ipaddress
import socket
import ssl
from collections.abc import Iterator
from dataclasses import dataclass, field
from email import message_from_bytes
from email.message import EmailMessage
from email.policy import default as default_policy
from pathlib import Path
from typing import Any

import pydantic
import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from hotline_ops.clock import FixedClock
from hotline_ops.errors import ChannelError, ConfigError
from hotline_ops.notify.base import Recipient
from hotline_ops.notify.email import EmailChannel
from tests.conftest import T0
from tests.notify.samples import ZHANG, incident

USER = "alert@ops.example.org"
PASSWORD = "smtp-Pa55-w0rd-9f3c"
SECRETS = {"smtp_password": PASSWORD}


@dataclass
class Mail:
    mail_from: str
    rcpt_tos: list[str]
    data: bytes
    tls: bool
    login: str

    def parsed(self) -> EmailMessage:
        return message_from_bytes(self.data, policy=default_policy)  # type: ignore[return-value]


@dataclass
class Inbox:
    """An aiosmtpd handler: keeps what arrives, refuses scripted recipients or data."""

    mails: list[Mail] = field(default_factory=list)
    refuse_rcpt: dict[str, str] = field(default_factory=dict)
    data_reply: str = "250 Message accepted for delivery"

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options) -> str:
        if address in self.refuse_rcpt:
            return self.refuse_rcpt[address]
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope) -> str:
        if not self.data_reply.startswith("250"):
            return self.data_reply
        login = session.auth_data.login.decode() if session.auth_data else ""
        data = envelope.original_content or envelope.content
        tls = session.ssl is not None
        self.mails.append(Mail(envelope.mail_from, list(envelope.rcpt_tos), data, tls, login))
        return self.data_reply


def _authenticate(server, session, envelope, mechanism: str, auth_data: Any) -> AuthResult:
    ok = isinstance(auth_data, LoginPassword) and (
        auth_data.login.decode(),
        auth_data.password.decode(),
    ) == (USER, PASSWORD)
    # handled=False lets aiosmtpd answer 535 itself.
    return AuthResult(success=ok, handled=False, auth_data=auth_data if ok else None)


@pytest.fixture(scope="module")
def certificate(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """A self-signed certificate for 127.0.0.1, made for this test run."""
    folder = tmp_path_factory.mktemp("tls")
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "hotline-ops test SMTP")])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(days=1))
        .not_valid_after(now + dt.timedelta(days=7))
        .add_extension(
            x509.SubjectAlternativeName(
                [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
            ),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_file, key_file = folder / "cert.pem", folder / "key.pem"
    cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return cert_file, key_file


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _start(inbox: Inbox, tls: ssl.SSLContext | None) -> Controller:
    kwargs: dict[str, Any] = {"authenticator": _authenticate, "auth_require_tls": tls is not None}
    if tls is not None:
        kwargs.update(tls_context=tls, require_starttls=True)
    controller = Controller(inbox, hostname="127.0.0.1", port=_free_port(), **kwargs)
    controller.start()
    return controller


@dataclass
class Server:
    inbox: Inbox
    port: int
    ca_file: Path


@pytest.fixture
def smtp(certificate: tuple[Path, Path]) -> Iterator[Server]:
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(*certificate)
    inbox = Inbox()
    controller = _start(inbox, context)
    try:
        yield Server(inbox, controller.port, certificate[0])
    finally:
        controller.stop()


@pytest.fixture
def plain_smtp(certificate: tuple[Path, Path]) -> Iterator[Server]:
    """A server that offers no STARTTLS."""
    inbox = Inbox()
    controller = _start(inbox, None)
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
    server = Server(Inbox(), _free_port(), certificate[0])
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
