"""The line inventory in probes/*.yaml: gateways, trunks, spans and numbers become labelled
targets; every mistake is one line naming file:line and field."""

from __future__ import annotations

from pathlib import Path

import pytest

from hotline_ops.content import load_probes
from hotline_ops.errors import ConfigError


def probes(tmp_path: Path, files: dict[str, str]) -> Path:
    folder = tmp_path / "probes"
    folder.mkdir()
    for name, text in files.items():
        (folder / name).write_text(text, encoding="utf-8")
    return folder


def probes_error(folder: Path) -> str:
    with pytest.raises(ConfigError) as caught:
        load_probes(folder)
    return str(caught.value)


# --- mistakes caught before any probe is built --------------------------------------------


def test_it_names_file_line_and_field_of_an_unknown_trunk_key(tmp_path: Path) -> None:
    text = "trunks:\n  ct-1:\n    carrier: 电信\n    host: 10.0.0.1\n    prot: 5060\n"
    folder = probes(tmp_path, {"lines.yaml": text})
    assert probes_error(folder) == (
        f"{folder}/lines.yaml:5: trunks.ct-1.prot: Extra inputs are not permitted"
    )


def test_it_names_file_line_and_field_of_an_unknown_span_key(tmp_path: Path) -> None:
    text = "spans:\n  e1-1:\n    gateway: gw-1\n    index: 1\n    chanels: 30\n"
    folder = probes(tmp_path, {"lines.yaml": text})
    assert probes_error(folder) == (
        f"{folder}/lines.yaml:5: spans.e1-1.chanels: Extra inputs are not permitted"
    )


def test_it_names_file_line_and_field_of_an_unknown_gateway_key(tmp_path: Path) -> None:
    text = "gateways:\n  gw-1:\n    host: 10.0.0.9\n    reach: 2000\n"
    folder = probes(tmp_path, {"lines.yaml": text})
    assert probes_error(folder) == (
        f"{folder}/lines.yaml:4: gateways.gw-1.reach: Extra inputs are not permitted"
    )


def test_it_names_file_line_and_field_of_an_unknown_number_key(tmp_path: Path) -> None:
    text = 'numbers:\n  "12345":\n    name: 政务服务便民热线\n    trunk: [ct-1]\n'
    folder = probes(tmp_path, {"lines.yaml": text})
    assert probes_error(folder) == (
        f"{folder}/lines.yaml:4: numbers.12345.trunk: Extra inputs are not permitted"
    )


def test_it_names_file_line_and_field_of_an_unknown_defaults_key(tmp_path: Path) -> None:
    folder = probes(tmp_path, {"lines.yaml": "defaults:\n  intervall: 5s\n"})
    assert probes_error(folder) == (
        f"{folder}/lines.yaml:2: defaults.intervall: Extra inputs are not permitted"
    )


def test_it_names_a_number_without_a_name(tmp_path: Path) -> None:
    folder = probes(tmp_path, {"lines.yaml": 'numbers:\n  "12345":\n    trunks: []\n'})
    assert probes_error(folder) == f"{folder}/lines.yaml:2: numbers.12345.name: Field required"


def test_it_names_a_trunk_without_a_host(tmp_path: Path) -> None:
    folder = probes(tmp_path, {"lines.yaml": "trunks:\n  ct-1:\n    carrier: 电信\n"})
    assert probes_error(folder) == f"{folder}/lines.yaml:2: trunks.ct-1.host: Field required"


def test_it_names_file_line_and_field_of_an_unknown_transport(tmp_path: Path) -> None:
    text = "trunks:\n  ct-1:\n    carrier: 电信\n    host: 10.0.0.1\n    transport: sctp\n"
    folder = probes(tmp_path, {"lines.yaml": text})
    assert probes_error(folder) == (
        f"{folder}/lines.yaml:5: trunks.ct-1.transport: Input should be 'udp' or 'tcp'"
    )


def test_it_names_file_line_and_field_of_a_trunk_with_no_channels(tmp_path: Path) -> None:
    text = "trunks:\n  ct-1:\n    carrier: 电信\n    host: 10.0.0.1\n    channels: 0\n"
    folder = probes(tmp_path, {"lines.yaml": text})
    assert probes_error(folder) == (
        f"{folder}/lines.yaml:5: trunks.ct-1.channels: Input should be greater than or equal to 1"
    )


def test_it_names_file_line_and_field_of_a_span_with_more_than_31_channels(
    tmp_path: Path,
) -> None:
    text = "spans:\n  e1-1:\n    gateway: gw-1\n    index: 1\n    channels: 32\n"
    folder = probes(tmp_path, {"lines.yaml": text})
    assert probes_error(folder) == (
        f"{folder}/lines.yaml:5: spans.e1-1.channels: Input should be less than or equal to 31"
    )


