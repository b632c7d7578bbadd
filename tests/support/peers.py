"""Real peers on 127.0.0.1 for the probe and line tests: SIPp and Kamailio as SIP peers, an
snmpd playing a media gateway (its DS1, ISDN, interface and host-resources subtrees served by
tests/probes/snmp/pass_persist.py from a values file the test writes).

Every peer writes its output to a log file, never to a pipe that could fill, and is up (its
port bound, or snmpd's banner logged) before the constructor returns.
"""

from __future__ import annotations

import itertools
import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

LOCAL = "127.0.0.1"
TESTS = Path(__file__).resolve().parent.parent
SIP_DIR = TESTS / "probes" / "sip"
KAMAILIO_MODULES = "/usr/lib/x86_64-linux-gnu/kamailio/modules"
PASS_PERSIST = TESTS / "probes" / "snmp" / "pass_persist.py"

# --- processes ------------------------------------------------------------------------------


def free_port(kind: int = socket.SOCK_DGRAM) -> int:
    with socket.socket(socket.AF_INET, kind) as placeholder:
        placeholder.bind((LOCAL, 0))
        return int(placeholder.getsockname()[1])


def _bound(port: int, table: str) -> bool:
    needle = f"0100007F:{port:04X}"
    lines = Path(f"/proc/net/{table}").read_text().splitlines()[1:]
    return any(line.split()[1] == needle for line in lines)


def start_process(
    args: list[str], port: int, tables: tuple[str, ...], log: Path
) -> subprocess.Popen[bytes]:
    """Run a peer (its output to ``log``) until ``port`` is bound in every /proc/net table."""
    with log.open("wb") as out:
        proc = subprocess.Popen(args, stdin=subprocess.DEVNULL, stdout=out, stderr=out)
    deadline = time.monotonic() + 10
    while not all(_bound(port, table) for table in tables):
        if proc.poll() is not None or time.monotonic() > deadline:
            proc.kill()
            proc.wait()
            output = log.read_text(errors="replace")[-2000:]
            raise RuntimeError(f"{args[0]} did not come up on {port}: {output}")
        time.sleep(0.01)
    return proc


def stop_process(proc: subprocess.Popen[bytes]) -> None:
    """SIGTERM, then SIGKILL after 5 s; a process that already exited is left alone."""
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(5)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


# --- SIP ------------------------------------------------------------------------------------

_RUNS = itertools.count(1)


class Sipp:
    """A SIPp UAS running ``scenario_path`` on UDP ``port`` (a free one by default).

    Each run traces what it receives to its own file, so a SIPp started again on the same
    port (a trunk coming back) does not overwrite the first one's trace.
    """

    def __init__(self, scenario_path: Path, folder: Path, port: int | None = None) -> None:
        self.port = free_port() if port is None else port
        run = f"{scenario_path.name}.{self.port}.{next(_RUNS)}"
        self.messages = folder / f"{run}.messages.log"
        args = ["sipp", "-sf", str(scenario_path), "-i", LOCAL, "-p", str(self.port),
                "-mp", str(free_port()), "-cp", str(free_port()), "-nostdin",
                "-trace_msg", "-message_file", str(self.messages)]  # fmt: skip
        self.proc = start_process(args, self.port, ("udp",), folder / f"sipp.{run}.log")

    def received(self) -> list[tuple[datetime, str]]:
        """(time, message) of every message SIPp received, from its -trace_msg file."""
        time.sleep(0.05)  # SIPp writes the trace right after handling the message
        text = self.messages.read_text() if self.messages.exists() else ""
        found = re.findall(
            r"-+ (\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d+)\nUDP message received \[\d+\] bytes :\n\n"
            r"(.*?)\n\n",
            text,
            flags=re.S,
        )
        return [(datetime.fromisoformat(stamp), message) for stamp, message in found]

    def wire(self) -> str:
        """The whole trace, sent and received (an error if SIPp never wrote one)."""
        return self.messages.read_text()

    def stop(self) -> None:
        stop_process(self.proc)


def start_kamailio(rundir: Path) -> tuple[int, subprocess.Popen[bytes]]:
    """Kamailio with tests/probes/sip/kamailio.cfg on UDP and TCP; returns (port, process)."""
    port = free_port(socket.SOCK_STREAM)
    args = ["kamailio", "-f", str(SIP_DIR / "kamailio.cfg"), "-L", KAMAILIO_MODULES,
            "-Y", str(rundir), "-l", f"udp:{LOCAL}:{port}", "-l", f"tcp:{LOCAL}:{port}",
            "-E", "-DD", "-m", "32", "-M", "8"]  # fmt: skip
    return port, start_process(args, port, ("udp", "tcp"), rundir / "kamailio.log")


