"""Writes a complete content folder (root file, probes/, incidents/) for a test."""

from __future__ import annotations

from pathlib import Path

import yaml

LEVELS = {
    "levels": {
        1: {
            "name": "系统瘫痪",
            "channels": ["ops"],
            "timers": {
                "response": {"after": "30m", "clause": "M2.1b"},
                "plan": {"after": "1h", "clause": "M2.3a"},
            },
        },
        2: {
            "name": "核心功能故障",
            "channels": ["ops"],
            "timers": {
                "response": {"after": "30m", "clause": "M2.1b"},
                "resolve": {"after": "2h", "clause": "M2.3b"},
            },
        },
        3: {
            "name": "非核心功能故障",
            "channels": ["ops"],
            "timers": {
                "response": {"after": "30m", "clause": "M2.1b"},
                "resolve": {"after": "4h", "clause": "M2.3c"},
            },
        },
    },
    "rules": [
        {"name": "system", "match": {"impact": "system"}, "level": 1},
        {"name": "core", "match": {"impact": "core"}, "level": 2},
    ],
    "default_level": 3,
}


def write_content(
    root: Path,
    *,
    targets: list[dict] | None = None,
    channels: dict | None = None,
    levels: dict | None = None,
    settings: dict | None = None,
) -> Path:
    """Create the folder; return the path of its hotline-ops.yaml."""
    (root / "probes").mkdir(parents=True, exist_ok=True)
    (root / "incidents").mkdir(parents=True, exist_ok=True)
    base = {
        "site": {"name": "测试热线"},
        "timezone": "Asia/Shanghai",
        "data_dir": "var",
        "daemon": {
            "timer_poll_s": 0.2,
            "outbox_poll_s": 0.2,
            "backoff_base_s": 1,
            "backoff_max_s": 4,
        },
    }
    _dump(root / "hotline-ops.yaml", {**base, **(settings or {})})
    default_targets = [{"name": "fake-ok", "kind": "fake", "interval": "30s"}]
    _dump(
        root / "probes" / "targets.yaml",
        {"targets": default_targets if targets is None else targets},
    )
    _dump(
        root / "incidents" / "channels.yaml",
        {"channels": channels if channels is not None else {"ops": {"kind": "fake"}}},
    )
    _dump(root / "incidents" / "levels.yaml", levels or LEVELS)
    return root / "hotline-ops.yaml"


def _dump(path: Path, data: dict) -> None:
    path.write_text(yaml.safe_dump(data, allow_unicode=True, sort_keys=False), encoding="utf-8")
