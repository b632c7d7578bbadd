"""A real SMTP server for tests: aiosmtpd on 127.0.0.1, STARTTLS with a self-signed
certificate the client trusts through ``ca_file``, AUTH, and scripted refusals."""

from __future__ import annotations

import datetime as dt
import ipaddress
import ssl
from dataclasses import dataclass, field
from email import message_from_bytes
from email.message import EmailMessage
from email.policy import default as default_policy
from pathlib import Path
from typing import Any

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from tests.support.process import free_port

USER = "alert@ops.example.org"
PASSWORD = "smtp-Pa55-w0rd-9f3c"


def self_signed(folder: Path) -> tuple[Path, Path]:
    """A certificate and key for 127.0.0.1 and localhost, valid around now."""
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
    cert_file, key_file = folder / "smtp.crt", folder / "smtp.key"
    cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return cert_file, key_file


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

    @property
    def messages(self) -> list[EmailMessage]:
        return [m.parsed() for m in self.mails]

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


def tls_context(cert: Path, key: Path) -> ssl.SSLContext:
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert, key)
    return context


def start(inbox: Inbox, tls: ssl.SSLContext | None) -> Controller:
    """Started; with ``tls`` STARTTLS is required before AUTH, without it none is offered."""
    kwargs: dict[str, Any] = {"authenticator": _authenticate, "auth_require_tls": tls is not None}
    if tls is not None:
        kwargs.update(tls_context=tls, require_starttls=True)
    controller = Controller(inbox, hostname="127.0.0.1", port=free_port(), **kwargs)
    controller.start()
    return controller


class SmtpServer:
    """``with SmtpServer(folder) as s``: STARTTLS + AUTH required; ``s.cert`` is the CA file."""

    def __init__(self, folder: Path) -> None:
        self.cert, self._key = self_signed(folder)
        self.inbox = Inbox()
        self.controller: Controller | None = None

    def __enter__(self) -> SmtpServer:
        self.controller = start(self.inbox, tls_context(self.cert, self._key))
        self.port = self.controller.port
        return self

    def __exit__(self, *exc) -> None:
        assert self.controller is not None
        self.controller.stop()
