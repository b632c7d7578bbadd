"""A roster for routing tests: a weekly primary layer, a daily holiday layer, a secondary."""

from __future__ import annotations

from pathlib import Path

ROSTER = """\
people:
  zhang-wei:
    name: 张伟
    phone: "13800001001"
    email: zhangwei@example.cn
    channels: [pager, backup]
  li-na:
    name: 李娜
    phone: "13800001002"
    channels: [pager, backup]
  wang-qiang:
    name: 王强
    phone: "13800001003"
    channels: [pager]
  chen-jing:
    name: 陈静
    phone: "13800001005"
    channels: [pager]
  zhao-min:
    name: 赵敏
    phone: "13800001007"
    channels: [pager, backup]
    quiet_hours: "22:30-07:30"
roles:
  after-sales-manager: zhao-min
rosters:
  ops-primary:
    layers:
      - {name: weekly, rotation: weekly, handoff: "09:00", start: 2026-01-05,
         members: [zhang-wei, li-na, wang-qiang]}
      - {name: holiday, rotation: daily, handoff: "09:00", start: 2026-01-01,
         members: [chen-jing, li-na], days: holidays}
  ops-secondary:
    layers:
      - {name: workdays, rotation: daily, handoff: "09:00", start: 2026-01-01,
         members: [wang-qiang], days: workdays}
"""

CHANNELS = {"ops": {"kind": "fake"}, "pager": {"kind": "fake"}, "backup": {"kind": "fake"}}


def write_roster(root_file: Path, text: str = ROSTER) -> Path:
    path = root_file.parent / "incidents" / "roster.yaml"
    path.write_text(text, encoding="utf-8")
    return path
