"""SSH probe: run one command on a host and judge its exit code and output.

paramiko blocks, so each check runs in a worker thread under the check's deadline. When the
deadline passes first, the event loop shuts the TCP socket down under the worker, which wakes
it at once: a slow host never keeps a thread (or the process's exit) waiting.

Host keys are always verified, against a ``known_hosts`` file or one pinned ``host_key``; an
unknown or changed key stops the check before authentication, so neither credentials nor the
command ever reach an impostor.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import os
import re
import select
import socket
import threading
import time
from contextlib import suppress
from dataclasses import dataclass
from typing import Any, ClassVar

import paramiko
from pydantic import Field, field_validator, model_validator

from hotline_ops.probes.base import Probe, ProbeResult, TargetError, env_name, run_within

# The worker's own socket and paramiko timeouts end this much after the check's deadline, so
# the deadline (reported as "timeout after …") always fires first.
_GRACE_S = 0.5
_CHUNK = 32_768
_NO_EXIT_STATUS = -1  # what paramiko reports when the channel closed without an exit status


def _parse_host_key(line: str) -> paramiko.PKey:
    """A public key from an ``ssh-ed25519 AAAA… [comment]`` line; ValueError if unusable."""
    fields = line.split()
    if len(fields) < 2:
        raise ValueError("host_key must look like 'ssh-ed25519 AAAA...'")
    key_type, data = fields[0], fields[1]
    try:
        blob = base64.b64decode(data, validate=True)
        return paramiko.PKey.from_type_string(key_type, blob)
    except (binascii.Error, paramiko.SSHException, ValueError) as exc:
        raise ValueError(f"host_key is not a valid {key_type} public key") from exc


def _endpoint(host: str, port: int) -> str:
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


class _UnknownHostKey(paramiko.SSHException):
    """Raised by the policy below; a subclass only so the detail can say what happened."""


class _RejectUnknownHost(paramiko.RejectPolicy):
    def missing_host_key(self, client: paramiko.SSHClient, hostname: str, key: Any) -> None:
        raise _UnknownHostKey(hostname)


@dataclass(frozen=True)
class _Outcome:
    exit_code: int
    output: bytes
    latency: float


class _Session:
    """One check's TCP connection, which the event loop can cut from outside the worker."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._sock: socket.socket | None = None
        self._aborted = False

    def connect(self, host: str, port: int, timeout: float) -> socket.socket:
        sock = socket.create_connection((host, port), timeout=timeout)
        with self._lock:
            if not self._aborted:
                self._sock = sock
                return sock
        sock.close()
        raise ConnectionAbortedError("check abandoned")

    def abort(self) -> None:
        with self._lock:
            self._aborted = True
            sock = self._sock
        if sock is not None:
            with suppress(OSError):  # already closed by the worker
                sock.shutdown(socket.SHUT_RDWR)


