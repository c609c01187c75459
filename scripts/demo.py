#!/usr/bin/env python3
"""`make demo`: the whole job in about a minute, on a throwaway PostgreSQL 16 (pgserver).

Letta's database as a fresh install (examples/letta/schema.sql, `messages` partitioned by month),
then examples/letta/demo.yaml — settings, per-table autovacuum, indexes built online, partitions
kept ahead of now with retention, pools checked against max_connections — planned, applied,
restarted where a setting needs it, and planned again: empty. The application writes (50,000
messages); someone drops an index and changes a table's autovacuum by hand; `plan
--detailed-exitcode` shows exactly those two changes and exits 2; the plan a pull request would get
is written as Markdown, and saved for `apply --plan`, which runs exactly what was reviewed; a last
plan is empty, and `check` gives its verdicts. The server is removed at the end.

Every step prints the command it runs — real `pgtune` commands, to copy — and the demo stops at
the first that does not end as it should.
"""

from __future__ import annotations

import json
import os
import shlex
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from pgtune.integrations.sandbox import sandbox  # noqa: E402

PROFILE = "examples/letta/demo.yaml"  # relative to ROOT, where the commands run
OUT = Path(os.environ.get("PGTUNE_DEMO_OUT", "build/demo"))  # what the demo leaves for you to read
MESSAGES = 200_000
DRIFT = (
    "DROP INDEX letta.ix_messages_run_sequence",  # one of Letta's indexes, on the partitioned messages
    "ALTER TABLE letta.runs SET (autovacuum_vacuum_scale_factor = 0.2)",  # the profile says 0.05
)
DRIFTED = ["index letta.ix_messages_run_sequence", "storage letta.runs"]  # what the plan must show of it
PGTUNE = [sys.executable, "-m", "pgtune"]


class DemoFailed(SystemExit):
    def __init__(self, why: str) -> None:
        super().__init__(f"demo: {why}")


def title(text: str) -> None:
    print(f"\n=== {text}", flush=True)


def shown(args: list[str]) -> str:
    return " ".join(shlex.quote(a) for a in args)


def pgtune(*args: str, ok: tuple[int, ...] = (0,), capture: bool = False) -> subprocess.CompletedProcess[str]:
    """Run a real pgtune command, printed first as you would type it."""
    print(f"$ pgtune {shown(list(args))}", flush=True)
    done = subprocess.run([*PGTUNE, *args], cwd=ROOT, check=False, text=True, capture_output=capture)
    if done.returncode not in ok:
        detail = (done.stdout or "")[-1500:] + (done.stderr or "")[-1500:] if capture else ""
        raise DemoFailed(f"`pgtune {args[0]}` exited {done.returncode} (expected {ok}){detail and ': ' + detail}")
    return done


def run(args: list[str]) -> None:
    print(f"$ {shown(args)}", flush=True)
    if subprocess.run(args, cwd=ROOT, check=False).returncode != 0:
        raise DemoFailed(f"`{shown(args)}` failed")


def main() -> None:
    started = time.monotonic()
    print("Starting a throwaway PostgreSQL 16 (pgserver) ...", flush=True)
    with sandbox() as cluster:
        with cluster.connect() as conn:
            conn.execute("CREATE DATABASE letta")
        dsn = cluster.dsn("letta")
        print(f"DSN: {dsn}")

        title("1. Letta's database, a fresh install: its schema, messages partitioned by month")
        for sql in ("examples/letta/schema.sql", "examples/letta/schema-partitioned.sql"):
            print(f"$ psql {shlex.quote(dsn)} -f {sql}", flush=True)
            cluster.load_sql_file(ROOT / sql, "letta")
        print("(messages has no partition yet: creating them is the profile's job, so rows come after the apply)")

        title("2. What the profile would change — settings, autovacuum per table, an index, partitions, pools")
        pgtune("plan", PROFILE, "--dsn", dsn)

        title("3. Apply it: online (CREATE INDEX CONCURRENTLY, short lock_timeout), each change as it runs")
        pgtune("apply", PROFILE, "--dsn", dsn, "--yes")

        title("4. Restart for the settings that need it (max_connections, autovacuum_max_workers), as you would")
        print("$ pg_ctl restart -D <the sandbox's data directory>", flush=True)
        cluster.restart()
        pgtune("plan", PROFILE, "--dsn", dsn, "--detailed-exitcode")  # 0: nothing left to do

        title(f"5. The application writes: {MESSAGES:,} messages (with their runs and steps) into the partitions")
        run([sys.executable, "examples/letta/seed.py", "--dsn", dsn, "--messages", str(MESSAGES), "--agents", "200"])

        title("6. Drift, as in production: someone drops an index and changes a table's autovacuum by hand")
        with cluster.connect("letta") as conn:
            for statement in DRIFT:
                print(f"$ psql {shlex.quote(dsn)} -c {shlex.quote(statement)}", flush=True)
                conn.execute(statement)
        pgtune("plan", PROFILE, "--dsn", dsn, "--detailed-exitcode", ok=(2,))  # 2: changes to make
        print("(exit 2: there is drift — what a scheduled CI job alerts on)")

        title("7. The pull request's view: the same plan as Markdown, and saved for `apply --plan`")
        (ROOT / OUT).mkdir(parents=True, exist_ok=True)  # ROOT / an absolute OUT is OUT
        markdown = OUT / "drift-plan.md"
        saved = OUT / "drift.plan.json"
        done = pgtune("plan", PROFILE, "--dsn", dsn, "--format", "markdown", "--out", str(saved), capture=True)
        (ROOT / markdown).write_text(done.stdout, encoding="utf-8")
        found = sorted(f"{c['kind']} {c['object']}" for c in json.loads((ROOT / saved).read_text())["changes"])
        if found != DRIFTED:  # read from the saved plan, not its wording
            raise DemoFailed(f"the drift plan should be exactly {DRIFTED}, it is {found}")
        print(f"(written to {markdown}; the reviewed plan saved to {saved})")
        print("\n".join(done.stdout.splitlines()[:12]) + "\n...")

        title("8. Converge: apply exactly the reviewed plan (refused if the server changed since)")
        pgtune("--verbose", "apply", PROFILE, "--plan", str(saved), "--dsn", dsn, "--yes")
        pgtune("plan", PROFILE, "--dsn", dsn, "--detailed-exitcode")  # 0 again

        title("9. Health: the profile's thresholds as check verdicts (exit 3 would mean one reached --fail-on)")
        pgtune("check", PROFILE, "--dsn", dsn, ok=(0, 3))
    print(
        f"\nDone in {time.monotonic() - started:.0f} s. The throwaway server is gone; {markdown} stays.\n"
        "Next: README.md (the tour), examples/README.md (the Letta walkthrough on your own server)."
    )


if __name__ == "__main__":
    main()
