"""SNMP probe for media gateways: E1/PRI spans, ISDN channels, interfaces and host load.

Numeric OIDs only: pysnmp ships no IF-MIB or DS1-MIB and cannot download MIBs here. One
SnmpEngine per probe, reused across checks on the same event loop (an engine is bound to the
loop it first ran on, so a new loop gets a new engine). Every reply is checked before use:
noSuchObject/noSuchInstance, a wrong type, an out-of-range value or no reply at all gives a
not-ok result naming the OID, never an exception. The community string is a secret: it is read
from ``community`` (a SecretStr) or from the environment variable named by ``community_env``
at each check, and never appears in a detail or a repr.

``classification`` is the E1 span's alarm names joined by "," (e.g. "rcvFarEndLOF,lossOfFrame")
or "noAlarm"; when the gateway could not be read it is "timeout", "malformed" or "error".
"""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Annotated, Any, ClassVar, Literal, TypeVar

from pyasn1.type import univ
from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator, model_validator
from pysnmp.entity import config
from pysnmp.error import PySnmpError
from pysnmp.hlapi.v3arch.asyncio import (
    CommunityData,
    ContextData,
    ObjectIdentity,
    ObjectType,
    SnmpEngine,
    UdpTransportTarget,
    bulk_cmd,
    get_cmd,
    next_cmd,
)
from pysnmp.proto import errind
from pysnmp.proto.rfc1905 import EndOfMibView, NoSuchInstance, NoSuchObject

from hotline_ops.core.telecom import (
    TRUTH_FALSE,
    TRUTH_TRUE,
    IntervalRow,
    b_channels_in_use,
    bearer_status_name,
    cpu_load_average,
    d_channel_up,
    decode_line_status,
    if_oper_status_name,
    lapd_status_name,
    line_alarm_severity,
    storage_percent_used,
    summarize_intervals,
)
from hotline_ops.probes.base import Probe, ProbeResult, describe_error, timed_out

# DS1-MIB (RFC 4805)
DSX1_LINE_STATUS = "1.3.6.1.2.1.10.18.6.1.10"
DSX1_CURRENT_ENTRY = "1.3.6.1.2.1.10.18.7.1"
DSX1_INTERVAL_ENTRY = "1.3.6.1.2.1.10.18.8.1"
# ISDN-MIB (RFC 2127)
ISDN_LAPD_OPER_STATUS = "1.3.6.1.2.1.10.20.1.3.4.1.2"
ISDN_BEARER_OPER_STATUS = "1.3.6.1.2.1.10.20.1.2.1.1.2"
# IF-MIB (RFC 2863)
IF_OPER_STATUS = "1.3.6.1.2.1.2.2.1.8"
# HOST-RESOURCES-MIB (RFC 2790)
HR_PROCESSOR_LOAD = "1.3.6.1.2.1.25.3.3.1.2"
HR_STORAGE_ENTRY = "1.3.6.1.2.1.25.2.3.1"
HR_STORAGE_FIXED_DISK = (1, 3, 6, 1, 2, 1, 25, 2, 1, 4)
HR_STORAGE_FLASH = (1, 3, 6, 1, 2, 1, 25, 2, 1, 9)

# Column numbers of the table entries read.
_CURRENT_COLUMNS = {"es": 2, "ses": 3, "uas": 5, "css": 6, "bes": 9}
_INTERVAL_COLUMNS = {"es": 3, "ses": 4, "uas": 6, "css": 7, "bes": 10, "valid_data": 13}
_INTERVAL_OPTIONAL = {"css": 0, "bes": 0, "valid_data": 1}  # absent before RFC 2495 agents
_STORAGE_COLUMNS = {"type": 2, "descr": 3, "units": 4, "size": 5, "used": 6}

