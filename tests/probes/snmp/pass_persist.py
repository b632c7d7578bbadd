#!/usr/bin/env python3
"""snmpd pass_persist helper for the SNMP probe tests: a fake media gateway.

snmpd runs one copy per `pass_persist OID PROG` line. Values come from `values.json` next to
this file, checked on every request (reloaded when its inode, mtime or size changed; tests
replace it atomically) so a test can change values without restarting snmpd:
``{"1.3.6.1.2.1.10.18.6.1.10.3": ["integer", 1], ...}``. Only OIDs under this copy's subtree
(the first argument) are served, so a walk moves on to the next registration at its end.
"""

from __future__ import annotations

import bisect
import json
import sys
from pathlib import Path

VALUES = Path(__file__).with_name("values.json")


def _key(oid: str) -> tuple[int, ...]:
    return tuple(int(part) for part in oid.strip(".").split(".") if part)


class Table:
    """The values under one subtree, reloaded whenever the file is replaced or rewritten."""

    def __init__(self, subtree: tuple[int, ...]) -> None:
        self.subtree = subtree
        self.stamp: tuple[int, ...] = ()
        self.keys: list[tuple[int, ...]] = []
        self.rows: dict[tuple[int, ...], tuple[str, str]] = {}

    def refresh(self) -> None:
        try:
            info = VALUES.stat()
            stamp = (info.st_ino, info.st_mtime_ns, info.st_size)
            if stamp == self.stamp:
                return
            raw = json.loads(VALUES.read_text())
        except (OSError, ValueError):
            self.stamp, self.keys, self.rows = (), [], {}
            return
        rows = {_key(oid): (str(kind), str(value)) for oid, (kind, value) in raw.items()}
        depth = len(self.subtree)
        self.rows = {key: row for key, row in rows.items() if key[:depth] == self.subtree}
        self.keys = sorted(self.rows)
        self.stamp = stamp

    def answer(self, command: str, oid: tuple[int, ...]) -> str:
        self.refresh()
        if command == "get":
            key = oid if oid in self.rows else None
        else:
            at = bisect.bisect_right(self.keys, oid)
            key = self.keys[at] if at < len(self.keys) else None
        if key is None:
            return "NONE\n"
        kind, value = self.rows[key]
        return "." + ".".join(map(str, key)) + f"\n{kind}\n{value}\n"


def main() -> None:
    table = Table(_key(sys.argv[1]) if len(sys.argv) > 1 else ())
    while line := sys.stdin.readline():
        command = line.strip()
        if command == "PING":
            reply = "PONG\n"
        elif command in ("get", "getnext"):
            reply = table.answer(command, _key(sys.stdin.readline()))
        elif command == "set":
            sys.stdin.readline()
            sys.stdin.readline()
            reply = "not-writable\n"
        else:
            reply = "NONE\n"
        sys.stdout.write(reply)
        sys.stdout.flush()


if __name__ == "__main__":
    main()
