"""A lean HTTP/1.1 client for the benchmarks' load generators (raw keep-alive connections
on asyncio streams, uvloop when installed).

The load generator shares this machine's 2 cores with the servers it measures: httpx's
AsyncClient spent ~3 ms of CPU per request there, as much as the ticket API itself, so the
client's own work took a core from the server and its event loop's lag showed up as
latency. One request here costs a fraction of that.
"""

from __future__ import annotations

import asyncio
import contextlib

HOST = "127.0.0.1"


def use_uvloop() -> None:
    with contextlib.suppress(ImportError):
        import uvloop

        asyncio.set_event_loop_policy(uvloop.EventLoopPolicy())


class ClientError(Exception):
    """A request failed (timeout, refused, cut short); its connection is closed."""


class Conn:
    """One keep-alive HTTP/1.1 connection; any failure closes it (the caller reconnects)."""

    def __init__(self, port: int, headers: dict[str, str] | None = None) -> None:
        self.port = port
        self.extra = "".join(f"{k}: {v}\r\n" for k, v in (headers or {}).items())
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None

    async def request(
        self, method: str, path: str, body: bytes = b"", timeout: float = 15.0
    ) -> tuple[int, bytes]:
        try:
            return await asyncio.wait_for(self._request(method, path, body), timeout)
        except (TimeoutError, OSError, asyncio.IncompleteReadError, ValueError) as exc:
            self.close()
            raise ClientError(f"{type(exc).__name__}: {exc}") from None

    async def _request(self, method: str, path: str, body: bytes) -> tuple[int, bytes]:
        if self.writer is None:
            self.reader, self.writer = await asyncio.open_connection(HOST, self.port)
        head = (
            f"{method} {path} HTTP/1.1\r\nHost: {HOST}:{self.port}\r\n"
            f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n{self.extra}\r\n"
        )
        self.writer.write(head.encode() + body)
        assert self.reader is not None
        status_line = await self.reader.readuntil(b"\r\n")
        status = int(status_line.split()[1])
        headers = {}
        while True:
            line = await self.reader.readuntil(b"\r\n")
            if line == b"\r\n":
                break
            name, _, value = line.decode("latin-1").partition(":")
            headers[name.strip().lower()] = value.strip()
        if "content-length" in headers:
            data = await self.reader.readexactly(int(headers["content-length"]))
        elif headers.get("transfer-encoding", "").lower() == "chunked":
            data = await self._chunked()
        else:
            data = await self.reader.read()
            self.close()
        if headers.get("connection", "").lower() == "close":
            self.close()
        return status, data

    async def _chunked(self) -> bytes:
        assert self.reader is not None
        out = b""
        while True:
            size = int((await self.reader.readuntil(b"\r\n")).split(b";")[0], 16)
            if size == 0:
                await self.reader.readuntil(b"\r\n")
                return out
            out += await self.reader.readexactly(size)
            await self.reader.readexactly(2)

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
        self.reader = self.writer = None
