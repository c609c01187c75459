"""How fast pgtune starts, each figure beside its floor measured in the same run.

    python bench/startup.py            # medians of 7 runs

Floors: `python -c pass` (the interpreter itself) for commands that need no server, and
`psql -c 'select 1'` against the same throwaway PostgreSQL 16 (pgserver) for a one-setting plan
(a client that connects, asks and leaves). Targets (issue 19): --help, version and shell
completion ≤ 0.25 s; a one-setting plan ≤ 0.6 s. Ratios to the floor are what to watch: absolute
times move with the machine's load.
"""

from __future__ import annotations

import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from pgtune.sandbox import LocalCluster, pgserver_bindir

RUNS = 7
PGTUNE = [sys.executable, "-m", "pgtune"]


def median_seconds(args: list[str], env: dict[str, str] | None = None) -> float:
    times = []
    for _ in range(RUNS):
        started = time.perf_counter()
        subprocess.run(args, capture_output=True, check=False, env=env)
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def main() -> None:
    cluster = LocalCluster(pgserver_bindir())
    cluster.init().start()
    try:
        with tempfile.TemporaryDirectory() as tmp:
            profile = Path(tmp) / "one.yaml"
            profile.write_text("name: one\nsettings: {work_mem: 8MB}\n", encoding="utf-8")
            python_floor = median_seconds([sys.executable, "-c", "pass"])
            psql = str(pgserver_bindir() / "psql")
            env = {**os.environ, "PGCONNECT_TIMEOUT": "5"}
            psql_floor = median_seconds([psql, cluster.dsn(), "-Atqc", "select 1"], env=env)
            completion_env = {**os.environ, "_TYPER_COMPLETE_TEST_DISABLE_SHELL_DETECTION": "1"}
            rows = [
                ("pgtune --help", median_seconds([*PGTUNE, "--help"]), python_floor, "python -c pass", 0.25),
                ("pgtune version", median_seconds([*PGTUNE, "version"]), python_floor, "python -c pass", 0.25),
                (
                    "pgtune --show-completion bash",
                    median_seconds([*PGTUNE, "--show-completion", "bash"], env=completion_env),
                    python_floor,
                    "python -c pass",
                    0.25,
                ),
                (
                    "pgtune plan (one setting)",
                    median_seconds([*PGTUNE, "plan", str(profile), "--dsn", cluster.dsn()]),
                    psql_floor,
                    "psql -c 'select 1'",
                    0.6,
                ),
            ]
    finally:
        cluster.destroy()
    print(f"machine: {platform.machine()}, {os.cpu_count()} CPUs, Python {platform.python_version()}, "
          f"PostgreSQL 16 (pgserver); medians of {RUNS} runs")
    print(f"{'command':32} {'seconds':>8} {'floor':>8} {'ratio':>6}  {'target':>7}  floor is")
    for name, seconds, floor, floor_name, target in rows:
        met = "met" if seconds <= target else "MISSED"
        print(f"{name:32} {seconds:8.3f} {floor:8.3f} {seconds / floor:6.1f}  {target:5.2f} s  {floor_name} ({met})")


if __name__ == "__main__":
    main()
