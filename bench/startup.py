"""How fast pgtune starts, each figure beside its floor measured in the same run.

    python bench/startup.py            # medians of 7 runs

Floors: `python -c pass` (the interpreter itself) for commands that need no server, and
`psql -c 'select 1'` against the same throwaway PostgreSQL 16 (pgserver) for a one-setting plan
(a client that connects, asks and leaves). Targets are ratios to the floor, measured in the same
run (issue 29): --help, version and shell completion <= 4x `python -c pass`; a one-setting plan
<= 8x `psql -c 'select 1'`. Absolute times move with the machine's load; the ratios much less.

A second floor for the plan: a Python client that connects with psycopg and asks `select 1`. psql
is C and starts in a few milliseconds, below the interpreter's own start, so 8x psql can be less
than `python -c pass` takes; the Python client's floor says what pgtune itself adds.
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

from pgtune.integrations.sandbox import LocalCluster, pgserver_bindir

RUNS = 7
PSYCOPG_CLIENT = "import sys, psycopg; psycopg.connect(sys.argv[1]).execute('select 1').fetchone()"
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
                ("pgtune --help", median_seconds([*PGTUNE, "--help"]), python_floor, "python -c pass", 4.0),
                ("pgtune version", median_seconds([*PGTUNE, "version"]), python_floor, "python -c pass", 4.0),
                (
                    "pgtune --show-completion bash",
                    median_seconds([*PGTUNE, "--show-completion", "bash"], env=completion_env),
                    python_floor,
                    "python -c pass",
                    4.0,
                ),
                (
                    "pgtune plan (one setting)",
                    plan_seconds := median_seconds([*PGTUNE, "plan", str(profile), "--dsn", cluster.dsn()]),
                    psql_floor,
                    "psql -c 'select 1'",
                    8.0,
                ),
                (
                    "pgtune plan (one setting)",
                    plan_seconds,
                    median_seconds([sys.executable, "-c", PSYCOPG_CLIENT, cluster.dsn()]),
                    "python + psycopg: connect, select 1",
                    8.0,
                ),
            ]
    finally:
        cluster.destroy()
    print(
        f"machine: {platform.machine()}, {os.cpu_count()} CPUs, Python {platform.python_version()}, "
        f"PostgreSQL 16 (pgserver); medians of {RUNS} runs"
    )
    print(f"{'command':32} {'seconds':>8} {'floor':>8} {'ratio':>6}  {'target':>7}  floor is")
    for name, seconds, floor, floor_name, target in rows:
        met = "met" if seconds <= target * floor else "MISSED"
        print(f"{name:32} {seconds:8.3f} {floor:8.3f} {seconds / floor:6.1f}  {target:5.1f} x  {floor_name} ({met})")


if __name__ == "__main__":
    main()
