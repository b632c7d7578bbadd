"""Database probe: connect, run one query, compare the first value, time the round trip.

Each check opens a fresh connection (SQLAlchemy engine with ``NullPool``, in a worker thread),
so the latency covers connect + query as a new client sees it, and a dead server is never
hidden behind a pooled connection. If the deadline passes first, the running query is
cancelled (PostgreSQL cancel request, SQLite interrupt) so the worker ends promptly.

A password in the URL never appears in a detail, a repr or a validation error: prefer
``url_env`` (the name of an environment variable holding the URL) to keep it out of config.
"""

from __future__ import annotations

import asyncio
import math
import os
import threading
import time
from collections.abc import Iterator
from contextlib import suppress
from dataclasses import dataclass
from typing import Any, ClassVar

import sqlalchemy as sa
from pydantic import ConfigDict, Field, field_validator, model_validator
from sqlalchemy.engine import URL
from sqlalchemy.pool import NullPool

from hotline_ops.probes.base import Probe, ProbeResult, TargetError, env_name, run_within

_PG_DRIVERS = ("psycopg", "psycopg2")
_MAX_SHOWN = 60  # characters of a returned value quoted in a detail


def _parse_url(text: str) -> URL:
    """A URL whose dialect loads; ValueError (never echoing the text) if not."""
    try:
        url = sa.make_url(text)
        dialect = url.get_dialect()
    except sa.exc.NoSuchModuleError as exc:
        raise ValueError(f"unknown database dialect '{text.split(':', 1)[0]}'") from exc
    except (sa.exc.ArgumentError, ValueError) as exc:
        raise ValueError("not a valid SQLAlchemy URL") from exc
    if getattr(dialect, "is_async", False):
        raise ValueError(f"'{url.drivername}' is an asyncio driver; use a blocking one")
    try:
        dialect.import_dbapi()
    except ImportError as exc:
        raise ValueError(f"database driver for '{url.drivername}' is not installed") from exc
    return url


def masked(url: URL) -> str:
    return url.render_as_string(hide_password=True)


def _one_line(exc: BaseException) -> str:
    """First line of a driver's message, whitespace collapsed (psycopg adds hints and carets)."""
    inner = exc.orig if isinstance(exc, sa.exc.DBAPIError) and exc.orig is not None else exc
    lines = [line for line in str(inner).splitlines() if line.strip()]
    return " ".join(lines[0].split()) if lines else type(inner).__name__


def _connect_args(url: URL, timeout: float) -> dict[str, Any]:
    """Driver options that bound the connect phase; values already in the URL win."""
    backend, driver = url.get_backend_name(), url.get_driver_name()
    if backend == "postgresql" and driver in _PG_DRIVERS and "connect_timeout" not in url.query:
        return {"connect_timeout": max(2, math.ceil(timeout))}  # libpq's minimum is 2 s
    if backend == "sqlite" and "timeout" not in url.query:
        return {"timeout": timeout}  # how long to wait for a locked database
    return {}


@dataclass(frozen=True)
class _Outcome:
    rows: bool
    value: str | None  # first column of the first row, as text
    latency: float