# --- SNMP -----------------------------------------------------------------------------------

DS1 = "1.3.6.1.2.1.10.18"
ISDN = "1.3.6.1.2.1.10.20"
LINE_STATUS = "1.3.6.1.2.1.10.18.6.1.10"
CURRENT = "1.3.6.1.2.1.10.18.7.1"
INTERVAL = "1.3.6.1.2.1.10.18.8.1"
IF_OPER = "1.3.6.1.2.1.2.2.1.8"
CPU = "1.3.6.1.2.1.25.3.3.1.2"
STORAGE = "1.3.6.1.2.1.25.2.3.1"

SPAN = 3  # the span index span() builds by default
Values = dict[str, tuple[str, Any]]


@dataclass
class SnmpAgent:
    """snmpd on a free UDP port, community "test", serving what ``serve`` last wrote."""

    port: int
    values_file: Path
    proc: subprocess.Popen[bytes]

    @classmethod
    def start(cls, folder: Path) -> SnmpAgent:
        helper = folder / "pass_persist.py"
        # snmpd runs the helper by path: point its shebang at this interpreter.
        body = PASS_PERSIST.read_text().split("\n", 1)[1]
        helper.write_text(f"#!{sys.executable}\n{body}")
        helper.chmod(0o755)
        port = free_port()
        lines = [
            f"agentAddress udp:{LOCAL}:{port}",
            f"rocommunity test {LOCAL}",
            f"pass_persist .{DS1} {helper} {DS1}",
            f"pass_persist .{ISDN} {helper} {ISDN}",
            # -p 1 wins over snmpd's own ifTable and hrProcessorTable for these columns.
            f"pass_persist -p 1 .{IF_OPER} {helper} {IF_OPER}",
            f"pass_persist -p 1 .{CPU} {helper} {CPU}",
            f"pass_persist -p 1 .{STORAGE} {helper} {STORAGE}",
        ]
        conf = folder / "snmpd.conf"
        conf.write_text("\n".join(lines) + "\n")
        log_path = folder / "snmpd.log"
        env = {**os.environ, "MIBS": "", "SNMP_PERSISTENT_DIR": str(folder / "persist")}
        with log_path.open("wb") as log:
            # -I -hrh_storage: snmpd's own hrStorageTable would shadow the helper's.
            command = ["snmpd", "-f", "-Lo", "-C", "-I", "-hrh_storage", "-c", str(conf)]
            command += ["-p", str(folder / "snmpd.pid")]
            proc = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, env=env)
        agent = cls(port, folder / "values.json", proc)
        agent.serve({})
        try:
            _wait_ready(proc, log_path)
        except BaseException:
            agent.stop()
            raise
        return agent

    def serve(self, values: Values) -> None:
        # Replaced atomically: the helper reloads when the file's inode changes.
        scratch = self.values_file.with_suffix(".tmp")
        scratch.write_text(json.dumps({oid: list(v) for oid, v in values.items()}))
        os.replace(scratch, self.values_file)

    def params(self, *checks: dict[str, Any], **more: Any) -> dict[str, Any]:
        """snmp probe params for this agent."""
        base = {"host": LOCAL, "port": self.port, "community": "test"}
        return {**base, "checks": list(checks), **more}

    def stop(self) -> None:
        self.proc.terminate()
        self.proc.wait(timeout=10)


def _wait_ready(proc: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise AssertionError(f"snmpd exited with {proc.returncode}: {log.read_text()}")
        if "NET-SNMP version" in log.read_text():
            return
        time.sleep(0.05)
    raise AssertionError(f"snmpd not ready within 10 s: {log.read_text()}")


def span(status: int, span_index: int = SPAN, rows: dict[int, tuple] | None = None) -> Values:
    """A DS1 span: line status, current 15-minute counters, and 96 interval rows.

    ``rows`` maps an interval number to (es, ses, uas, bes, css, valid_data); others are zero.
    """
    values: Values = {f"{LINE_STATUS}.{span_index}": ("integer", status)}
    current = {2: 4, 3: 1, 5: 7, 6: 0, 9: 2}  # ES, SES, UAS, CSS, BES
    for column, count in current.items():
        values[f"{CURRENT}.{column}.{span_index}"] = ("gauge", count)
    for number in range(1, 97):
        es, ses, uas, bes, css, valid = (rows or {}).get(number, (0, 0, 0, 0, 0, 1))
        cells = {3: es, 4: ses, 6: uas, 7: css, 10: bes}
        for column, count in cells.items():
            values[f"{INTERVAL}.{column}.{span_index}.{number}"] = ("gauge", count)
        values[f"{INTERVAL}.13.{span_index}.{number}"] = ("integer", valid)
    return values
