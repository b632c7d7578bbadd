#!/usr/bin/python
"""inspection_facts: what the monthly inspection (CONTRACT M2.2a) records for one host.

OS and kernel, pending package updates (the patch level), certificate expiry, NTP sync and
disk usage. The runner stores the result per host and month (table ``inspection_facts``) and
computes disk growth against the previous month. Every probe that cannot tell says so
(``None`` / ``unknown``) rather than guessing.
"""

from __future__ import annotations

import os
import platform
import shutil
import subprocess
from datetime import UTC, datetime

from ansible.module_utils.basic import AnsibleModule

DOCUMENTATION = r"""
module: inspection_facts
short_description: Gather OS patch level, certificate expiry, NTP sync and disk usage
options:
  certificates:
    {description: PEM certificate files to check, default: [], type: list, elements: path}
  mounts:
    {description: Mount points (default all real file systems), type: list, elements: path}
"""

REAL_FS = {"ext2", "ext3", "ext4", "xfs", "btrfs", "zfs", "vfat", "overlay", "nfs", "nfs4"}


def _run(args: list[str]) -> tuple[int, str]:
    if shutil.which(args[0]) is None:
        return 127, ""
    try:
        done = subprocess.run(args, capture_output=True, text=True, timeout=60, check=False)
    except (OSError, subprocess.TimeoutExpired):
        return 1, ""
    return done.returncode, done.stdout


def os_release() -> dict:
    info = {}
    try:
        with open("/etc/os-release", encoding="utf-8") as handle:
            for line in handle:
                key, _, value = line.strip().partition("=")
                if key in ("ID", "VERSION_ID", "PRETTY_NAME"):
                    info[key.lower()] = value.strip('"')
    except OSError:
        pass
    info["kernel"] = platform.release()
    return info


def patches() -> dict:
    """Pending updates; security ones counted apart (apt: the -security archive)."""
    rc, out = _run(["apt-get", "-s", "-o", "Debug::NoLocking=1", "upgrade"])
    if rc == 0:
        pending = [line for line in out.splitlines() if line.startswith("Inst ")]
        security = [line for line in pending if "security" in line.lower()]
        return {"manager": "apt", "pending": len(pending), "security": len(security)}
    rc, out = _run(["yum", "-q", "check-update"])
    if rc in (0, 100):
        pending = [line for line in out.splitlines() if line.strip() and not line[0].isspace()]
        return {"manager": "yum", "pending": len(pending), "security": None}
    return {"manager": "unknown", "pending": None, "security": None}


def certificate(path: str, now: datetime) -> dict:
    rc, out = _run(["openssl", "x509", "-noout", "-enddate", "-subject", "-in", path])
    if rc != 0:
        return {"path": path, "error": "unreadable or not a PEM certificate"}
    fields = dict(line.split("=", 1) for line in out.splitlines() if "=" in line)
    not_after = datetime.strptime(fields["notAfter"].strip(), "%b %d %H:%M:%S %Y %Z")
    not_after = not_after.replace(tzinfo=UTC)
    return {
        "path": path,
        "subject": fields.get("subject", "").strip(),
        "not_after": not_after.isoformat(),
        "days_left": (not_after - now).days,
    }


def ntp() -> dict:
    rc, out = _run(["chronyc", "-n", "tracking"])
    if rc == 0:
        normal = any(ln.startswith("Leap status") and "Normal" in ln for ln in out.splitlines())
        return {"source": "chronyc", "synced": normal}
    rc, out = _run(["timedatectl", "show", "-p", "NTPSynchronized", "--value"])
    if rc == 0 and out.strip() in ("yes", "no"):
        return {"source": "timedatectl", "synced": out.strip() == "yes"}
    rc, out = _run(["ntpq", "-pn"])
    if rc == 0:
        return {"source": "ntpq", "synced": any(ln.startswith("*") for ln in out.splitlines())}
    return {"source": "unknown", "synced": None}


def mounts(given: list[str] | None) -> list[str]:
    if given:
        return given
    found = []
    try:
        with open("/proc/mounts", encoding="utf-8") as handle:
            for line in handle:
                parts = line.split()
                if len(parts) > 2 and parts[2] in REAL_FS and parts[1] not in found:
                    found.append(parts[1])
    except OSError:
        found = ["/"]
    return found or ["/"]


def disk(mount: str) -> dict:
    st = os.statvfs(mount)
    size = st.f_blocks * st.f_frsize
    used = (st.f_blocks - st.f_bfree) * st.f_frsize
    pct = round(100.0 * used / size, 1) if size else 0.0
    return {"mount": mount, "size_bytes": size, "used_bytes": used, "used_pct": pct}


def gather(params: dict) -> dict:
    now = datetime.now(UTC)
    return {
        "collected_at": now.isoformat(),
        "os": os_release(),
        "patches": patches(),
        "certificates": [certificate(p, now) for p in params["certificates"] or []],
        "ntp": ntp(),
        "disks": [disk(m) for m in mounts(params.get("mounts"))],
    }


def main() -> None:
    module = AnsibleModule(
        argument_spec={
            "certificates": {"type": "list", "elements": "path", "default": []},
            "mounts": {"type": "list", "elements": "path"},
        },
        supports_check_mode=True,
    )
    module.exit_json(changed=False, facts=gather(module.params))


if __name__ == "__main__":
    main()
