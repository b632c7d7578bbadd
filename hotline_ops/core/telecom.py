"""Decoders for the telecom state a media gateway reports over SNMP.

E1/T1 line alarms and error counters (DS1-MIB, RFC 4805), the ISDN D and B channels of a PRI
(ISDN-MIB, RFC 2127), IF-MIB interface state and HOST-RESOURCES-MIB load. Pure: numbers in,
names and sums out; the SNMP probe does the reading. Values outside what the MIB allows raise
ValueError, so a gateway's nonsense is reported rather than misread.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Literal

Severity = Literal["ok", "warning", "critical"]

# dsx1LineStatus is a bit sum (RFC 4805); names follow the MIB's without the "dsx1" prefix.
LINE_STATUS_BITS: dict[int, str] = {
    1: "noAlarm",
    2: "rcvFarEndLOF",  # yellow alarm / RAI: the far end lost our frame
    4: "xmtFarEndLOF",
    8: "rcvAIS",
    16: "xmtAIS",
    32: "lossOfFrame",  # red alarm
    64: "lossOfSignal",
    128: "loopbackState",
    256: "T16AIS",
    512: "rcvFarEndLOMF",
    1024: "xmtFarEndLOMF",
    2048: "rcvTestCode",
    4096: "otherFailure",
    8192: "unavailSigState",
    16384: "netEquipOOS",
    32768: "rcvPayloadAIS",
    65536: "ds2PerfThreshold",
}
LINE_STATUS_MAX = 131_071  # the MIB's range is 1..131071: every defined bit set

# Chinese labels for reports and notifications.
LINE_STATUS_ZH: dict[str, str] = {
    "noAlarm": "无告警",
    "rcvFarEndLOF": "远端告警(黄警)",
    "xmtFarEndLOF": "发送远端告警",
    "rcvAIS": "告警指示信号(AIS)",
    "xmtAIS": "发送告警指示信号(AIS)",
    "lossOfFrame": "帧失步(红警)",
    "lossOfSignal": "信号丢失",
    "loopbackState": "环回状态",
    "T16AIS": "时隙16告警指示信号",
    "rcvFarEndLOMF": "远端复帧失步",
    "xmtFarEndLOMF": "发送远端复帧失步",
    "rcvTestCode": "收到测试码",
    "otherFailure": "其他故障",
    "unavailSigState": "信号不可用",
    "netEquipOOS": "网络设备退出服务",
    "rcvPayloadAIS": "净荷告警指示信号",
    "ds2PerfThreshold": "DS2性能越限",
}

# The line carries no traffic: loss of signal or frame, AIS in place of traffic, unavailable.
CRITICAL_ALARMS = frozenset(
    {
        "lossOfSignal",
        "lossOfFrame",
        "rcvAIS",
        "T16AIS",
        "rcvPayloadAIS",
        "unavailSigState",
        "netEquipOOS",
    }
)
# Everything else but noAlarm is a warning: far-end (yellow) alarms, loopback, test codes.


def decode_line_status(value: int) -> list[str]:
    """Alarm names set in a dsx1LineStatus bit sum, lowest bit first."""
    if not 1 <= value <= LINE_STATUS_MAX:
        raise ValueError(f"dsx1LineStatus {value} is outside 1..{LINE_STATUS_MAX}")
    return [name for bit, name in LINE_STATUS_BITS.items() if value & bit]


def line_status_labels_zh(names: Iterable[str]) -> list[str]:
    """Chinese labels for alarm names; an unknown name is kept as is."""
    return [LINE_STATUS_ZH.get(name, name) for name in names]


def line_alarm_severity(names: Iterable[str]) -> Severity:
    """critical for LOS/LOF/AIS/unavailable, warning for far-end or loopback, else ok."""
    raised = set(names) - {"noAlarm"}
    if raised & CRITICAL_ALARMS:
        return "critical"
    return "warning" if raised else "ok"


MAX_INTERVALS = 96  # dsx1IntervalTable keeps 96 x 15 minutes: exactly the last 24 hours
TRUTH_TRUE, TRUTH_FALSE = 1, 2  # SNMPv2-TC TruthValue


@dataclass(frozen=True)
class IntervalRow:
    """One dsx1IntervalTable row; ``valid_data`` is a TruthValue (1 true, 2 false)."""

    number: int
    es: int
    ses: int
    uas: int
    bes: int = 0
    css: int = 0
    valid_data: int = TRUTH_TRUE


@dataclass(frozen=True)
class IntervalSummary:
    """Error-second sums over the valid 15-minute intervals of the last 24 hours."""

    es: int
    ses: int
    uas: int
    bes: int
    css: int
    valid_intervals: int


def summarize_intervals(rows: Iterable[IntervalRow]) -> IntervalSummary:
    """Sum the valid rows numbered 1..96; rows the agent marks invalid are left out."""
    kept: list[IntervalRow] = []
    for row in rows:
        if row.valid_data not in (TRUTH_TRUE, TRUTH_FALSE):
            raise ValueError(f"dsx1IntervalValidData {row.valid_data} is not a TruthValue")
        if min(row.es, row.ses, row.uas, row.bes, row.css) < 0:
            raise ValueError(f"interval {row.number} has a negative counter")
        if row.valid_data == TRUTH_TRUE and 1 <= row.number <= MAX_INTERVALS:
            kept.append(row)
    return IntervalSummary(
        es=sum(row.es for row in kept),
        ses=sum(row.ses for row in kept),
        uas=sum(row.uas for row in kept),
        bes=sum(row.bes for row in kept),
        css=sum(row.css for row in kept),
        valid_intervals=len(kept),
    )


LAPD_OPER_STATUS: dict[int, str] = {1: "inactive", 2: "l1Active", 3: "l2Active"}
BEARER_OPER_STATUS: dict[int, str] = {1: "idle", 2: "connecting", 3: "connected", 4: "active"}
_BEARER_IN_USE = frozenset({2, 3, 4})


def lapd_status_name(value: int) -> str:
    """isdnLapdOperStatus as a name."""
    return _name(LAPD_OPER_STATUS, value, "isdnLapdOperStatus")


def bearer_status_name(value: int) -> str:
    """isdnBearerOperStatus as a name."""
    return _name(BEARER_OPER_STATUS, value, "isdnBearerOperStatus")


def d_channel_up(lapd_oper_status: int) -> bool:
    """The D channel carries signalling only in l2Active (layer 2 established)."""
    return lapd_status_name(lapd_oper_status) == "l2Active"


def b_channels_in_use(statuses: Sequence[int]) -> int:
    """B channels connecting, connected or active (isdnBearerOperStatus); idle ones are free."""
    for status in statuses:
        bearer_status_name(status)
    return sum(1 for status in statuses if status in _BEARER_IN_USE)


IF_OPER_STATUS: dict[int, str] = {
    1: "up",
    2: "down",
    3: "testing",
    4: "unknown",
    5: "dormant",
    6: "notPresent",
    7: "lowerLayerDown",
}


def if_oper_status_name(value: int) -> str:
    """IF-MIB ifOperStatus as a name."""
    return _name(IF_OPER_STATUS, value, "ifOperStatus")


def cpu_load_average(loads: Sequence[int]) -> float:
    """Average of hrProcessorLoad over all processors, in percent."""
    if not loads:
        raise ValueError("hrProcessorLoad has no processors")
    for load in loads:
        if not 0 <= load <= 100:
            raise ValueError(f"hrProcessorLoad {load} is outside 0..100")
    return sum(loads) / len(loads)


def storage_percent_used(size: int, used: int, units: int) -> float:
    """hrStorageUsed over hrStorageSize in percent; both count blocks of ``units`` bytes."""
    if units <= 0:
        raise ValueError(f"hrStorageAllocationUnits {units} is not positive")
    if size <= 0:
        raise ValueError(f"hrStorageSize {size} is not positive")
    if not 0 <= used <= size:
        raise ValueError(f"hrStorageUsed {used} is outside 0..{size}")
    return used * units * 100 / (size * units)


def _name(names: dict[int, str], value: int, what: str) -> str:
    try:
        return names[value]
    except KeyError:
        raise ValueError(f"{what} {value} is not a defined value") from None