# Object names for details: "1.3.6.1.2.1.10.18.6.1.10.3 (dsx1LineStatus.3)".
_OBJECT_NAMES: dict[str, str] = {
    DSX1_LINE_STATUS: "dsx1LineStatus",
    f"{DSX1_CURRENT_ENTRY}.2": "dsx1CurrentESs",
    f"{DSX1_CURRENT_ENTRY}.3": "dsx1CurrentSESs",
    f"{DSX1_CURRENT_ENTRY}.5": "dsx1CurrentUASs",
    f"{DSX1_CURRENT_ENTRY}.6": "dsx1CurrentCSSs",
    f"{DSX1_CURRENT_ENTRY}.9": "dsx1CurrentBESs",
    f"{DSX1_INTERVAL_ENTRY}.3": "dsx1IntervalESs",
    f"{DSX1_INTERVAL_ENTRY}.4": "dsx1IntervalSESs",
    f"{DSX1_INTERVAL_ENTRY}.6": "dsx1IntervalUASs",
    f"{DSX1_INTERVAL_ENTRY}.7": "dsx1IntervalCSSs",
    f"{DSX1_INTERVAL_ENTRY}.10": "dsx1IntervalBESs",
    f"{DSX1_INTERVAL_ENTRY}.13": "dsx1IntervalValidData",
    ISDN_LAPD_OPER_STATUS: "isdnLapdOperStatus",
    ISDN_BEARER_OPER_STATUS: "isdnBearerOperStatus",
    IF_OPER_STATUS: "ifOperStatus",
    HR_PROCESSOR_LOAD: "hrProcessorLoad",
    f"{HR_STORAGE_ENTRY}.2": "hrStorageType",
    f"{HR_STORAGE_ENTRY}.3": "hrStorageDescr",
    f"{HR_STORAGE_ENTRY}.4": "hrStorageAllocationUnits",
    f"{HR_STORAGE_ENTRY}.5": "hrStorageSize",
    f"{HR_STORAGE_ENTRY}.6": "hrStorageUsed",
}

_MAX_VARBINDS = 24  # per GET: some gateways answer tooBig or drop larger requests
_BULK_VARBINDS = 48  # per GETBULK reply; an agent truncates it further if it must
_MAX_ROWS = 1_000  # a walk stops there: a buggy agent must not keep a check busy forever
_NO_SUCH_NAME = 2  # SNMPv1 error-status: how a v1 agent says noSuchInstance or end of MIB

T = TypeVar("T")


