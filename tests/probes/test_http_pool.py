"""Kept-alive connections for first notices: reuse, what ends a connection's reuse, and the
one retry of a request a kept connection lost before any answer. Against a real local
HTTP/1.1 server that counts its connections and what each received."""

from __future__ import annotations

import asyncio
import contextlib

import pytest

from hotline_ops.probes import http_pool
from hotline_ops.probes.base import TargetError
from hotline_ops.probes.http import parse_kept

OK = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"


class Receiver:
    """Answers each request per ``script``: a response's bytes, or None to close the
    connection without answering, or "hang" to never answer. Records (connection, path)."""

    def __init__(self, script=None) -> None:
        self.script = script or (lambda conn, n: OK)
        self.seen: list[tuple[int, str]] = []
        self.connections = 0
        self.closed: list[int] = []

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        conn = self.connections
        try:
            # The client closing its end ends the exchange: not an error here.
            with contextlib.suppress(asyncio.IncompleteReadError, ConnectionError):
                await self._exchange(reader, writer, conn)
        finally:
            self.closed.append(conn)
            writer.close()

    async def _exchange(self, reader, writer, conn: int) -> None:
        n = 0
        while True:
            head = await reader.readuntil(b"\r\n\r\n")
            length = next(
                int(line.split(b":")[1])
                for line in head.split(b"\r\n")
                if line.lower().startswith(b"content-length")
            )
            await reader.readexactly(length)
            n += 1
            self.seen.append((conn, head.split(b" ")[1].decode()))
            answer = self.script(conn, n)
            if answer is None:
                return
            if answer != "hang":
                writer.write(answer)
                await writer.drain()


async def serve(receiver: Receiver):
    server = await asyncio.start_server(receiver.handle, "127.0.0.1", 0)
    return server, f"http://127.0.0.1:{server.sockets[0].getsockname()[1]}"


def run(receiver: Receiver, body):
    async def main():
        server, base = await serve(receiver)
        pool = http_pool.Pool(asyncio.get_running_loop())
        try:
            return await body(pool, base)
        finally:
            pool.close()
            server.close()

    return asyncio.run(main())


async def post(pool, url: str, timeout: float = 5.0):
    return await asyncio.wait_for(pool.request("POST", url, {}, b"{}"), timeout)


async def settle() -> None:
    for _ in range(3):  # the connection goes back to the pool a loop step after its answer
        await asyncio.sleep(0)


def one_after_another(*paths: str, pause: float = 0.0):
    """A test body posting to each path in turn, once the previous answer is settled."""

    async def body(pool, base):
        for path in paths:
            await post(pool, base + path)
            await settle()
            await asyncio.sleep(pause)

    return body


def test_requests_one_after_another_share_one_connection():
    receiver = Receiver()

    async def body(pool, base):
        answers = []
        for path in ("/a", "/b", "/c"):
            answers.append(await post(pool, base + path))
            await settle()
        return answers

    assert run(receiver, body) == [(200, b"ok")] * 3
    assert receiver.seen == [(1, "/a"), (1, "/b"), (1, "/c")]


def test_a_request_on_a_kept_connection_is_written_before_request_returns():
    receiver = Receiver()

    async def body(pool, base):
        await post(pool, base + "/a")
        await settle()
        (kept,) = pool.idle[("127.0.0.1", int(base.rsplit(":", 1)[1]), False)]
        task = pool.request("POST", base + "/b", {}, b"{}")
        written = kept.transport.get_write_buffer_size() == 0 and kept.requests == 2
        return written, await task

    assert run(receiver, body) == (True, (200, b"ok"))


def test_an_answer_saying_connection_close_ends_the_connection():
    closing = b"HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 2\r\n\r\nok"
    receiver = Receiver(lambda conn, n: closing)
    run(receiver, one_after_another("/a", "/b"))
    assert receiver.seen == [(1, "/a"), (2, "/b")]


def test_a_connection_idle_past_idle_s_is_not_reused(monkeypatch):
    monkeypatch.setattr(http_pool, "IDLE_S", 0.0)
    receiver = Receiver()
    run(receiver, one_after_another("/a", "/b", pause=0.01))
    assert receiver.seen == [(1, "/a"), (2, "/b")]


def test_an_idle_connection_is_closed_once_too_old_to_reuse(monkeypatch):
    monkeypatch.setattr(http_pool, "IDLE_S", 0.05)
    receiver = Receiver()

    async def body(pool, base):
        await post(pool, base + "/a")
        for _ in range(100):
            if receiver.closed:
                break
            await asyncio.sleep(0.01)
        return sum(len(kept) for kept in pool.idle.values())

    assert run(receiver, body) == 0
    assert receiver.closed == [1]


def test_a_kept_connection_lost_before_any_answer_is_retried_once_on_a_new_one():
    # The receiver's idle timeout racing our request: it drops the second request unanswered.
    receiver = Receiver(lambda conn, n: None if (conn, n) == (1, 2) else OK)

    async def body(pool, base):
        first = await post(pool, base + "/a")
        await settle()
        return first, await post(pool, base + "/b")

    assert run(receiver, body) == ((200, b"ok"), (200, b"ok"))
    assert receiver.seen == [(1, "/a"), (1, "/b"), (2, "/b")]


def test_a_new_connection_closed_without_an_answer_fails_and_is_not_retried():
    receiver = Receiver(lambda conn, n: None)

    async def body(pool, base):
        with pytest.raises(TargetError, match="connection closed before a response"):
            await post(pool, base + "/a")

    run(receiver, body)
    assert receiver.seen == [(1, "/a")]


def test_a_timed_out_request_closes_its_connection():
    receiver = Receiver(lambda conn, n: "hang" if conn == 1 else OK)

    async def body(pool, base):
        with pytest.raises(TimeoutError):
            await post(pool, base + "/a", timeout=0.2)
        for _ in range(50):
            if receiver.closed:
                break
            await asyncio.sleep(0.01)
        answer = await post(pool, base + "/b")  # a new connection: the old one is gone
        return answer

    assert run(receiver, body) == (200, b"ok")
    assert receiver.closed[:1] == [1] and receiver.seen == [(1, "/a"), (2, "/b")]


def test_a_url_it_cannot_use_is_refused_before_anything_is_sent():
    async def body(pool, base):
        with pytest.raises(ValueError, match="scheme must be http or https"):
            pool.request("POST", "ftp://127.0.0.1/x", {}, b"{}")

    receiver = Receiver()
    run(receiver, body)
    assert receiver.connections == 0


@pytest.mark.parametrize(
    ("data", "reusable"),
    [
        (OK, True),
        (b"HTTP/1.0 200 OK\r\nContent-Length: 2\r\n\r\nok", False),  # 1.0: closes by default
        (b"HTTP/1.1 200 OK\r\nConnection: Close\r\nContent-Length: 2\r\n\r\nok", False),
        (b"HTTP/1.1 204 No Content\r\n\r\n", True),
        (b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nok\r\n0\r\n\r\n", False),
        (OK + b"HTTP/1.1 200 OK\r\n", False),  # bytes after the answer
    ],
)
def test_whether_an_answer_leaves_its_connection_reusable(data, reusable):
    assert parse_kept(data, False, 1000, eof=False)[2] is reusable


def test_an_answer_framed_by_eof_or_cut_by_the_cap_leaves_it_unusable():
    by_eof = b"HTTP/1.1 200 OK\r\n\r\nall of it"
    assert parse_kept(by_eof, False, 1000, eof=True) == (200, b"all of it", False)
    long = b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\n0123456789"
    assert parse_kept(long, False, 4, eof=False) == (200, b"0123", False)
