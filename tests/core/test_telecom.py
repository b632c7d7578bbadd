"""Telecom decoders: DS1 line alarms and 24 h sums, ISDN channels, IF-MIB and host load."""

from __future__ import annotations

import pytest

from hotline_ops.core.telecom import (
    LINE_STATUS_BITS,
    LINE_STATUS_ZH,
    IntervalRow,
    IntervalSummary,
    b_channels_in_use,
    bearer_status_name,
    cpu_load_average,
    d_channel_up,
    decode_line_status,
    if_oper_status_name,
    lapd_status_name,
    line_alarm_severity,
    line_status_labels_zh,
    storage_percent_used,
    summarize_intervals,
)


def test_it_decodes_no_alarm() -> None:
    assert decode_line_status(1) == ["noAlarm"]


def test_it_decodes_yellow_plus_red_alarm_lowest_bit_first() -> None:
    assert decode_line_status(32 + 2) == ["rcvFarEndLOF", "lossOfFrame"]


def test_it_decodes_every_defined_bit() -> None:
    assert decode_line_status(131_071) == list(LINE_STATUS_BITS.values())
    assert len(LINE_STATUS_BITS) == 17
    assert decode_line_status(65_536) == ["ds2PerfThreshold"]
    assert decode_line_status(64 + 8192) == ["lossOfSignal", "unavailSigState"]


@pytest.mark.parametrize("value", [0, -1, 131_072])
def test_it_rejects_a_line_status_outside_the_mib_range(value: int) -> None:
    with pytest.raises(ValueError, match=f"dsx1LineStatus {value} is outside 1..131071"):
        decode_line_status(value)


def test_it_labels_alarms_in_chinese() -> None:
    names = decode_line_status(2 + 8 + 32 + 64)
    assert line_status_labels_zh(names) == [
        "远端告警(黄警)",
        "告警指示信号(AIS)",
        "帧失步(红警)",
        "信号丢失",
    ]
    assert set(LINE_STATUS_ZH) == set(LINE_STATUS_BITS.values())
    assert line_status_labels_zh(["madeUp"]) == ["madeUp"]


@pytest.mark.parametrize(
    ("value", "severity"),
    [
        (1, "ok"),
        (2, "warning"),  # yellow: the far end lost our frame
        (4, "warning"),
        (128, "warning"),  # loopback
        (32, "critical"),  # red
        (64, "critical"),  # loss of signal
        (8, "critical"),  # AIS
        (8192, "critical"),  # unavailable
        (2 + 32, "critical"),
        (2 + 128, "warning"),
    ],
)
def test_it_grades_alarm_severity(value: int, severity: str) -> None:
    assert line_alarm_severity(decode_line_status(value)) == severity


def _row(number: int, es: int = 0, ses: int = 0, uas: int = 0, **more: int) -> IntervalRow:
    return IntervalRow(number=number, es=es, ses=ses, uas=uas, **more)


def test_it_sums_the_valid_intervals_of_the_last_24_hours() -> None:
    rows = [_row(n) for n in range(1, 97)]
    rows[0] = _row(1, es=3, ses=1, bes=2)
    rows[16] = _row(17, es=12, ses=5, uas=30, css=1)
    rows[95] = _row(96, es=1)
    rows[49] = _row(50, es=900, ses=900, uas=900, bes=900, css=900, valid_data=2)
    assert summarize_intervals(rows) == IntervalSummary(
        es=16, ses=6, uas=30, bes=2, css=1, valid_intervals=95
    )


def test_it_ignores_rows_numbered_outside_1_to_96() -> None:
    rows = [_row(0, es=5), _row(1, es=1), _row(97, es=7)]
    assert summarize_intervals(rows) == IntervalSummary(1, 0, 0, 0, 0, 1)


def test_it_summarizes_no_rows_as_zero() -> None:
    assert summarize_intervals([]) == IntervalSummary(0, 0, 0, 0, 0, 0)


def test_it_rejects_a_valid_data_that_is_not_a_truth_value() -> None:
    with pytest.raises(ValueError, match="dsx1IntervalValidData 3 is not a TruthValue"):
        summarize_intervals([_row(1, valid_data=3)])


def test_it_rejects_a_negative_counter() -> None:
    with pytest.raises(ValueError, match="interval 4 has a negative counter"):
        summarize_intervals([_row(4, es=-1)])


@pytest.mark.parametrize(("status", "up"), [(1, False), (2, False), (3, True)])
def test_it_calls_the_d_channel_up_only_in_l2_active(status: int, up: bool) -> None:
    assert d_channel_up(status) is up


def test_it_names_lapd_and_bearer_states() -> None:
    assert [lapd_status_name(v) for v in (1, 2, 3)] == ["inactive", "l1Active", "l2Active"]
    assert [bearer_status_name(v) for v in (1, 2, 3, 4)] == [
        "idle",
        "connecting",
        "connected",
        "active",
    ]


def test_it_rejects_an_undefined_lapd_state() -> None:
    with pytest.raises(ValueError, match="isdnLapdOperStatus 4 is not a defined value"):
        d_channel_up(4)


def test_it_counts_connecting_connected_and_active_b_channels_as_in_use() -> None:
    assert b_channels_in_use([1, 2, 3, 4, 1, 4, 4]) == 5
    assert b_channels_in_use([1] * 30) == 0
    assert b_channels_in_use([]) == 0


def test_it_rejects_an_undefined_bearer_state() -> None:
    with pytest.raises(ValueError, match="isdnBearerOperStatus 0 is not a defined value"):
        b_channels_in_use([1, 0])


def test_it_names_if_oper_status() -> None:
    names = [if_oper_status_name(v) for v in range(1, 8)]
    assert names == [
        "up",
        "down",
        "testing",
        "unknown",
        "dormant",
        "notPresent",
        "lowerLayerDown",
    ]
    with pytest.raises(ValueError, match="ifOperStatus 8 is not a defined value"):
        if_oper_status_name(8)


def test_it_averages_processor_load() -> None:
    assert cpu_load_average([95, 85]) == 90.0
    assert cpu_load_average([0, 1, 1]) == pytest.approx(2 / 3)


@pytest.mark.parametrize(
    ("loads", "message"),
    [([], "hrProcessorLoad has no processors"), ([50, 101], "hrProcessorLoad 101 is outside")],
)
def test_it_rejects_impossible_processor_loads(loads: list[int], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        cpu_load_average(loads)


def test_it_computes_storage_percent_used() -> None:
    assert storage_percent_used(size=1000, used=950, units=4096) == 95.0
    assert storage_percent_used(size=8, used=2, units=1) == 25.0


@pytest.mark.parametrize(
    ("size", "used", "units", "message"),
    [
        (0, 0, 4096, "hrStorageSize 0 is not positive"),
        (10, 11, 4096, "hrStorageUsed 11 is outside 0..10"),
        (10, 1, 0, "hrStorageAllocationUnits 0 is not positive"),
    ],
)
def test_it_rejects_impossible_storage_values(
    size: int, used: int, units: int, message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        storage_percent_used(size, used, units)
