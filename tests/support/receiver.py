"""A real HTTP server on loopback that stands in for a webhook receiver.

It honours the Idempotency-Key header the way a careful receiver does, so tests can count
both raw POSTs and distinct deliveries."""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


class Receiver:
    def __init__(self) -> None:
        self.posts: list[dict[str, Any]] = []
        self.status = 200
        self.lock = threading.Lock()
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}/hook"

    def _handler(self):
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                with outer.lock:
                    status = outer.status
                    if 200 <= status < 300:
                        outer.posts.append(
                            {"key": self.headers.get("Idempotency-Key"), "body": json.loads(body)}
                        )
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        return Handler

    def keys(self) -> list[str]:
        with self.lock:
            return [p["key"] for p in self.posts]

    def events(self) -> list[str]:
        with self.lock:
            return [p["body"]["data"]["event"] for p in self.posts]

    def __enter__(self) -> Receiver:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()