class _Check(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class E1Check(_Check):
    """One E1/T1 span: line alarms, current 15-minute counters and the last 24 hours."""

    type: Literal["e1"]
    span_index: int = Field(ge=1)  # the ifIndex of the DS1 line (dsx1LineIndex)


class IsdnCheck(_Check):
    """A PRI's D channel state and how many of its B channels are in use."""

    type: Literal["isdn"]
    lapd_index: int = Field(ge=1)  # ifIndex of the D channel in isdnLapdTable
    bearer_indexes: list[int] = Field(default_factory=list)
    bearer_walk: bool = False  # read every isdnBearerTable row instead of bearer_indexes
    capacity: int | None = Field(default=None, ge=1)  # default: the number of B channels read

    @model_validator(mode="after")
    def _one_way_to_find_bearers(self) -> IsdnCheck:
        if self.bearer_walk and self.bearer_indexes:
            raise ValueError("give bearer_indexes or bearer_walk, not both")
        return self


class IfOperCheck(_Check):
    """IF-MIB ifOperStatus of one interface; ok only when up."""

    type: Literal["if_oper"]
    if_index: int = Field(ge=1)


class HostResourcesCheck(_Check):
    """Average CPU load and the fullest storage against thresholds, in percent."""

    type: Literal["host_resources"]
    cpu_max: float = Field(default=90.0, gt=0, le=100)
    storage_max: float = Field(default=90.0, gt=0, le=100)
    # hrStorageIndex values to watch; default: every fixed disk and flash memory.
    storage_indexes: list[int] = Field(default_factory=list)


Check = Annotated[
    E1Check | IsdnCheck | IfOperCheck | HostResourcesCheck, Field(discriminator="type")
]


class _BadReply(Exception):
    """The agent answered, but not with what the MIB defines for ``oid``."""

    def __init__(self, oid: str, problem: str) -> None:
        super().__init__(f"{_label(oid)}: {problem}")


class _NoReply(Exception):
    """pysnmp gave up on a request (its own per-request timeout and retries)."""


class _NotConfigured(Exception):
    """The probe cannot run as configured, e.g. its community variable is unset."""


@dataclass
class _Outcome:
    problems: list[str] = field(default_factory=list)  # make the check not ok
    notes: list[str] = field(default_factory=list)  # shown in the detail, still ok
    metrics: dict[str, float] = field(default_factory=dict)
    alarms: list[str] = field(default_factory=list)


class SnmpProbe(Probe):
    """Reads the configured ``checks`` from one SNMP v1/v2c agent; ok when none finds a fault."""

    kind: ClassVar[str] = "snmp"
    params: SnmpProbe.Params

    class Params(Probe.Params):
        host: str = Field(min_length=1)
        port: int = Field(default=161, ge=1, le=65535)
        community: SecretStr | None = None
        community_env: str | None = Field(default=None, pattern=r"^[A-Za-z_][A-Za-z0-9_]*$")
        version: Literal["1", "2c"] = "2c"
        request_timeout: float = Field(default=1.0, gt=0, le=30)  # pysnmp's, per request
        retries: int = Field(default=1, ge=0, le=5)
        checks: list[Check] = Field(min_length=1)

        @field_validator("version", mode="before")
        @classmethod
        def _version_as_text(cls, value: Any) -> Any:
            # YAML reads `version: 1` as a number.
            return str(value) if isinstance(value, int) and not isinstance(value, bool) else value

        @model_validator(mode="after")
        def _one_community_and_unique_checks(self) -> SnmpProbe.Params:
            if (self.community is None) == (self.community_env is None):
                raise ValueError("give exactly one of community or community_env")
            kinds = [check.type for check in self.checks]
            duplicates = sorted({kind for kind in kinds if kinds.count(kind) > 1})
            if duplicates:
                # Metric names are per kind: one probe per span, D channel or interface.
                raise ValueError(f"checks: more than one '{duplicates[0]}' check")
            return self

    def __init__(self, params: dict[str, Any]) -> None:
        super().__init__(params)
        self._engine: SnmpEngine | None = None
        self._engine_loop: asyncio.AbstractEventLoop | None = None

    async def check(self, timeout: float) -> ProbeResult:
        started = time.perf_counter()
        reader: _Reader | None = None
        deadline = asyncio.timeout(timeout)
        try:
            async with deadline:
                reader = await self._reader()
                outcomes = [
                    await _RUNNERS[type(check)](reader, check) for check in self.params.checks
                ]
        except TimeoutError as exc:
            if not deadline.expired():
                return _failed(describe_error(exc), "error")
            waiting = f" waiting for {_label(reader.pending)}" if reader and reader.pending else ""
            return _failed(f"{timed_out(timeout)}{waiting}", "timeout")
        except _NoReply as exc:
            return _failed(str(exc), "timeout")
        except _BadReply as exc:
            return _failed(str(exc), "malformed")
        except _NotConfigured as exc:
            return _failed(str(exc), "error")
        except (OSError, PySnmpError) as exc:
            return _failed(describe_error(exc), "error")
        return _judge(outcomes, time.perf_counter() - started)

    async def close(self) -> None:
        self._drop_engine()

    async def _reader(self) -> _Reader:
        loop = asyncio.get_running_loop()
        if self._engine is None or self._engine_loop is not loop:
            self._drop_engine()
            self._engine, self._engine_loop = SnmpEngine(), loop
        target = await UdpTransportTarget.create(
            (self.params.host, self.params.port),
            timeout=self.params.request_timeout,
            retries=self.params.retries,
        )
        model = 0 if self.params.version == "1" else 1
        auth = CommunityData(self._community(), mpModel=model)
        return _Reader(self._engine, auth, target, self.params.retries + 1, v1=model == 0)

    def _community(self) -> str:
        if self.params.community is not None:
            return self.params.community.get_secret_value()
        name = self.params.community_env or ""
        value = os.environ.get(name, "")
        if not value:
            raise _NotConfigured(f"environment variable {name} is not set")
        return value

    def _drop_engine(self) -> None:
        engine, loop = self._engine, self._engine_loop
        self._engine, self._engine_loop = None, None
        if engine is None:
            return
        if loop is None or not loop.is_closed():
            engine.close_dispatcher()
            return
        # Its event loop is closed (one asyncio.run per check, no close()): close_dispatcher
        # would schedule on that loop and fail. Do what the loop would have done after
        # transport.close(); without that hook the socket waits for the garbage collector.
        transport = config.get_transport(engine, UdpTransportTarget.TRANSPORT_DOMAIN)
        connection_lost = getattr(
            getattr(transport, "transport", None), "_call_connection_lost", None
        )
        if connection_lost is not None:
            connection_lost(None)


class _Reader:
    """GETs and column walks for one check, remembering what it is waiting for."""

    def __init__(
        self,
        engine: SnmpEngine,
        auth: CommunityData,
        target: UdpTransportTarget,
        tries: int,
        *,
        v1: bool,
    ) -> None:
        self._engine = engine
        self._auth = auth
        self._target = target
        self._tries = tries
        self._v1 = v1
        self.pending = ""  # OID of the request in flight, for the timeout detail

    async def get(self, oids: Sequence[str]) -> dict[str, Any]:
        """Values by OID; _BadReply for a missing instance, _NoReply when the agent is silent."""
        values: dict[str, Any] = {}
        for start in range(0, len(oids), _MAX_VARBINDS):
            chunk = oids[start : start + _MAX_VARBINDS]
            self.pending = chunk[0]
            error, status, index, varbinds = await get_cmd(
                self._engine,
                self._auth,
                self._target,
                ContextData(),
                *(ObjectType(ObjectIdentity(oid)) for oid in chunk),
                lookupMib=False,
            )
            self._raise_for(error, status, index, chunk)
            if len(varbinds) != len(chunk):
                raise _BadReply(chunk[0], f"{len(varbinds)} values for {len(chunk)} OIDs")
            for oid, (name, value) in zip(chunk, varbinds, strict=True):
                if str(name) != oid:
                    raise _BadReply(oid, f"reply names {name} instead")
                _check_present(oid, value)
                values[oid] = value
        self.pending = ""
        return values

    async def walk(self, columns: Sequence[str]) -> dict[str, dict[str, Any]]:
        """Rows under the column prefixes: {index suffix "3.17": {column: value}}.

        The columns are read side by side: GETBULK in v2c (a few rows per request), GETNEXT
        in v1 (one row per request). A column ends where the agent answers with an OID outside
        it or end of MIB.
        """
        rows: dict[str, dict[str, Any]] = {}
        prefixes = {column: _oid_tuple(column) for column in columns}
        cursors = {column: prefixes[column] for column in columns}
        for _ in range(_MAX_ROWS):
            if not cursors:
                self.pending = ""
                return rows
            active = list(cursors)
            error, status, index, varbinds = await self._next(
                [_oid_text(cursors[column]) for column in active]
            )
            if self._v1 and not error and status == _NO_SUCH_NAME and 0 < index <= len(active):
                del cursors[active[int(index) - 1]]  # SNMPv1's way to say "end of MIB"
                continue
            self._raise_for(error, status, index, [_oid_text(cursors[c]) for c in active])
            if not varbinds:
                raise _BadReply(_oid_text(cursors[active[0]]), "empty reply to a walk")
            # A GETBULK reply holds the active columns' next values row after row.
            for at, (name, value) in enumerate(varbinds):
                self._advance(active[at % len(active)], tuple(name), value, prefixes, cursors, rows)
            if len(rows) > _MAX_ROWS:
                break
        raise _BadReply(columns[0], f"more than {_MAX_ROWS} rows")

    async def _next(self, oids: list[str]) -> tuple[Any, Any, Any, Sequence[Any]]:
        self.pending = oids[0]
        varbinds = [ObjectType(ObjectIdentity(oid)) for oid in oids]
        if self._v1:
            return await next_cmd(
                self._engine, self._auth, self._target, ContextData(), *varbinds, lookupMib=False
            )
        repetitions = max(1, _BULK_VARBINDS // len(oids))
        return await bulk_cmd(
            self._engine,
            self._auth,
            self._target,
            ContextData(),
            0,
            repetitions,
            *varbinds,
            lookupMib=False,
        )

    @staticmethod
    def _advance(
        column: str,
        oid: tuple[int, ...],
        value: Any,
        prefixes: dict[str, tuple[int, ...]],
        cursors: dict[str, tuple[int, ...]],
        rows: dict[str, dict[str, Any]],
    ) -> None:
        if column not in cursors:
            return  # the column ended earlier in this reply
        prefix = prefixes[column]
        if isinstance(value, EndOfMibView) or oid[: len(prefix)] != prefix:
            del cursors[column]
            return
        if oid <= cursors[column]:
            raise _BadReply(_oid_text(oid), "OID not increasing in a walk")
        cursors[column] = oid
        rows.setdefault(_oid_text(oid[len(prefix) :]), {})[column] = value

    def _raise_for(self, error: Any, status: Any, index: Any, oids: Sequence[str]) -> None:
        if isinstance(error, errind.RequestTimedOut):
            tries = f"{self._tries} tr{'y' if self._tries == 1 else 'ies'}"
            raise _NoReply(f"timeout waiting for {_label(oids[0])}: no reply after {tries}")
        if error:
            raise _BadReply(oids[0], str(error))
        if status:
            at = int(index) - 1
            raise _BadReply(oids[at] if 0 <= at < len(oids) else oids[0], status.prettyPrint())


# --- the checks -----------------------------------------------------------------------------


async def _run_e1(reader: _Reader, check: E1Check) -> _Outcome:
    span = check.span_index
    status_oid = f"{DSX1_LINE_STATUS}.{span}"
    current = {key: f"{DSX1_CURRENT_ENTRY}.{col}.{span}" for key, col in _CURRENT_COLUMNS.items()}
    values = await reader.get([status_oid, *current.values()])
    status = _integer(status_oid, values[status_oid])
    alarms = _decoded(status_oid, decode_line_status, status)
    outcome = _Outcome(alarms=[name for name in alarms if name != "noAlarm"])
    outcome.metrics["e1_line_status"] = float(status)
    for key, oid in current.items():
        outcome.metrics[f"e1_{key}_current"] = float(_counter(oid, values[oid]))
    summary = summarize_intervals(await _interval_rows(reader, span))
    outcome.metrics.update(
        e1_es_24h=float(summary.es),
        e1_ses_24h=float(summary.ses),
        e1_uas_24h=float(summary.uas),
        e1_bes_24h=float(summary.bes),
        e1_css_24h=float(summary.css),
        e1_valid_intervals=float(summary.valid_intervals),
    )
    severity = line_alarm_severity(alarms)
    if severity != "ok":
        message = f"E1 span {span}: {', '.join(outcome.alarms)}"
        (outcome.problems if severity == "critical" else outcome.notes).append(message)
    return outcome


async def _interval_rows(reader: _Reader, span: int) -> list[IntervalRow]:
    columns = {key: f"{DSX1_INTERVAL_ENTRY}.{col}.{span}" for key, col in _INTERVAL_COLUMNS.items()}
    rows = []
    for number, cells in (await reader.walk(list(columns.values()))).items():
        if not number.isdigit():
            raise _BadReply(f"{columns['es']}.{number}", "not an interval number")
        fields: dict[str, int] = {}
        for key, column in columns.items():
            oid = f"{column}.{number}"
            if column in cells:
                fields[key] = _counter(oid, cells[column])
            elif key in _INTERVAL_OPTIONAL:
                fields[key] = _INTERVAL_OPTIONAL[key]
            else:
                raise _BadReply(oid, "missing from the interval table")
        if fields["valid_data"] not in (TRUTH_TRUE, TRUTH_FALSE):
            oid = f"{columns['valid_data']}.{number}"
            raise _BadReply(oid, f"{fields['valid_data']} is not a TruthValue")
        rows.append(IntervalRow(number=int(number), **fields))
    return rows


async def _run_isdn(reader: _Reader, check: IsdnCheck) -> _Outcome:
    lapd_oid = f"{ISDN_LAPD_OPER_STATUS}.{check.lapd_index}"
    bearer_oids = [f"{ISDN_BEARER_OPER_STATUS}.{index}" for index in check.bearer_indexes]
    values = await reader.get([lapd_oid, *bearer_oids])
    lapd = _integer(lapd_oid, values[lapd_oid])
    state = _decoded(lapd_oid, lapd_status_name, lapd)
    if check.bearer_walk:
        table = await reader.walk([ISDN_BEARER_OPER_STATUS])
        values = {
            f"{ISDN_BEARER_OPER_STATUS}.{i}": c[ISDN_BEARER_OPER_STATUS] for i, c in table.items()
        }
        bearer_oids = list(values)
        if not bearer_oids:
            raise _BadReply(ISDN_BEARER_OPER_STATUS, "no B channels in the table")
    statuses = [_integer(oid, values[oid]) for oid in bearer_oids]
    for oid, status in zip(bearer_oids, statuses, strict=True):
        _decoded(oid, bearer_status_name, status)
    outcome = _Outcome()
    up = d_channel_up(lapd)
    outcome.metrics["d_channel_up"] = 1.0 if up else 0.0
    if not up:
        outcome.problems.append(f"D channel down ({state})")
    if bearer_oids:
        outcome.metrics["b_channels_in_use"] = float(b_channels_in_use(statuses))
        outcome.metrics["b_channels_capacity"] = float(check.capacity or len(statuses))
    return outcome


async def _run_if_oper(reader: _Reader, check: IfOperCheck) -> _Outcome:
    oid = f"{IF_OPER_STATUS}.{check.if_index}"
    status = _integer(oid, (await reader.get([oid]))[oid])
    name = _decoded(oid, if_oper_status_name, status)
    outcome = _Outcome(metrics={"if_oper_status": float(status)})
    if name != "up":
        outcome.problems.append(f"interface {check.if_index} {name}")
    return outcome


async def _run_host_resources(reader: _Reader, check: HostResourcesCheck) -> _Outcome:
    outcome = _Outcome()
    loads = await reader.walk([HR_PROCESSOR_LOAD])
    oids = [f"{HR_PROCESSOR_LOAD}.{index}" for index in loads]
    if not oids:
        raise _BadReply(HR_PROCESSOR_LOAD, "no processors in the table")
    percents = [
        _integer(oid, cells[HR_PROCESSOR_LOAD])
        for oid, cells in zip(oids, loads.values(), strict=True)
    ]
    cpu = _decoded(HR_PROCESSOR_LOAD, cpu_load_average, percents)
    outcome.metrics["cpu_pct"] = cpu
    if cpu > check.cpu_max:
        outcome.problems.append(f"CPU {cpu:.1f}% > {check.cpu_max:g}%")
    name, storage = await _fullest_storage(reader, check.storage_indexes)
    outcome.metrics["storage_pct"] = storage
    if storage > check.storage_max:
        outcome.problems.append(f"storage {name} {storage:.1f}% > {check.storage_max:g}%")
    return outcome


async def _fullest_storage(reader: _Reader, indexes: list[int]) -> tuple[str, float]:
    columns = {key: f"{HR_STORAGE_ENTRY}.{col}" for key, col in _STORAGE_COLUMNS.items()}
    if indexes:
        wanted = [f"{column}.{i}" for i in indexes for column in columns.values()]
        values = await reader.get(wanted)
        table = {str(i): {c: values[f"{c}.{i}"] for c in columns.values()} for i in indexes}
    else:
        table = await reader.walk(list(columns.values()))
    fullest: tuple[float, str] | None = None
    for index, cells in table.items():
        missing = [c for c in columns.values() if c not in cells]
        if missing:
            raise _BadReply(f"{missing[0]}.{index}", "missing from hrStorageTable")
        kind = cells[columns["type"]]
        if not indexes and (
            not isinstance(kind, univ.ObjectIdentifier)
            or tuple(kind) not in (HR_STORAGE_FIXED_DISK, HR_STORAGE_FLASH)
        ):
            continue
        descr = _text(f"{columns['descr']}.{index}", cells[columns["descr"]])
        size, used, units = (
            _integer(f"{columns[key]}.{index}", cells[columns[key]])
            for key in ("size", "used", "units")
        )
        if size == 0 and not indexes:
            continue  # an empty pseudo filesystem; a listed index must have a size
        percent = _decoded(f"{columns['used']}.{index}", storage_percent_used, size, used, units)
        if fullest is None or percent > fullest[0]:
            fullest = (percent, descr or f"#{index}")
    if fullest is None:
        raise _BadReply(HR_STORAGE_ENTRY, "no fixed disk or flash storage (set storage_indexes)")
    return fullest[1], fullest[0]


_RUNNERS: dict[type[BaseModel], Callable[[_Reader, Any], Any]] = {
    E1Check: _run_e1,
    IsdnCheck: _run_isdn,
    IfOperCheck: _run_if_oper,
    HostResourcesCheck: _run_host_resources,
}


# --- helpers --------------------------------------------------------------------------------


def _judge(outcomes: list[_Outcome], latency: float) -> ProbeResult:
    problems = [p for outcome in outcomes for p in outcome.problems]
    notes = [n for outcome in outcomes for n in outcome.notes]
    metrics = {k: v for outcome in outcomes for k, v in outcome.metrics.items()}
    alarms = [a for outcome in outcomes for a in outcome.alarms]
    return ProbeResult(
        ok=not problems,
        latency_s=latency,
        detail="; ".join(problems + notes) or "ok",
        metrics=metrics,
        classification=",".join(alarms) or "noAlarm",
    )


def _failed(detail: str, classification: str) -> ProbeResult:
    return ProbeResult(ok=False, latency_s=None, detail=detail, classification=classification)


def _check_present(oid: str, value: Any) -> None:
    for exception in (NoSuchObject, NoSuchInstance, EndOfMibView):
        if isinstance(value, exception):
            raise _BadReply(oid, exception.__name__[0].lower() + exception.__name__[1:])


def _integer(oid: str, value: Any) -> int:
    _check_present(oid, value)
    if not isinstance(value, univ.Integer):
        raise _BadReply(oid, f"expected an integer, got {type(value).__name__}")
    return int(value)


def _counter(oid: str, value: Any) -> int:
    number = _integer(oid, value)
    if number < 0:
        raise _BadReply(oid, f"negative counter {number}")
    return number


def _text(oid: str, value: Any) -> str:
    _check_present(oid, value)
    if not isinstance(value, univ.OctetString):
        raise _BadReply(oid, f"expected a string, got {type(value).__name__}")
    return bytes(value).decode("utf-8", errors="replace")


def _decoded(oid: str, decode: Callable[..., T], *values: Any) -> T:
    try:
        return decode(*values)
    except ValueError as exc:
        raise _BadReply(oid, str(exc)) from None


def _oid_tuple(oid: str) -> tuple[int, ...]:
    return tuple(int(part) for part in oid.strip(".").split("."))


def _oid_text(oid: tuple[int, ...]) -> str:
    return ".".join(str(part) for part in oid)


def _label(oid: str) -> str:
    """``OID (objectName.index)`` when the column is known, else the OID alone."""
    for column, name in _OBJECT_NAMES.items():
        if oid == column:
            return f"{oid} ({name})"
        if oid.startswith(column + "."):
            return f"{oid} ({name}.{oid[len(column) + 1 :]})"
    return oid
