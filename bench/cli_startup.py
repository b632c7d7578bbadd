"""CLI start-up time: the real console script, median of N runs, on a temp copy of the example site.

Usage: .venv/bin/python bench/cli_startup.py [--runs 5] [--script PATH]
Run under the shared lock: ``flock /tmp/bench.lock .venv/bin/python bench/cli_startup.py``.
``--script`` times another checkout's console script (e.g. the main branch's) on the same
site, for a before/after under the same load. Each line gives the wall-clock median and the
median CPU time (user+sys of the child), which the shared machine's load disturbs less.
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SCRIPT = str(Path(sys.executable).parent / "hotline-ops")
SITE_DIRS = ("probes", "incidents", "reports", "runbooks", "playbooks", "tickets")


def copy_site(dest: Path) -> Path:
    """The example config and its content folders, with its own empty data dir."""
    shutil.copy(ROOT / "hotline-ops.yaml", dest / "hotline-ops.yaml")
    for name in SITE_DIRS:
        shutil.copytree(ROOT / name, dest / name)
    return dest / "hotline-ops.yaml"


def children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def run(script: str, args: list[str], env: dict[str, str]) -> tuple[float, float]:
    """Wall-clock and CPU seconds of one run of the console script."""
    cpu, start = children_cpu(), time.perf_counter()
    subprocess.run([script, *args], env=env, check=True, capture_output=True)
    return time.perf_counter() - start, children_cpu() - cpu


def median_of(runs: int, script: str, args: list[str], env: dict[str, str]) -> str:
    walls, cpus = zip(*(run(script, args, env) for _ in range(runs)), strict=True)
    return (
        f"wall median {statistics.median(walls):.3f} s, cpu median {statistics.median(cpus):.3f} s"
        f"  (walls {' '.join(f'{t:.2f}' for t in walls)})"
    )


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--script", default=SCRIPT, help="hotline-ops console script to time")
    opts = parser.parse_args()
    env = {k: v for k, v in os.environ.items() if not k.startswith("HOTLINE_OPS_")}
    print("load before:", os.getloadavg())
    with tempfile.TemporaryDirectory() as tmp:
        config = copy_site(Path(tmp))
        base = ["--config", str(config)]
        subprocess.run([SCRIPT, *base, "init"], env=env, check=True, capture_output=True)
        ticket = ["--caller", "13800000000", "--title", "噪声", "--content", "施工噪声"]
        ticket += ["--type", "complaint", "--category", "040101", "--district", "万秀区"]
        for setup in (
            ["incident", "open", "--title", "bench", "--level", "2"],
            ["ticket", "create", *ticket],
        ):
            subprocess.run([SCRIPT, *base, *setup], env=env, check=True, capture_output=True)
        cases = {
            "--help": ["--help"],
            "--version": ["--version"],
            "incident list": [*base, "incident", "list"],
            "incident show 1": [*base, "incident", "show", "1"],
            "probe list": [*base, "probe", "list"],
            "silence list": [*base, "silence", "list"],
            "ticket show 1": [*base, "ticket", "show", "1"],
        }
        print("script:", opts.script)
        for name, args in cases.items():
            print(f"{name:16s} {median_of(opts.runs, opts.script, args, env)}", flush=True)
    print("load after:", os.getloadavg())


if __name__ == "__main__":
    main()