def test_it_names_file_line_and_field_of_a_span_index_of_0(tmp_path: Path) -> None:
    text = "spans:\n  e1-1:\n    gateway: gw-1\n    index: 0\n"
    folder = probes(tmp_path, {"lines.yaml": text})
    assert probes_error(folder) == (
        f"{folder}/lines.yaml:4: spans.e1-1.index: Input should be greater than or equal to 1"
    )


def test_it_names_file_line_and_field_of_a_bad_reach_port(tmp_path: Path) -> None:
    text = "gateways:\n  gw-1:\n    host: 10.0.0.9\n    reach_port: 70000\n"
    folder = probes(tmp_path, {"lines.yaml": text})
    assert probes_error(folder) == (
        f"{folder}/lines.yaml:4: gateways.gw-1.reach_port: "
        "Input should be less than or equal to 65535"
    )


def test_it_names_a_number_carried_by_an_unknown_trunk(tmp_path: Path) -> None:
    text = '# 号码\nnumbers:\n  "12345":\n    name: 政务服务便民热线\n    trunks: [ct-9]\n'
    folder = probes(tmp_path, {"lines.yaml": text})
    assert probes_error(folder) == (
        f"{folder}/lines.yaml:5: numbers.12345.trunks: unknown trunk 'ct-9'"
    )


def test_it_names_a_number_carried_by_an_unknown_span(tmp_path: Path) -> None:
    text = 'numbers:\n  "12345":\n    name: 政务服务便民热线\n    spans: [e1-9]\n'
    folder = probes(tmp_path, {"lines.yaml": text})
    assert probes_error(folder) == (
        f"{folder}/lines.yaml:4: numbers.12345.spans: unknown span 'e1-9'"
    )


def test_it_names_a_span_on_an_unknown_gateway(tmp_path: Path) -> None:
    text = (
        "gateways:\n  gw-1:\n    host: 10.0.0.9\nspans:\n  e1-1:\n    gateway: gw-2\n    index: 1\n"
    )
    folder = probes(tmp_path, {"lines.yaml": text})
    assert probes_error(folder) == (
        f"{folder}/lines.yaml:6: spans.e1-1.gateway: unknown gateway 'gw-2'"
    )


def test_it_names_both_places_of_a_gateway_defined_in_two_files(tmp_path: Path) -> None:
    folder = probes(
        tmp_path,
        {
            "a.yaml": "gateways:\n  gw-1:\n    host: 10.0.0.9\n",
            "b.yaml": "# 备用\ngateways:\n  gw-1:\n    host: 10.0.0.10\n",
        },
    )
    assert probes_error(folder) == (
        f"{folder}/b.yaml:3: gateways.gw-1: already defined at {folder}/a.yaml:2"
    )


# --- gateways -----------------------------------------------------------------------------


def test_it_makes_a_gateway_with_a_reach_port_a_tcp_target_on_the_lan(tmp_path: Path) -> None:
    text = "gateways:\n  gw-1:\n    host: 10.0.0.9\n    reach_port: 2000\n"
    folder = probes(tmp_path, {"lines.yaml": text})
    target = load_probes(folder)[0]["gateway:gw-1"]
    assert (target.kind, target.params, target.labels) == (
        "tcp",
        {"host": "10.0.0.9", "port": 2000},
        {"segment": "lan", "component": "gateway", "gateway": "gw-1"},
    )


def test_it_makes_no_target_of_a_gateway_without_a_reach_port(tmp_path: Path) -> None:
    folder = probes(tmp_path, {"lines.yaml": "gateways:\n  gw-1:\n    host: 10.0.0.9\n"})
    assert load_probes(folder)[0] == {}


def test_it_keeps_the_gateways_in_the_inventory(tmp_path: Path) -> None:
    folder = probes(
        tmp_path,
        {
            "a.yaml": "gateways:\n  gw-1:\n    host: 10.0.0.9\n",
            "b.yaml": "gateways:\n  gw-2:\n    host: 10.0.0.10\n    vendor: 迅时\n",
        },
    )
    gateways = load_probes(folder)[1].gateways
    assert {name: (gw.host, gw.vendor) for name, gw in gateways.items()} == {
        "gw-1": ("10.0.0.9", ""),
        "gw-2": ("10.0.0.10", "迅时"),
    }


