"""E-mail over SMTP with STARTTLS and AUTH: a zh-CN plain-text part and an HTML alternative.

One SMTP session per message: alerts are rare and a held connection would die on the
server's idle timeout between them. The Message-ID is derived from the dedup key, so a
redelivery after a crash is the same message to the mail client's duplicate filter.
"""

from __future__ import annotations

import hashlib
import smtplib
import ssl
from email.headerregistry import Address
from email.message import EmailMessage
from email.policy import SMTP as SMTP_POLICY
from email.utils import format_datetime
from typing import Any

from pydantic import Field, field_validator

from hotline_ops.clock import Clock, SystemClock
from hotline_ops.errors import ChannelError, ConfigError
from hotline_ops.notify import render
from hotline_ops.notify.base import Channel, Message


def _check_addr(value: str) -> str:
    local, at, domain = value.partition("@")
    if not at or not local or "." not in domain or any(c.isspace() for c in value):
        raise ValueError(f"'{value}' is not an e-mail address")
    return value


class EmailChannel(Channel):
    kind = "email"
    requires = "email"
    rate_limit = None

    class Params(Channel.Params):
        host: str = Field(min_length=1)
        port: int = Field(default=587, ge=1, le=65535)
        from_addr: str
        from_name: str = "hotline-ops"
        to: list[str] = Field(default_factory=list)
        username: str | None = None
        password_secret: str | None = None
        # Plain SMTP only for a relay on the same host; anything else must encrypt.
        starttls: bool = True
        # A private CA (or the test's self-signed certificate) to verify the server with.
        ca_file: str | None = None
        timeout_s: float = Field(default=10.0, gt=0)
        lang: str = Field(default="zh-CN", pattern=r"^(zh-CN|en)$")
        timezone: str = "Asia/Shanghai"

        @field_validator("timezone")
        @classmethod
        def _zone(cls, value: str) -> str:
            return render.check_timezone(value)

        @field_validator("from_addr")
        @classmethod
        def _from(cls, value: str) -> str:
            return _check_addr(value)

        @field_validator("to")
        @classmethod
        def _to(cls, value: list[str]) -> list[str]:
            return [_check_addr(v) for v in value]

    params: Params

    def __init__(
        self,
        name: str,
        params: dict[str, Any],
        secrets: dict[str, str] | None = None,
        *,
        clock: Clock | None = None,
    ):
        super().__init__(name, params, secrets)
        self._password = self._named_secret("password_secret", self.params.password_secret)
        if self._password is not None and self.params.username is None:
            raise ConfigError(f"channel '{name}': password_secret is set but username is not")
        self._clock: Clock = clock or SystemClock()

    def recipients(self, message: Message) -> list[str]:
        recipient = message.recipient
        if recipient is not None and recipient.email:
            return [recipient.email]
        if self.params.to:
            return list(self.params.to)
        return [self._address(message, "email")]  # raises: names the missing field

    def compose(self, message: Message) -> EmailMessage:
        """The MIME message (public so tests and `notify test` can show it)."""
        ctx = render.context(message, lang=self.params.lang, tz=self.params.timezone)
        lang = self.params.lang
        mail = EmailMessage(policy=SMTP_POLICY)
        mail["Subject"] = ctx["subject"]
        mail["From"] = Address(self.params.from_name, addr_spec=self.params.from_addr)
        mail["To"] = ", ".join(self.recipients(message))
        mail["Date"] = format_datetime(self._clock.now())
        mail["Message-ID"] = self._message_id(message.dedup_key)
        mail["Content-Language"] = lang
        # base64, not 8bit: a relay without 8BITMIME must not mangle the Chinese text.
        text = render.render(render.template_name("email", lang, "txt"), ctx) + "\n"
        mail.set_content(text, charset="utf-8", cte="base64")
        html = render.render(render.template_name("email", lang, "html"), ctx) + "\n"
        mail.add_alternative(html, subtype="html", charset="utf-8", cte="base64")
        return mail

    def _message_id(self, dedup_key: str) -> str:
        digest = hashlib.sha256(dedup_key.encode()).hexdigest()[:32]
        domain = self.params.from_addr.rpartition("@")[2]
        return f"<{digest}@{domain}>"

    def send(self, message: Message) -> None:
        mail = self.compose(message)
        where = f"{self.params.host}:{self.params.port}"
        try:
            self._deliver(mail)
        except ChannelError:
            raise
        except (smtplib.SMTPException, OSError) as exc:
            # "from None": smtplib errors can carry the server's echo of what we sent.
            raise self._smtp_error(exc, where) from None

    def _deliver(self, mail: EmailMessage) -> None:
        with smtplib.SMTP(self.params.host, self.params.port, timeout=self.params.timeout_s) as s:
            s.ehlo()
            if self.params.starttls:
                s.starttls(context=ssl.create_default_context(cafile=self.params.ca_file))
                s.ehlo()
            if self.params.username is not None:
                s.login(self.params.username, self._password or "")
            s.send_message(mail)

    def _smtp_error(self, exc: BaseException, where: str) -> ChannelError:
        permanent = _is_permanent(exc)
        text = f"SMTP {where}: {type(exc).__name__}: {_describe(exc)}"
        return ChannelError(self.mask(text), permanent=permanent)


def _is_permanent(exc: BaseException) -> bool:
    if isinstance(exc, ssl.SSLCertVerificationError | smtplib.SMTPNotSupportedError):
        return True  # wrong certificate or no STARTTLS: a configuration problem
    if isinstance(exc, smtplib.SMTPRecipientsRefused):
        return all(code >= 500 for code, _ in exc.recipients.values())
    if isinstance(exc, smtplib.SMTPResponseException):
        return exc.smtp_code >= 500  # 5xx refuses for good, 4xx says "later"
    return False  # connection refused, timeout, disconnect: the server may come back


def _describe(exc: BaseException) -> str:
    if isinstance(exc, smtplib.SMTPRecipientsRefused):
        return "; ".join(
            f"{addr}: {code} {msg.decode(errors='replace')}"
            for addr, (code, msg) in exc.recipients.items()
        )
    if isinstance(exc, smtplib.SMTPResponseException):
        msg = exc.smtp_error
        text = msg.decode(errors="replace") if isinstance(msg, bytes) else str(msg)
        return f"{exc.smtp_code} {' '.join(text.split())}"
    return " ".join(str(exc).split())
