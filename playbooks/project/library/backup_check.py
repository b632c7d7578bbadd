#!/usr/bin/python
"""backup_check: the newest backup is recent, big enough and matches its checksum.

A backup ``NAME`` is checked against ``NAME.sha256`` (``sha256sum`` output) next to it when
that file exists; ``require_checksum`` makes a missing one a failure.
"""

from __future__ import annotations

import glob
import hashlib
import os
import time

from ansible.module_utils.basic import AnsibleModule

DOCUMENTATION = r"""
module: backup_check
short_description: Check the newest backup's age, size and checksum
options:
  path: {description: Folder holding the backups, required: true, type: path}
  pattern: {description: Glob of backup files, default: "*", type: str}
  max_age_hours: {description: Newest backup must be younger, default: 26, type: float}
  min_size_bytes: {description: Newest backup must be at least this big, default: 1, type: int}
  require_checksum: {description: Fail when NAME.sha256 is missing, default: true, type: bool}
"""


def _sha256(path: str) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _expected(path: str) -> str | None:
    try:
        with open(path + ".sha256", encoding="utf-8") as handle:
            return handle.read().split()[0].lower()
    except (OSError, IndexError):
        return None


def check(params: dict) -> dict:
    files = [
        p
        for p in glob.glob(os.path.join(params["path"], params["pattern"]))
        if os.path.isfile(p) and not p.endswith(".sha256")
    ]
    if not files:
        return {"path": params["path"], "newest": None, "count": 0, "ok": False,
                "problems": ["没有备份文件 / no backup found"]}  # fmt: skip
    newest = max(files, key=os.path.getmtime)
    age_h = (time.time() - os.path.getmtime(newest)) / 3600
    size = os.path.getsize(newest)
    expected = _expected(newest)
    actual = _sha256(newest) if expected or params["require_checksum"] else None
    problems = []
    if age_h > params["max_age_hours"]:
        problems.append(f"最新备份已 {age_h:.1f} 小时 (上限 {params['max_age_hours']})")
    if size < params["min_size_bytes"]:
        problems.append(f"备份大小 {size} 字节 (下限 {params['min_size_bytes']})")
    if expected is None and params["require_checksum"]:
        problems.append("缺少校验文件 .sha256")
    elif expected is not None and expected != actual:
        problems.append("校验和不一致 / checksum mismatch")
    return {
        "path": params["path"], "newest": newest, "count": len(files),
        "age_hours": round(age_h, 2), "size_bytes": size, "sha256": actual,
        "checksum_ok": expected == actual if expected else None,
        "ok": not problems, "problems": problems,
    }  # fmt: skip


def main() -> None:
    module = AnsibleModule(
        argument_spec={
            "path": {"type": "path", "required": True},
            "pattern": {"type": "str", "default": "*"},
            "max_age_hours": {"type": "float", "default": 26},
            "min_size_bytes": {"type": "int", "default": 1},
            "require_checksum": {"type": "bool", "default": True},
        },
        supports_check_mode=True,
    )
    result = check(module.params)
    if not result["ok"]:
        module.fail_json(msg="备份检查未通过: " + "; ".join(result["problems"]), backup=result)
    module.exit_json(changed=False, backup=result)


if __name__ == "__main__":
    main()