def test_it_gives_a_gateway_target_the_default_cadence(tmp_path: Path) -> None:
    text = "gateways:\n  gw-1:\n    host: 10.0.0.9\n    reach_port: 2000\n"
    folder = probes(tmp_path, {"lines.yaml": text})
    target = load_probes(folder)[0]["gateway:gw-1"]
    assert (target.interval_s, target.timeout_s, target.attempts, target.rise) == (
        10.0,
        4.0,
        3,
        2,
    )


def test_it_takes_the_cadence_from_the_files_defaults(tmp_path: Path) -> None:
    text = (
        "defaults:\n  interval: 1m\n  timeout: 5s\n  attempts: 2\n  rise: 3\n"
        "gateways:\n  gw-1:\n    host: 10.0.0.9\n    reach_port: 2000\n"
    )
    folder = probes(tmp_path, {"lines.yaml": text})
    target = load_probes(folder)[0]["gateway:gw-1"]
    assert (target.interval_s, target.timeout_s, target.attempts, target.rise) == (
        60.0,
        5.0,
        2,
        3,
    )


def test_it_lets_an_entry_override_the_defaults_cadence(tmp_path: Path) -> None:
    text = (
        "defaults:\n  interval: 1m\n  timeout: 5s\n  attempts: 2\n  rise: 3\n"
        "gateways:\n  gw-1:\n    host: 10.0.0.9\n    reach_port: 2000\n"
        "    interval: 30s\n    attempts: 5\n"
    )
    folder = probes(tmp_path, {"lines.yaml": text})
    target = load_probes(folder)[0]["gateway:gw-1"]
    assert (target.interval_s, target.timeout_s, target.attempts, target.rise) == (
        30.0,
        5.0,
        5,
        3,
    )


def test_it_keeps_a_gateways_own_labels_beside_the_generated_ones(tmp_path: Path) -> None:
    text = (
        "gateways:\n  gw-1:\n    host: 10.0.0.9\n    reach_port: 2000\n"
        "    labels: {site: 机房A, segment: wan}\n"
    )
    folder = probes(tmp_path, {"lines.yaml": text})
    assert load_probes(folder)[0]["gateway:gw-1"].labels == {
        "site": "机房A",
        "segment": "lan",
        "component": "gateway",
        "gateway": "gw-1",
    }


def test_it_points_a_gateway_target_at_its_entry(tmp_path: Path) -> None:
    text = "# 网关\ngateways:\n  gw-0:\n    host: 10.0.0.8\n  gw-1:\n    host: 10.0.0.9\n"
    text += "    reach_port: 2000\n"
    folder = probes(tmp_path, {"lines.yaml": text})
    assert load_probes(folder)[0]["gateway:gw-1"].where == f"{folder}/lines.yaml:5"


def test_it_names_a_gateway_whose_timeout_exceeds_its_interval(tmp_path: Path) -> None:
    text = "gateways:\n  gw-1:\n    host: 10.0.0.9\n    reach_port: 2000\n    interval: 2s\n"
    folder = probes(tmp_path, {"lines.yaml": text})
    assert probes_error(folder) == (
        f"{folder}/lines.yaml:2: gateways.gw-1.timeout: must not exceed interval"
    )


def test_it_names_a_gateway_target_clashing_with_a_plain_target(tmp_path: Path) -> None:
    text = (
        "targets:\n  - name: gateway:gw-1\n    kind: fake\n"
        "gateways:\n  gw-1:\n    host: 10.0.0.9\n    reach_port: 2000\n"
    )
    folder = probes(tmp_path, {"lines.yaml": text})
    assert probes_error(folder) == (
        f"{folder}/lines.yaml:5: name: 'gateway:gw-1' already defined at {folder}/lines.yaml:2"
    )


# --- trunks, spans and numbers ------------------------------------------------------------

LINES = """\
# 线路台账
defaults:
  interval: 30s
  timeout: 5s
gateways:
  gw-1:
    host: 10.0.0.9
    community_env: GW_COMMUNITY
trunks:
  ct-1:
    carrier: 电信
    host: 10.1.0.1
    interval: 15s
  cu-1:
    carrier: 联通
    host: 10.2.0.1
    port: 5080
    transport: tcp
    options: {from_user: wuzhou}
    labels: {site: 机房A}
spans:
  e1-1:
    gateway: gw-1
    index: 3
  e1-2:
    gateway: gw-1
    index: 4
    lapd_index: 40
    rise: 1
numbers:
  "12315":
    name: 消费者投诉举报
    trunks: [ct-1]
  "12369":
    name: 环保举报
    trunks: [ct-1, cu-1]
    spans: [e1-1]
"""


@pytest.fixture
def lines(tmp_path: Path) -> Path:
    return probes(tmp_path, {"lines.yaml": LINES})


