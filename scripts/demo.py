#!/usr/bin/env python3
"""`make demo`: the product's promise in one minute, on a throwaway PostgreSQL 16 (pgserver).

plan → apply → restart (for settings that need one, as a DBA would schedule it) → plan again,
which is empty. The server is removed at the end. Every step is the real `pgtune` command.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from pgtune.integrations.sandbox import sandbox  # noqa: E402

PROFILE = Path("profiles") / "example.yaml"  # relative to ROOT, where the commands run
PGTUNE = [sys.executable, "-m", "pgtune"]


def step(title: str, *args: str, ok: tuple[int, ...] = (0,)) -> int:
    print(f"\n=== {title}\n$ pgtune {' '.join(args)}", flush=True)
    code = subprocess.run([*PGTUNE, *args], cwd=ROOT, check=False).returncode
    if code not in ok:
        raise SystemExit(f"demo: `pgtune {args[0]}` exited {code}")
    return code


def main() -> None:
    print("Starting a throwaway PostgreSQL 16 (pgserver) ...", flush=True)
    with sandbox() as cluster:
        dsn = cluster.dsn()
        step("1. What would change (nothing is run)", "plan", str(PROFILE), "--dsn", dsn)
        step("2. Apply it: ALTER SYSTEM, per-database/role settings, one reload", "apply", str(PROFILE), "--dsn", dsn,
             "--yes")
        print("\n=== 3. Restart PostgreSQL for the settings marked restart pending (here, right away)", flush=True)
        cluster.restart()
        code = step("4. Plan again: the server matches the profile", "plan", str(PROFILE), "--dsn", dsn,
                    "--detailed-exitcode", ok=(0, 2))
        if code != 0:
            raise SystemExit("demo: the re-plan is not empty — that would be a pgtune bug")
    print("\nThe throwaway server is gone. Next: README.md (60-second tour), examples/README.md (Letta walkthrough).")


if __name__ == "__main__":
    main()
