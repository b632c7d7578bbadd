"""App: settings + clock + store + content, built once and handed to CLI, daemon and server."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from hotline_ops.clock import Clock, SystemClock
from hotline_ops.content import Content, load_content
from hotline_ops.settings import Settings, load_settings
from hotline_ops.store.db import Store
from hotline_ops.ticket_content import TicketContent, load_tickets


@dataclass
class App:
    settings: Settings
    clock: Clock
    content: Content
    _store: Store | None = field(default=None, repr=False)
    _tickets: TicketContent | None = field(default=None, repr=False)
    _closers: list[Callable[[], None]] = field(default_factory=list, repr=False)

    @property
    def store(self) -> Store:
        # Opened on first use so that `--help` and config validation never touch the store.
        if self._store is None:
            self._store = Store(self.settings.db_url())
        return self._store

    @property
    def ticket_content(self) -> TicketContent:
        # Loaded on first use: only the ticket service needs tickets/ (raises ConfigError).
        if self._tickets is None:
            folder = self.settings.path(self.settings.paths.tickets)
            self._tickets = load_tickets(folder, channels=set(self.channels))
        return self._tickets

    @property
    def targets(self):
        return self.content.targets

    @property
    def levels(self):
        assert self.content.levels is not None
        return self.content.levels

    @property
    def channels(self):
        return self.content.channels

    def on_close(self, callback: Callable[[], None]) -> None:
        """Call ``callback`` at ``close`` (files a service opened lazily, e.g. the journal)."""
        self._closers.append(callback)

    def close(self) -> None:
        while self._closers:
            self._closers.pop()()
        for channel in self.channels.values():
            close = getattr(channel, "close", None)
            if close:
                close()
        if self._store is not None:
            self._store.dispose()


def build_app(
    settings: Settings | None = None,
    *,
    config: Path | None = None,
    clock: Clock | None = None,
    store: Store | None = None,
) -> App:
    """Load and validate everything (raising ConfigError) before anything is written."""
    settings = settings or load_settings(config)
    secrets = {name: value.get_secret_value() for name, value in settings.secrets.items()}
    content = load_content(
        settings.path(settings.paths.probes),
        settings.path(settings.paths.incidents),
        secrets,
        settings.tz,
    )
    return App(settings, clock or SystemClock(), content, store)


class SecretMaskFilter(logging.Filter):
    """Replaces every known secret in log records, whatever code formatted them."""

    def __init__(self, secrets: list[str]) -> None:
        super().__init__()
        self.secrets = [s for s in secrets if s]

    def filter(self, record: logging.LogRecord) -> bool:
        if not self.secrets:
            return True
        record.msg, record.args = self.mask(record.getMessage()), None
        if record.exc_info and not record.exc_text:
            # Exception text carries secrets too (a URL with a token in an error message).
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = self.mask(record.exc_text)
        if record.stack_info:
            record.stack_info = self.mask(record.stack_info)
        return True

    def mask(self, text: str) -> str:
        for secret in self.secrets:
            text = text.replace(secret, "***")
        return text


def setup_logging(settings: Settings) -> None:
    handler = logging.StreamHandler()
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    handler.addFilter(SecretMaskFilter(settings.secret_values()))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(settings.log_level)
    # Their INFO lines fire every poll tick; only their warnings matter to an operator.
    for noisy in ("apscheduler", "alembic", "httpx"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