def test_it_makes_one_target_per_trunk_and_span(lines: Path) -> None:
    assert sorted(load_probes(lines)[0]) == ["span:e1-1", "span:e1-2", "trunk:ct-1", "trunk:cu-1"]


def test_it_labels_a_trunk_with_its_carrier_and_every_number_it_carries(lines: Path) -> None:
    target = load_probes(lines)[0]["trunk:ct-1"]
    assert (target.kind, target.labels) == (
        "sip_options",
        {
            "segment": "carrier",
            "component": "trunk",
            "trunk": "ct-1",
            "carrier": "电信",
            "numbers": "12315,12369",
        },
    )


def test_it_keeps_a_trunks_own_labels_beside_the_generated_ones(lines: Path) -> None:
    assert load_probes(lines)[0]["trunk:cu-1"].labels == {
        "site": "机房A",
        "segment": "carrier",
        "component": "trunk",
        "trunk": "cu-1",
        "carrier": "联通",
        "numbers": "12369",
    }


def test_it_passes_a_trunks_address_and_options_to_its_sip_options_probe(lines: Path) -> None:
    assert load_probes(lines)[0]["trunk:cu-1"].params == {
        "host": "10.2.0.1",
        "port": 5080,
        "transport": "tcp",
        "from_user": "wuzhou",
    }


def test_it_probes_a_trunk_on_udp_5060_by_default(lines: Path) -> None:
    assert load_probes(lines)[0]["trunk:ct-1"].params == {
        "host": "10.1.0.1",
        "port": 5060,
        "transport": "udp",
    }


def test_it_lets_a_trunk_override_the_defaults_interval(lines: Path) -> None:
    target = load_probes(lines)[0]["trunk:ct-1"]
    assert (target.interval_s, target.timeout_s, target.attempts, target.rise) == (
        15.0,
        5.0,
        3,
        2,
    )


def test_it_gives_a_trunk_without_overrides_the_defaults_cadence(lines: Path) -> None:
    target = load_probes(lines)[0]["trunk:cu-1"]
    assert (target.interval_s, target.timeout_s, target.attempts, target.rise) == (
        30.0,
        5.0,
        3,
        2,
    )


def test_it_points_a_trunk_target_at_its_entry(lines: Path) -> None:
    assert load_probes(lines)[0]["trunk:cu-1"].where == f"{lines}/lines.yaml:14"


def test_it_labels_a_span_with_its_gateway_and_numbers(lines: Path) -> None:
    target = load_probes(lines)[0]["span:e1-1"]
    assert (target.kind, target.labels) == (
        "snmp",
        {
            "segment": "gateway",
            "component": "span",
            "span": "e1-1",
            "gateway": "gw-1",
            "numbers": "12369",
        },
    )


def test_it_labels_a_span_that_carries_no_number_with_no_numbers(lines: Path) -> None:
    assert load_probes(lines)[0]["span:e1-2"].labels["numbers"] == ""


def test_it_reads_a_spans_e1_line_on_its_gateway(lines: Path) -> None:
    assert load_probes(lines)[0]["span:e1-1"].params == {
        "host": "10.0.0.9",
        "port": 161,
        "version": "2c",
        "checks": [{"type": "e1", "span_index": 3}],
        "community_env": "GW_COMMUNITY",
    }


def test_it_reads_the_isdn_channels_of_a_span_with_a_d_channel(lines: Path) -> None:
    assert load_probes(lines)[0]["span:e1-2"].params["checks"] == [
        {"type": "e1", "span_index": 4},
        {"type": "isdn", "lapd_index": 40, "capacity": 30, "bearer_walk": True},
    ]


def test_it_lets_a_span_override_the_defaults_rise(lines: Path) -> None:
    target = load_probes(lines)[0]["span:e1-2"]
    assert (target.interval_s, target.timeout_s, target.attempts, target.rise) == (
        30.0,
        5.0,
        3,
        1,
    )


def test_it_points_a_span_target_at_its_entry(lines: Path) -> None:
    assert load_probes(lines)[0]["span:e1-2"].where == f"{lines}/lines.yaml:25"


def test_it_keeps_the_numbers_in_the_inventory(lines: Path) -> None:
    numbers = load_probes(lines)[1].numbers
    assert {n: (s.name, s.trunks, s.spans) for n, s in numbers.items()} == {
        "12315": ("消费者投诉举报", ["ct-1"], []),
        "12369": ("环保举报", ["ct-1", "cu-1"], ["e1-1"]),
    }