class _Query:
    """One check's DBAPI connection, which the event loop can interrupt from outside."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._connection: Any = None
        self._aborted = False

    def attach(self, connection: Any) -> None:
        with self._lock:
            if self._aborted:
                raise TargetError("check abandoned")
            self._connection = connection

    def abort(self) -> None:
        with self._lock:
            self._aborted = True
            connection = self._connection
        if connection is not None:
            # A PostgreSQL cancel request is a network round trip: never on the event loop.
            threading.Thread(target=_interrupt, args=(connection,), daemon=True).start()


def _interrupt(connection: Any) -> None:
    for name in ("cancel_safe", "cancel", "interrupt"):  # psycopg 3, psycopg2, sqlite3
        method = getattr(connection, name, None)
        if callable(method):
            with suppress(Exception):  # the query may have ended meanwhile
                method()
            return


class DbProbe(Probe):
    """Runs ``query`` on a fresh connection; ok when it succeeds (matching ``expect``) in time."""

    kind: ClassVar[str] = "db"
    params: DbProbe.Params

    class Params(Probe.Params):
        # Validation errors must not quote the input: it may be a URL with a password.
        model_config = ConfigDict(hide_input_in_errors=True)

        url: str | None = None
        url_env: str | None = None
        query: str = Field(default="SELECT 1", min_length=1)
        expect: str | None = None  # compared with str() of the first column of the first row
        max_latency_ms: float | None = Field(default=None, gt=0)

        @field_validator("url")
        @classmethod
        def _url_parses(cls, url: str | None) -> str | None:
            if url is not None:
                _parse_url(url)
            return url

        @field_validator("url_env")
        @classmethod
        def _env_name_is_valid(cls, name: str | None) -> str | None:
            return env_name("url_env", name)

        @model_validator(mode="after")
        def _one_source(self) -> DbProbe.Params:
            if (self.url is None) == (self.url_env is None):
                raise ValueError("give exactly one of url or url_env")
            return self

        def __repr_args__(self) -> Iterator[tuple[str | None, Any]]:
            for name, value in super().__repr_args__():
                shown = masked(sa.make_url(value)) if name == "url" and value else value
                yield name, shown

    async def check(self, timeout: float) -> ProbeResult:
        return await run_within(timeout, self._attempt(timeout))

    async def _attempt(self, timeout: float) -> ProbeResult:
        url = self._url()
        query = _Query()
        try:
            outcome = await asyncio.to_thread(self._run, url, timeout, query)
        except TargetError as exc:
            raise TargetError(_scrub(str(exc), url)) from None
        except BaseException:
            query.abort()  # the deadline came first: stop the query so the worker can end
            raise
        return self._judge(outcome)

    def _url(self) -> URL:
        if self.params.url is not None:
            return sa.make_url(self.params.url)
        name = self.params.url_env
        text = os.environ.get(name or "")
        if text is None:
            raise TargetError(f"environment variable {name} is not set")
        try:
            return _parse_url(text)
        except ValueError as exc:
            raise TargetError(f"environment variable {name}: {exc}") from None

    def _run(self, url: URL, timeout: float, query: _Query) -> _Outcome:
        """The blocking part, in a worker thread."""
        engine = sa.create_engine(url, poolclass=NullPool, connect_args=_connect_args(url, timeout))
        try:
            start = time.perf_counter()
            try:
                connection = engine.connect()
            except sa.exc.SQLAlchemyError as exc:
                raise TargetError(f"cannot connect to {masked(url)}: {_one_line(exc)}") from exc
            with connection:  # closing rolls back: a health check leaves nothing behind
                query.attach(connection.connection.dbapi_connection)
                rows, value = self._query(connection)
                latency = time.perf_counter() - start
            return _Outcome(rows, value, latency)
        finally:
            engine.dispose()

    def _query(self, connection: sa.Connection) -> tuple[bool, str | None]:
        try:
            # Passed to the driver as written: no bind-parameter parsing of ':' or '%'.
            result = connection.exec_driver_sql(
                self.params.query, execution_options={"no_parameters": True}
            )
            if not result.returns_rows:
                return False, None
            row = result.first()
        except sa.exc.SQLAlchemyError as exc:
            raise TargetError(f"query failed: {_one_line(exc)}") from exc
        if row is None:
            return False, None
        return True, str(row[0])

    def _judge(self, outcome: _Outcome) -> ProbeResult:
        shown = _shown(outcome.value) if outcome.rows else "no rows"
        expect = self.params.expect
        latency_ms = outcome.latency * 1000
        if expect is not None and outcome.value != expect:
            detail = f"returned {shown} (expected {_shown(expect)})"
            return ProbeResult(False, outcome.latency, detail)
        limit = self.params.max_latency_ms
        if limit is not None and latency_ms > limit:
            detail = f"took {latency_ms:.1f} ms (max {limit:g} ms)"
            return ProbeResult(False, outcome.latency, detail)
        return ProbeResult(True, outcome.latency, f"returned {shown}")


def _shown(value: str | None) -> str:
    if value is None:
        return "no rows"
    text = value if len(value) <= _MAX_SHOWN else value[: _MAX_SHOWN - 1] + "…"
    return f"'{text}'"


def _scrub(detail: str, url: URL) -> str:
    """Drivers may quote connection strings in errors: never let the password through."""
    password = url.password
    if password:
        detail = detail.replace(str(password), "***")
    return detail
