"""How fast pgtune starts, each figure beside its floor measured in the same run.

    python bench/startup.py            # medians of 15 rounds

Floors: `python -c pass` (the interpreter itself) for commands that need no server, and a Python
client that imports psycopg, connects to the same throwaway PostgreSQL 16 (pgserver) and runs
`select 1` for a one-setting plan (issue 47: psql, a C program, starts below the interpreter's own
start, so no Python program can be judged against it). Targets are ratios to the floor: --help,
version and shell completion <= 4x `python -c pass`; a one-setting plan <= 2x the Python client.

Each round runs every command once, floors included, in turn, and the medians are taken over the
rounds: a machine that slows down during the run slows the floors as much as the commands.
pgtune's modules are compiled to bytecode first, as `pip install` does (this environment may set
PYTHONDONTWRITEBYTECODE, and an editable install never compiles): a start that compiles its own
source is not the start users have.
"""

from __future__ import annotations

import compileall
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pgtune
from pgtune.integrations.sandbox import LocalCluster, pgserver_bindir

ROUNDS = 15
PSYCOPG_CLIENT = "import sys, psycopg; psycopg.connect(sys.argv[1]).execute('select 1').fetchone()"
PGTUNE = [sys.executable, "-m", "pgtune"]
PYTHON_FLOOR = "python -c pass"
CLIENT_FLOOR = "python + psycopg: connect, select 1"


def seconds(args: list[str], env: dict[str, str] | None = None) -> float:
    started = time.perf_counter()
    subprocess.run(args, capture_output=True, check=False, env=env)
    return time.perf_counter() - started


def main() -> None:
    compileall.compile_dir(str(Path(pgtune.__file__).parent), quiet=1)
    cluster = LocalCluster(pgserver_bindir())
    cluster.init().start()
    try:
        with tempfile.TemporaryDirectory() as tmp:
            profile = Path(tmp) / "one.yaml"
            profile.write_text("name: one\nsettings: {work_mem: 8MB}\n", encoding="utf-8")
            completion = {**os.environ, "_TYPER_COMPLETE_TEST_DISABLE_SHELL_DETECTION": "1"}
            runs: dict[str, tuple[list[str], dict[str, str] | None]] = {
                PYTHON_FLOOR: ([sys.executable, "-c", "pass"], None),
                CLIENT_FLOOR: ([sys.executable, "-c", PSYCOPG_CLIENT, cluster.dsn()], None),
                "pgtune --help": ([*PGTUNE, "--help"], None),
                "pgtune version": ([*PGTUNE, "version"], None),
                "pgtune --show-completion bash": ([*PGTUNE, "--show-completion", "bash"], completion),
                "pgtune plan (one setting)": ([*PGTUNE, "plan", str(profile), "--dsn", cluster.dsn()], None),
            }
            times: dict[str, list[float]] = {name: [] for name in runs}
            for args, env in runs.values():
                seconds(args, env)  # warm the page cache once
            for _ in range(ROUNDS):
                for name, (args, env) in runs.items():
                    times[name].append(seconds(args, env))
    finally:
        cluster.destroy()
    median = {name: statistics.median(values) for name, values in times.items()}
    rows = [
        ("pgtune --help", PYTHON_FLOOR, 4.0),
        ("pgtune version", PYTHON_FLOOR, 4.0),
        ("pgtune --show-completion bash", PYTHON_FLOOR, 4.0),
        ("pgtune plan (one setting)", CLIENT_FLOOR, 2.0),
    ]
    print(
        f"machine: {platform.machine()}, {os.cpu_count()} CPUs, Python {platform.python_version()}, "
        f"PostgreSQL 16 (pgserver); medians of {ROUNDS} rounds"
    )
    print(f"{'command':32} {'seconds':>8} {'floor':>8} {'ratio':>6}  {'target':>7}  floor is")
    for name, floor_name, target in rows:
        ratio = median[name] / median[floor_name]
        met = "met" if ratio <= target else "MISSED"
        figures = f"{median[name]:8.3f} {median[floor_name]:8.3f} {ratio:6.2f}"
        print(f"{name:32} {figures}  {target:5.1f} x  {floor_name} ({met})")


if __name__ == "__main__":
    main()