class SshProbe(Probe):
    """Runs ``command`` on ``user@host``; ok when it exits as expected and its output matches."""

    kind: ClassVar[str] = "ssh"
    params: SshProbe.Params

    class Params(Probe.Params):
        host: str = Field(min_length=1)
        port: int = Field(default=22, ge=1, le=65535)
        user: str = Field(min_length=1)
        key_file: str | None = None
        # The NAME of an environment variable holding the password, never the password.
        password_env: str | None = None
        known_hosts: str | None = None
        host_key: str | None = None
        command: str = Field(min_length=1)
        expect_exit: int = 0
        expect_regex: str | None = None
        max_output_bytes: int = Field(default=65_536, gt=0)

        @field_validator("host_key")
        @classmethod
        def _host_key_parses(cls, line: str | None) -> str | None:
            if line is not None:
                _parse_host_key(line)
            return line

        @field_validator("password_env")
        @classmethod
        def _env_name_is_valid(cls, name: str | None) -> str | None:
            return env_name("password_env", name)

        @field_validator("expect_regex")
        @classmethod
        def _regex_compiles(cls, pattern: str | None) -> str | None:
            if pattern is not None:
                try:
                    re.compile(pattern)
                except re.error as exc:
                    raise ValueError(f"expect_regex does not compile: {exc}") from exc
            return pattern

        @model_validator(mode="after")
        def _credentials_and_trust(self) -> SshProbe.Params:
            if self.key_file is None and self.password_env is None:
                raise ValueError("give key_file or password_env")
            if (self.known_hosts is None) == (self.host_key is None):
                # Host keys are always checked: there is no "accept any key" mode.
                raise ValueError("give exactly one of known_hosts or host_key")
            return self

    def __init__(self, params: dict[str, Any]) -> None:
        super().__init__(params)
        self._regex = re.compile(self.params.expect_regex) if self.params.expect_regex else None
        self._endpoint = _endpoint(self.params.host, self.params.port)
        host_key = self.params.host_key
        self._host_key = _parse_host_key(host_key) if host_key is not None else None

    async def check(self, timeout: float) -> ProbeResult:
        return await run_within(timeout, self._attempt(timeout))

    async def _attempt(self, timeout: float) -> ProbeResult:
        password = self._password()
        deadline = time.monotonic() + timeout + _GRACE_S
        session = _Session()
        try:
            outcome = await asyncio.to_thread(self._run, session, password, deadline)
        except BaseException:
            session.abort()  # wakes the worker if the deadline (a cancellation) came first
            raise
        return self._judge(outcome)

    def _password(self) -> str | None:
        name = self.params.password_env
        if name is None:
            return None
        value = os.environ.get(name)
        if value is None:
            raise TargetError(f"environment variable {name} is not set")
        return value

    def _run(self, session: _Session, password: str | None, deadline: float) -> _Outcome:
        """The blocking part, in a worker thread; paramiko errors become one-line details."""
        pkey = self._load_key()
        client = paramiko.SSHClient()
        try:
            self._trust(client)
            start = time.perf_counter()
            exit_code, output = self._execute(client, session, pkey, password, deadline)
            return _Outcome(exit_code, output, time.perf_counter() - start)
        except paramiko.BadHostKeyException as exc:
            raise TargetError(f"host key mismatch for {self._endpoint}") from exc
        except _UnknownHostKey as exc:
            raise TargetError(f"host key for {self._endpoint} is not known") from exc
        except paramiko.AuthenticationException as exc:
            raise TargetError("authentication failed") from exc
        except paramiko.SSHException as exc:
            raise TargetError(f"SSH error: {exc}") from exc
        finally:
            client.close()

    def _execute(
        self,
        client: paramiko.SSHClient,
        session: _Session,
        pkey: paramiko.PKey | None,
        password: str | None,
        deadline: float,
    ) -> tuple[int, bytes]:
        p = self.params
        sock = session.connect(p.host, p.port, _left(deadline))
        client.connect(
            p.host,
            p.port,
            username=p.user,
            pkey=pkey,
            password=password,
            sock=sock,
            look_for_keys=False,
            allow_agent=False,
            timeout=_left(deadline),
            banner_timeout=_left(deadline),
            auth_timeout=_left(deadline),
            channel_timeout=_left(deadline),
        )
        transport = client.get_transport()
        if transport is None:  # pragma: no cover - connect() either sets it or raises
            raise paramiko.SSHException("no transport after connect")
        channel = transport.open_session(timeout=_left(deadline))
        try:
            channel.exec_command(p.command)
            output = _collect(channel, p.max_output_bytes, deadline)
            if not channel.status_event.wait(_left(deadline)):
                raise TimeoutError("no exit status")
            return channel.recv_exit_status(), output
        finally:
            channel.close()

    def _load_key(self) -> paramiko.PKey | None:
        path = self.params.key_file
        if path is None:
            return None
        try:
            return paramiko.PKey.from_path(path)
        except OSError as exc:
            raise TargetError(f"cannot read key_file '{path}': {exc.strerror}") from exc
        except (paramiko.SSHException, ValueError, TypeError) as exc:
            # TypeError is how cryptography says "encrypted, and no passphrase was given".
            raise TargetError(f"cannot load key_file '{path}': {exc}") from exc

    def _trust(self, client: paramiko.SSHClient) -> None:
        keys = client.get_host_keys()  # deliberately not the system or user known_hosts
        if self._host_key is not None:
            p = self.params
            known_as = p.host if p.port == 22 else f"[{p.host}]:{p.port}"  # as paramiko looks up
            keys.add(known_as, self._host_key.get_name(), self._host_key)
        elif self.params.known_hosts is not None:
            try:
                keys.load(self.params.known_hosts)  # read only; nothing is ever written back
            except OSError as exc:
                raise TargetError(
                    f"cannot read known_hosts '{self.params.known_hosts}': {exc.strerror}"
                ) from exc
        client.set_missing_host_key_policy(_RejectUnknownHost())

    def _judge(self, outcome: _Outcome) -> ProbeResult:
        code = outcome.exit_code
        metrics = {"exit_code": float(code)}
        if code != self.params.expect_exit:
            shown = "no exit status" if code == _NO_EXIT_STATUS else f"exit {code}"
            detail = f"{shown} (expected {self.params.expect_exit})"
            return ProbeResult(False, outcome.latency, detail, metrics)
        text = outcome.output.decode("utf-8", errors="replace")
        if self._regex is not None and not self._regex.search(text):
            detail = f"output did not match '{self._regex.pattern}'"
            return ProbeResult(False, outcome.latency, detail, metrics)
        return ProbeResult(True, outcome.latency, f"exit {code}", metrics)


def _left(deadline: float) -> float:
    left = deadline - time.monotonic()
    if left <= 0:
        raise TimeoutError("deadline passed")
    return left


def _collect(channel: paramiko.Channel, cap: int, deadline: float) -> bytes:
    """Stdout up to ``cap`` bytes until EOF; stderr and the excess are read and dropped.

    Both streams are drained as they arrive: unread data would fill the SSH window and stall
    a chatty command until the deadline.
    """
    output = bytearray()
    fd = channel.fileno()  # readable while stdout or stderr data is buffered, and after EOF
    while True:
        _drain(channel, output, cap)
        if channel.eof_received or channel.closed:
            _drain(channel, output, cap)  # data that raced in with the EOF
            return bytes(output)
        select.select([fd], [], [], _left(deadline))


def _drain(channel: paramiko.Channel, output: bytearray, cap: int) -> None:
    while channel.recv_ready():
        output += channel.recv(_CHUNK)[: cap - len(output)]
    while channel.recv_stderr_ready():
        channel.recv_stderr(_CHUNK)
