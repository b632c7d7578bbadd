"""Content folders (probes/, incidents/): every mistake is one line naming file:line and field."""

from __future__ import annotations

from pathlib import Path

import pytest

from hotline_ops.content import load_channels, load_levels, load_targets
from hotline_ops.errors import ConfigError
from hotline_ops.probes.registry import PROBE_KINDS

KNOWN = ", ".join(sorted(PROBE_KINDS))

LEVELS = """\
levels:
  1:
    name: 系统瘫痪
    timers:
      response: {after: 30m, clause: M2.1b}
    channels: [ops]
  2:
    name: 核心功能故障
    timers:
      response: {after: 30m, clause: M2.1b}
      resolve: {after: 2h, clause: M2.3b}
    channels: [ops]
rules:
  - name: core
    match: {impact: core}
    level: 2
default_level: 1
"""


def probes(tmp_path: Path, files: dict[str, str]) -> Path:
    folder = tmp_path / "probes"
    folder.mkdir()
    for name, text in files.items():
        (folder / name).write_text(text, encoding="utf-8")
    return folder


def targets_error(folder: Path) -> str:
    with pytest.raises(ConfigError) as caught:
        load_targets(folder)
    return str(caught.value)


def levels_file(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "levels.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def levels_error(path: Path) -> str:
    with pytest.raises(ConfigError) as caught:
        load_levels(path, {"ops"})
    return str(caught.value)


def channels_file(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "channels.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def channels_error(path: Path, secrets: dict[str, str] | None = None) -> str:
    with pytest.raises(ConfigError) as caught:
        load_channels(path, secrets or {})
    return str(caught.value)


# --- targets ------------------------------------------------------------------------------


def test_it_loads_targets_from_every_file_of_the_folder(tmp_path: Path) -> None:
    folder = probes(
        tmp_path,
        {
            "a.yaml": "targets:\n  - name: db\n    kind: fake\n",
            "b.yaml": "targets:\n  - name: web\n    kind: tcp\n    host: h\n    port: 80\n",
        },
    )
    assert sorted(load_targets(folder)) == ["db", "web"]


def test_it_keeps_probe_params_apart_from_the_common_fields(tmp_path: Path) -> None:
    folder = probes(
        tmp_path,
        {"web.yaml": "targets:\n  - name: web\n    kind: tcp\n    host: h\n    port: 80\n"},
    )
    assert load_targets(folder)["web"].params == {"host": "h", "port": 80}


def test_it_records_where_each_target_is_defined(tmp_path: Path) -> None:
    folder = probes(tmp_path, {"web.yaml": "# web\ntargets:\n  - name: web\n    kind: fake\n"})
    assert load_targets(folder)["web"].where == f"{folder}/web.yaml:3"


def test_it_reads_compound_durations(tmp_path: Path) -> None:
    text = "targets:\n  - name: a\n    kind: fake\n    interval: 1m30s\n    timeout: 1.5s\n"
    folder = probes(tmp_path, {"a.yaml": text})
    target = load_targets(folder)["a"]
    assert (target.interval_s, target.timeout_s) == (90.0, 1.5)


def test_it_reads_a_bare_number_as_seconds(tmp_path: Path) -> None:
    folder = probes(
        tmp_path, {"a.yaml": "targets:\n  - name: a\n    kind: fake\n    interval: 45\n"}
    )
    assert load_targets(folder)["a"].interval_s == 45.0


def test_it_names_file_line_and_field_of_a_bad_duration(tmp_path: Path) -> None:
    folder = probes(
        tmp_path, {"a.yaml": "targets:\n  - name: a\n    kind: fake\n    interval: soon\n"}
    )
    assert targets_error(folder) == (
        f"{folder}/a.yaml:4: targets.0.interval: "
        "not a duration: 'soon' (use e.g. 30s, 5m, 2h, 1h30m)"
    )


def test_it_names_file_line_and_field_of_a_bad_http_url(tmp_path: Path) -> None:
    folder = probes(
        tmp_path,
        {"web.yaml": "targets:\n  - name: web\n    kind: http\n    url: ftp://x\n"},
    )
    assert targets_error(folder) == (
        f"{folder}/web.yaml:4: targets.0.url: url scheme must be http or https, got 'ftp'"
    )


def test_it_names_file_line_and_field_of_an_unknown_probe_param(tmp_path: Path) -> None:
    text = "targets:\n  - name: db\n    kind: tcp\n    host: h\n    port: 5432\n    prot: 80\n"
    folder = probes(tmp_path, {"db.yaml": text})
    assert targets_error(folder) == (
        f"{folder}/db.yaml:6: targets.0.prot: Extra inputs are not permitted"
    )


def test_it_counts_the_further_problems_of_a_target(tmp_path: Path) -> None:
    text = "targets:\n  - name: db\n    kind: tcp\n    host: h\n    prot: 80\n"
    folder = probes(tmp_path, {"db.yaml": text})
    assert targets_error(folder) == f"{folder}/db.yaml:2: targets.0.port: Field required (+1 more)"


def test_it_names_the_kind_field_of_an_unknown_probe_kind(tmp_path: Path) -> None:
    text = "targets:\n  - name: a\n    kind: fake\n  - name: b\n    kind: icmp\n"
    folder = probes(tmp_path, {"a.yaml": text})
    assert targets_error(folder) == (
        f"{folder}/a.yaml:5: targets.1.kind: unknown probe kind 'icmp' (known: {KNOWN})"
    )


def test_it_names_both_places_of_a_duplicate_target_name(tmp_path: Path) -> None:
    folder = probes(
        tmp_path,
        {
            "a.yaml": "targets:\n  - name: db\n    kind: fake\n",
            "b.yaml": (
                "# more\ntargets:\n  - name: web\n    kind: fake\n  - name: db\n    kind: fake\n"
            ),
        },
    )
    assert targets_error(folder) == (
        f"{folder}/b.yaml:5: name: 'db' already defined at {folder}/a.yaml:2"
    )


def test_it_rejects_a_timeout_longer_than_the_interval(tmp_path: Path) -> None:
    text = "targets:\n  - name: a\n    kind: fake\n    interval: 10s\n    timeout: 1m\n"
    folder = probes(tmp_path, {"a.yaml": text})
    assert targets_error(folder) == (
        f"{folder}/a.yaml:5: targets.0.timeout: must not exceed interval"
    )


def test_it_checks_the_default_timeout_against_a_short_interval(tmp_path: Path) -> None:
    folder = probes(
        tmp_path, {"a.yaml": "targets:\n  - name: a\n    kind: fake\n    interval: 2s\n"}
    )
    assert targets_error(folder) == (
        f"{folder}/a.yaml:2: targets.0.timeout: must not exceed interval"
    )


def test_it_names_file_line_and_field_of_zero_attempts(tmp_path: Path) -> None:
    folder = probes(
        tmp_path, {"a.yaml": "targets:\n  - name: a\n    kind: fake\n    attempts: 0\n"}
    )
    assert targets_error(folder) == (
        f"{folder}/a.yaml:4: targets.0.attempts: Input should be greater than or equal to 1"
    )


def test_it_names_a_missing_target_name(tmp_path: Path) -> None:
    folder = probes(tmp_path, {"a.yaml": "targets:\n  - kind: fake\n"})
    assert targets_error(folder) == f"{folder}/a.yaml:2: targets.0.name: Field required"


def test_it_rejects_an_unknown_top_level_key_in_a_probes_file(tmp_path: Path) -> None:
    folder = probes(tmp_path, {"a.yaml": "target:\n  - name: a\n    kind: fake\n"})
    assert targets_error(folder) == f"{folder}/a.yaml:1: target: Extra inputs are not permitted"


# --- levels -------------------------------------------------------------------------------


def test_it_loads_the_levels_timers_in_seconds(tmp_path: Path) -> None:
    policy = load_levels(levels_file(tmp_path, LEVELS), {"ops"})
    assert [(t.kind, t.after_s, t.clause) for t in policy.levels[2].timers] == [
        ("response", 1800, "M2.1b"),
        ("resolve", 7200, "M2.3b"),
    ]


def test_it_names_a_rule_pointing_at_an_undefined_level(tmp_path: Path) -> None:
    path = levels_file(tmp_path, LEVELS.replace("    level: 2\n", "    level: 5\n"))
    assert levels_error(path) == f"{path}:16: rules.0.level: no level 5 defined"


def test_it_names_an_undefined_default_level(tmp_path: Path) -> None:
    path = levels_file(tmp_path, LEVELS.replace("default_level: 1", "default_level: 3"))
    assert levels_error(path) == f"{path}:17: default_level: no level 3 defined"


# --- channels -----------------------------------------------------------------------------


def test_it_names_the_missing_url_of_a_webhook(tmp_path: Path) -> None:
    path = channels_file(tmp_path, "channels:\n  ops:\n    kind: webhook\n    timeout_s: 2\n")
    assert channels_error(path) == f"{path}:2: channels.ops.url: Field required"


def test_it_names_file_line_and_field_of_a_bad_webhook_url(tmp_path: Path) -> None:
    path = channels_file(tmp_path, "channels:\n  ops:\n    kind: webhook\n    url: ftp://x/\n")
    assert channels_error(path) == (
        f"{path}:4: channels.ops.url: must be an http:// or https:// URL with a host"
    )


def test_it_names_an_unknown_channel_kind(tmp_path: Path) -> None:
    path = channels_file(tmp_path, "channels:\n  ops:\n    kind: pager\n")
    assert channels_error(path) == (
        f"{path}:2: channels.ops: unknown channel kind 'pager' "
        "(known: dingtalk, email, fake, sms, voice, webhook, wecom)"
    )


def test_it_names_an_undefined_token_secret(tmp_path: Path) -> None:
    text = "channels:\n  ops:\n    kind: webhook\n    url: http://x/\n    token_secret: hook\n"
    path = channels_file(tmp_path, text)
    assert channels_error(path) == (
        f"{path}:2: channels.ops: channel 'ops': token_secret 'hook' is not a defined secret"
    )


def test_it_builds_a_webhook_whose_token_secret_is_defined(tmp_path: Path) -> None:
    text = "channels:\n  ops:\n    kind: webhook\n    url: http://x/\n    token_secret: hook\n"
    channels = load_channels(channels_file(tmp_path, text), {"hook": "t0ken"})
    assert (list(channels), channels["ops"].kind) == (["ops"], "webhook")


def test_it_has_no_channels_without_a_channels_file(tmp_path: Path) -> None:
    assert load_channels(tmp_path / "channels.yaml", {}) == {}


def test_it_names_an_unknown_channel_of_a_level(tmp_path: Path) -> None:
    path = levels_file(
        tmp_path,
        LEVELS.replace("M2.3b}\n    channels: [ops]", "M2.3b}\n    channels: [ops, pager]"),
    )
    assert levels_error(path) == f"{path}:12: levels.2.channels: unknown channel 'pager'"


def test_it_names_an_unknown_timer_kind(tmp_path: Path) -> None:
    path = levels_file(
        tmp_path, LEVELS.replace("      resolve: {after: 2h", "      respond: {after: 2h")
    )
    assert levels_error(path) == (
        f"{path}:9: levels.2.timers: unknown timer respond "
        "(known: response, plan, resolve, remote_resolve, onsite_resolve)"
    )