def test_it_records_where_each_inventory_entry_is_defined(lines: Path) -> None:
    where = load_probes(lines)[1].where
    assert (where[("numbers", "12369")], where[("gateways", "gw-1")]) == (
        f"{lines}/lines.yaml:34",
        f"{lines}/lines.yaml:6",
    )


def test_it_names_both_places_of_a_trunk_defined_in_two_files(tmp_path: Path) -> None:
    trunk = "trunks:\n  ct-1:\n    carrier: 电信\n    host: 10.1.0.1\n"
    folder = probes(tmp_path, {"a.yaml": trunk, "b.yaml": "# 备用\n" + trunk})
    assert probes_error(folder) == (
        f"{folder}/b.yaml:3: trunks.ct-1: already defined at {folder}/a.yaml:2"
    )


def test_it_names_file_line_and_field_of_an_unknown_trunk_option(tmp_path: Path) -> None:
    text = (
        "trunks:\n  ct-1:\n    carrier: 电信\n    host: 10.1.0.1\n"
        "    options:\n      from_usr: wuzhou\n"
    )
    folder = probes(tmp_path, {"lines.yaml": text})
    assert probes_error(folder) == (
        f"{folder}/lines.yaml:6: trunks.ct-1.options.from_usr: Extra inputs are not permitted"
    )


def test_it_names_a_trunk_whose_timeout_exceeds_its_interval(tmp_path: Path) -> None:
    text = "trunks:\n  ct-1:\n    carrier: 电信\n    host: 10.1.0.1\n    interval: 3s\n"
    folder = probes(tmp_path, {"lines.yaml": text})
    assert probes_error(folder) == (
        f"{folder}/lines.yaml:2: trunks.ct-1.timeout: must not exceed interval"
    )


# --- references and keys across files ----------------------------------------------------

TRUNK_FILE = "trunks:\n  ct-1:\n    carrier: 中国电信\n    host: 127.0.0.1\n"
GATEWAY_FILE = "gateways:\n  gw-1:\n    host: 127.0.0.1\n    community_env: SNMP_C\n"


def test_it_labels_a_trunk_with_numbers_written_in_another_file(tmp_path: Path) -> None:
    numbers = 'numbers:\n  "12315":\n    name: 市场监管\n    trunks: [ct-1]\n'
    folder = probes(tmp_path, {"a.yaml": TRUNK_FILE, "b.yaml": numbers})
    targets, _ = load_probes(folder)
    assert targets["trunk:ct-1"].labels["numbers"] == "12315"


def test_it_lets_a_span_use_a_gateway_from_another_file(tmp_path: Path) -> None:
    span = "spans:\n  e1-1:\n    gateway: gw-1\n    index: 1\n"
    folder = probes(tmp_path, {"a.yaml": GATEWAY_FILE, "b.yaml": span})
    targets, _ = load_probes(folder)
    assert targets["span:e1-1"].labels["gateway"] == "gw-1"


def test_it_takes_a_bare_hotline_number_as_a_key(tmp_path: Path) -> None:
    numbers = "numbers:\n  12315:\n    name: 市场监管\n    trunks: [ct-1]\n"
    folder = probes(tmp_path, {"a.yaml": TRUNK_FILE + numbers})
    _, inventory = load_probes(folder)
    assert list(inventory.numbers) == ["12315"]


def test_it_refuses_trunk_options_that_the_inventory_sets(tmp_path: Path) -> None:
    text = TRUNK_FILE + "    options: {host: 127.0.0.2}\n"
    folder = probes(tmp_path, {"a.yaml": text})
    assert probes_error(folder) == (
        f"{folder}/a.yaml:5: trunks.ct-1.options.host: set by the inventory itself; "
        "write it on the trunk"
    )


def test_it_asks_for_the_community_of_a_gateway_that_carries_spans(tmp_path: Path) -> None:
    text = (
        "gateways:\n  gw-1:\n    host: 127.0.0.1\n"
        "spans:\n  e1-1:\n    gateway: gw-1\n    index: 1\n"
    )
    folder = probes(tmp_path, {"a.yaml": text})
    assert probes_error(folder) == (
        f"{folder}/a.yaml:2: gateways.gw-1.community_env: required: span 'e1-1' is read over SNMP"
    )


def test_it_names_an_entry_whose_name_has_other_characters(tmp_path: Path) -> None:
    text = "trunks:\n  电信-1:\n    carrier: 中国电信\n    host: 127.0.0.1\n"
    folder = probes(tmp_path, {"a.yaml": text})
    assert probes_error(folder) == (
        f"{folder}/a.yaml:2: trunks.电信-1: names may use letters, digits, '_', '.' and '-' only"
    )
