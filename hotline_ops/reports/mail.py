"""Delivery of filed reports by email (M2.2c): SMTP with STARTTLS, PDF + XLSX attached.

Where to and how come from ``reports/delivery.yaml`` (file:line errors); the SMTP password
only from a secret (``HOTLINE_OPS_SECRET_<NAME>``), never from the file.
"""

from __future__ import annotations

import smtplib
import ssl
from email.message import EmailMessage
from email.utils import make_msgid
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator

from hotline_ops import yamlfile
from hotline_ops.core.durations import parse_duration
from hotline_ops.errors import ChannelError, ConfigError

MIME = {
    "pdf": ("application", "pdf"),
    "xlsx": ("application", "vnd.openxmlformats-officedocument.spreadsheetml.sheet"),
    "html": ("text", "html"),
}


class Smtp(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    host: str = Field(min_length=1)
    port: int = Field(587, ge=1, le=65535)
    starttls: bool = True
    username: str | None = None
    password_secret: str | None = None  # name of the secret holding the password
    sender: str = Field(alias="from", min_length=3)
    ca_file: Path | None = None  # trust this CA instead of the system store
    timeout: float = 30.0

    _timeout = field_validator("timeout", mode="before")(lambda v: parse_duration(v))


class Purchaser(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    to: list[str] = Field(min_length=1)
    cc: list[str] = Field(default_factory=list)
    attach: list[str] = Field(default_factory=lambda: ["pdf", "xlsx"])


class DeliveryFile(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    smtp: Smtp
    purchaser: Purchaser


def load_delivery(folder: Path) -> DeliveryFile:
    path = folder / "delivery.yaml"
    if not path.exists():
        raise ConfigError(
            f"{path}: missing: say where filed reports are mailed (see docs/reports.md)"
        )
    return yamlfile.validate(DeliveryFile, yamlfile.load(path))


def password(spec: Smtp, secrets: dict[str, str]) -> str | None:
    if spec.password_secret is None:
        return None
    value = secrets.get(spec.password_secret.lower())
    if not value:
        raise ConfigError(
            f"delivery.yaml: smtp.password_secret: set HOTLINE_OPS_SECRET_"
            f"{spec.password_secret.upper()}"
        )
    return value


def message(
    spec: Smtp, to: list[str], cc: list[str], subject: str, body: str, files: list[Path]
) -> EmailMessage:
    msg = EmailMessage()
    msg["From"], msg["To"], msg["Subject"] = spec.sender, ", ".join(to), subject
    if cc:
        msg["Cc"] = ", ".join(cc)
    msg["Message-ID"] = make_msgid(domain=spec.sender.rpartition("@")[2] or None)
    msg.set_content(body)
    for path in files:
        main, sub = MIME[path.suffix.lstrip(".")]
        msg.add_attachment(path.read_bytes(), maintype=main, subtype=sub, filename=path.name)
    return msg


def send(spec: Smtp, secret: str | None, msg: EmailMessage, rcpts: list[str]) -> str:
    """Send; return the receipt: the server's answer to DATA and the Message-ID."""
    context = ssl.create_default_context(cafile=str(spec.ca_file) if spec.ca_file else None)
    try:
        with smtplib.SMTP(spec.host, spec.port, timeout=spec.timeout) as smtp:
            if spec.starttls:
                smtp.starttls(context=context)
            if spec.username and secret is not None:
                smtp.login(spec.username, secret)
            code, reply = _transaction(smtp, spec.sender, rcpts, msg)
    except (smtplib.SMTPException, OSError) as exc:
        raise ChannelError(f"smtp {spec.host}:{spec.port}: {exc}") from exc
    return f"{code} {reply.decode(errors='replace')}; {msg['Message-ID']}"


def _transaction(smtp: smtplib.SMTP, sender: str, rcpts: list[str], msg: EmailMessage):
    # mail/rcpt/data by hand: send_message() drops the server's answer to DATA, which is
    # the receipt the register keeps.
    smtp.ehlo_or_helo_if_needed()
    code, reply = smtp.mail(sender)
    if code != 250:
        raise smtplib.SMTPSenderRefused(code, reply, sender)
    for rcpt in rcpts:
        code, reply = smtp.rcpt(rcpt)
        if code not in (250, 251):
            raise smtplib.SMTPRecipientsRefused({rcpt: (code, reply)})
    # data() sends bytes as they are: lines must already end in CRLF (RFC 5321).
    code, reply = smtp.data(msg.as_bytes(policy=msg.policy.clone(linesep="\r\n")))
    if code != 250:
        raise smtplib.SMTPDataError(code, reply)
    return code, reply


def recipients(delivery: DeliveryFile, to: list[str] | None) -> tuple[list[str], list[str]]:
    if to:
        return list(to), []
    return list(delivery.purchaser.to), list(delivery.purchaser.cc)


def summary(record: Any) -> str:
    return f"{record.title} v{record.version} ({record.kind} {record.period})"
