"""How long `pgtune plan --impact` takes for a workload of 200 distinct statements.

    python bench/impact.py                    # 204 statements over 34 tables

On a throwaway PostgreSQL 15 (Debian's, with pg_stat_statements preloaded and HypoPG): the tables
and six query shapes a table of bench/advise.py, then a profile that moves every statement's plan —
a cost constant and work_mem server-wide, and an index on every table (hypothetical) — and the
impact measured in-process, timed: its wall time beside issue 43's floor (10 s for 200 statements),
the statements it planned and the statements it sent. A benchmark, not a test: it prints figures.
"""

from __future__ import annotations

import argparse
import platform
import time
from pathlib import Path

import psycopg
from advise import target_line, workload_cluster  # bench/advise.py: the same tables, shapes and floor line

from pgtune.advice.impact import Options, measure
from pgtune.profile.loader import load_profile
from pgtune.targets import workflow

TARGET_SECONDS, TARGET_STATEMENTS = 10.0, 200
"""Issue 43's floor: the impact of a 200-statement workload in 10 s."""


def profile_text(tables: int) -> str:
    lines = ["name: bench", "settings:", "  random_page_cost: 1.1", "  work_mem: 64MB", "tables:"]
    for i in range(tables):
        lines += [f"  bench.t{i}:", "    indexes:", f"      t{i}_a_b:", "        columns: [a, b]"]
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--tables", type=int, default=34)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    with workload_cluster(args.tables, args.rounds) as (cluster, distinct):
        profile = Path(cluster.root) / "bench.yaml"
        profile.write_text(profile_text(args.tables), encoding="utf-8")
        loaded = load_profile(profile)
        with psycopg.connect(cluster.dsn(), autocommit=True) as conn:
            plan = workflow.derive(conn, workflow.Inputs(loaded))
            started = time.perf_counter()
            impact = measure(conn, plan.changes, Options(top=max(distinct, 200)))
            seconds = time.perf_counter() - started
        moved = len(impact.movers())
        print(f"machine: {platform.machine()}, {platform.python_implementation()} {platform.python_version()}")
        print(f"workload: {distinct} distinct statements over {args.tables} tables; plan: {len(plan.changes)} changes")
        print(f"impact: {seconds:.2f} s, {len(impact.statements)} statements planned twice, {moved} moved")
        coverage = impact.coverage
        if coverage is not None:
            print(f"        planned {coverage.planned} of {coverage.workload}; stopped: {coverage.stopped}")
        print(f"        {seconds / max(distinct, 1) * 1000:.1f} ms a statement")
        print(target_line(seconds, distinct, TARGET_SECONDS, TARGET_STATEMENTS))


if __name__ == "__main__":
    main()
