#!/usr/bin/python
"""recording_retention: are call recordings kept for at least N years (CONTRACT P7.2)?

Recordings live in day folders under ``root`` (``layout`` is a strftime pattern relative to
``root``, default ``%Y/%m/%d``). The check is held when the oldest day folder is at least as
old as the required start (``min_years`` before today, or the service start when the
service is younger) and no day since the required start is missing or empty.
"""

from __future__ import annotations

import os
import time
from datetime import date, datetime, timedelta

from ansible.module_utils.basic import AnsibleModule

DOCUMENTATION = r"""
module: recording_retention
short_description: Check call-recording retention (oldest recording, gaps in day folders)
options:
  root: {description: Folder holding the day folders, required: true, type: path}
  layout: {description: strftime pattern of a day folder under root, default: "%Y/%m/%d", type: str}
  min_years: {description: Years recordings must be kept, default: 3, type: int}
  service_started: {description: First day of service (YYYY-MM-DD), type: str}
  today: {description: Today (YYYY-MM-DD), default is the host's date, type: str}
  max_listed: {description: How many missing days to list, default: 60, type: int}
"""


def _day(text: str | None) -> date | None:
    return datetime.strptime(text, "%Y-%m-%d").date() if text else None


def _years_before(day: date, years: int) -> date:
    try:
        return day.replace(year=day.year - years)
    except ValueError:  # 29 February
        return day.replace(year=day.year - years, day=28)


def _day_folders(root: str, layout: str) -> dict[date, str]:
    """Every folder under root whose relative path parses as a day of ``layout``."""
    depth = layout.count("/")
    found = {}
    for current, dirs, _files in os.walk(root):
        rel = os.path.relpath(current, root)
        if rel.count(os.sep) > depth:
            dirs[:] = []
            continue
        try:
            found[datetime.strptime(rel, layout).date()] = current
        except ValueError:
            continue
    return found


def _files(folder: str) -> list[str]:
    out = []
    for current, _dirs, files in os.walk(folder):
        out.extend(os.path.join(current, f) for f in files)
    return out


def _oldest_file(folders: dict[date, str]) -> tuple[str, float] | None:
    for day in sorted(folders):
        files = _files(folders[day])
        if files:
            oldest = min(files, key=lambda p: os.stat(p).st_mtime)
            return oldest, os.stat(oldest).st_mtime
    return None


def check(params: dict) -> dict:
    today = _day(params.get("today")) or date.today()
    required = _years_before(today, params["min_years"])
    started = _day(params.get("service_started"))
    if started and started > required:
        required = started
    folders = _day_folders(params["root"], params["layout"])
    oldest_day = min(folders) if folders else None
    oldest = _oldest_file(folders)
    missing = []
    day = required
    while day < today:
        if day not in folders or not _files(folders[day]):
            missing.append(day.isoformat())
        day += timedelta(days=1)
    covers = oldest_day is not None and oldest_day <= required
    return {
        "root": params["root"],
        "required_from": required.isoformat(),
        "oldest_day": oldest_day.isoformat() if oldest_day else None,
        "oldest_file": oldest[0] if oldest else None,
        "oldest_file_age_days": int((time.time() - oldest[1]) // 86400) if oldest else None,
        "day_folders": len(folders),
        "missing_days": len(missing),
        "missing": missing[: params["max_listed"]],
        "ok": covers and not missing,
    }


def main() -> None:
    module = AnsibleModule(
        argument_spec={
            "root": {"type": "path", "required": True},
            "layout": {"type": "str", "default": "%Y/%m/%d"},
            "min_years": {"type": "int", "default": 3},
            "service_started": {"type": "str"},
            "today": {"type": "str"},
            "max_listed": {"type": "int", "default": 60},
        },
        supports_check_mode=True,
    )
    if not os.path.isdir(module.params["root"]):
        module.fail_json(msg=f"录音目录不存在 / no recordings folder: {module.params['root']}")
    result = check(module.params)
    if not result["ok"]:
        why = []
        if result["oldest_day"] is None or result["oldest_day"] > result["required_from"]:
            why.append(f"最早录音 {result['oldest_day']} 晚于要求 {result['required_from']}")
        if result["missing_days"]:
            why.append(f"缺失 {result['missing_days']} 天: {', '.join(result['missing'][:5])}")
        module.fail_json(msg="录音保存不满足 P7.2 (≥3 年): " + "; ".join(why), retention=result)
    module.exit_json(changed=False, retention=result)


if __name__ == "__main__":
    main()
