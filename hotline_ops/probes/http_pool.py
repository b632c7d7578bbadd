"""Kept-alive HTTP/1.1 connections, for requests whose latency counts (an alert's first
notice, services.first_notice).

A request on a connection of its own waits for the connect (and the TLS handshake) before
its first byte leaves: half a millisecond of the event loop's time here, on the path from an
alert's arrival to its notice. On a connection kept from an earlier request it is written at
once, in the caller's own step: before the alert's request is even answered. Alertmanager's
webhook client keeps its connections alive for the same reason.

A kept connection the receiver has closed meanwhile (its idle timeout) fails before any byte
of an answer: the request is then made once more on a new connection, as Go's HTTP client
retries a request that carries an Idempotency-Key (ours always do). Connections idle longer
than IDLE_S are not reused: the common servers' idle timeouts are longer (uvicorn's is 5 s).

The responses are parsed as the HTTP probe parses them (``parse_kept``), on one event loop.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import time

from hotline_ops.probes.base import TargetError
from hotline_ops.probes.http import (
    Buffering,
    parse_kept,
    parse_target,
    request_bytes,
    tls_context,
)

IDLE_S = 4.0
PER_ORIGIN = 8  # idle connections kept per (host, port, scheme); more are closed
CAP = 1 << 16  # response body bytes read (a webhook's answer is a few bytes)

Origin = tuple[str, int, bool]


# A channel posts to one URL: parsed once, not per notice (a tenth of the request's build).
# An unusable URL raises each time (lru_cache keeps no exceptions).
_target = functools.lru_cache(maxsize=64)(parse_target)


class Stale(Exception):
    """A kept connection ended before any byte of the answer (safe to ask again)."""


class Pool:
    """Idle connections per origin, for one event loop."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop
        self.idle: dict[Origin, list[_Connection]] = {}

    def request(
        self, method: str, url: str, headers: dict[str, str], body: bytes
    ) -> asyncio.Task[tuple[int, bytes]]:
        """(status, body) of the request, started now: written before this returns when a
        kept connection is idle, else once a new one is connected. Cancelling the task
        closes the connection it was using. ValueError for a URL that cannot be used."""
        target = _target(url)
        data = request_bytes(method, target, headers, body, keep_alive=True)
        origin = (target.host, target.port, target.tls)
        kept = self._take(origin)
        first = kept.send(data) if kept is not None else None
        return self.loop.create_task(self._exchange(origin, data, first))

    async def _exchange(
        self, origin: Origin, data: bytes, first: asyncio.Future | None
    ) -> tuple[int, bytes]:
        if first is not None:
            # Stale: the receiver closed it while it was idle, so once more on a new one.
            with contextlib.suppress(Stale):
                return await first
        host, port, tls = origin
        _, connection = await self.loop.create_connection(
            lambda: _Connection(self, origin),
            host,
            port,
            ssl=tls_context(None, True) if tls else None,
        )
        return await connection.send(data)

    def _take(self, origin: Origin) -> _Connection | None:
        """The most recently used idle connection still fresh; the stale ones are closed."""
        kept = self.idle.get(origin)
        now = time.monotonic()
        while kept:
            connection = kept.pop()
            if now - connection.idle_since <= IDLE_S and connection.usable():
                return connection
            connection.close()
        return None

    def give_back(self, connection: _Connection) -> None:
        kept = self.idle.setdefault(connection.origin, [])
        if len(kept) >= PER_ORIGIN:
            connection.close()
            return
        connection.idle_since = since = time.monotonic()
        kept.append(connection)
        # Closed once too old to reuse, rather than held until a next request that may
        # never come (a receiver that never times connections out would keep them all).
        self.loop.call_later(IDLE_S, self._expire, connection, since)

    def _expire(self, connection: _Connection, since: float) -> None:
        if connection.idle_since == since and connection in self.idle.get(connection.origin, []):
            connection.close()

    def forget(self, connection: _Connection) -> None:
        kept = self.idle.get(connection.origin, [])
        if connection in kept:
            kept.remove(connection)

    def close(self) -> None:
        """Close the idle connections (those in use close as their requests end)."""
        for kept in self.idle.values():
            for connection in kept:
                with contextlib.suppress(RuntimeError):  # its loop may be closed already
                    connection.close()
        self.idle.clear()


class _Connection(Buffering):
    """One connection: one request at a time; its answer resolves the request's future."""

    def __init__(self, pool: Pool, origin: Origin) -> None:
        self.pool, self.origin = pool, origin
        self.transport: asyncio.Transport | None = None
        self.buffer = bytearray()
        self.done: asyncio.Future | None = None
        self.requests = 0
        self.idle_since = 0.0
        self.lost = False
        self.reusable = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def usable(self) -> bool:
        return not self.lost and self.transport is not None and not self.transport.is_closing()

    def send(self, data: bytes) -> asyncio.Future:
        assert self.transport is not None
        self.idle_since = -1.0  # in use: not expired by an earlier idle spell's timer
        self.done = done = self.pool.loop.create_future()
        done.add_done_callback(self._ended)
        self.buffer.clear()
        self.reusable = False
        self.requests += 1
        self.transport.write(data)
        return done

    def data_received(self, data: bytes) -> None:
        if self.done is None or self.done.done():
            self.close()  # bytes nobody asked for: the connection's framing is lost
            return
        super().data_received(data)

    def connection_lost(self, exc: Exception | None) -> None:
        self.lost = True
        self.pool.forget(self)
        done = self.done
        if done is None or done.done():
            return
        if not self.buffer and self.requests > 1:
            done.set_exception(Stale())
            return
        self._settle(eof=True)
        if not done.done():
            done.set_exception(exc or EOFError("connection closed before an answer"))

    def _settle(self, *, eof: bool) -> None:
        done = self.done
        if done is None or done.done():
            return
        if not self.buffer and eof and self.requests > 1:
            done.set_exception(Stale())
            return
        try:
            parsed = parse_kept(bytes(self.buffer), False, CAP, eof=eof)
        except (TargetError, EOFError, asyncio.IncompleteReadError) as exc:
            done.set_exception(exc)
            return
        if parsed is None:
            return
        status, body, reusable = parsed
        self.reusable = reusable and not eof
        done.set_result((status, body))

    def _ended(self, done: asyncio.Future) -> None:
        """The request ended: the connection goes back to the pool if its answer allows,
        else (cancelled, failed, ``Connection: close``) it is closed."""
        if not done.cancelled() and done.exception() is None and self.reusable and self.usable():
            self.pool.give_back(self)
        else:
            self.close()

    def close(self) -> None:
        self.pool.forget(self)
        if self.transport is not None and not self.transport.is_closing():
            self.transport.close()
