"""How plan cost grows with the catalog: wall time, peak memory and SQL statements per plan.

    python bench/plan_scale.py                 # N = 1000, 5000, 10000
    python bench/plan_scale.py --shapes distinct          # no two tables alike (the worst case)
    python bench/plan_scale.py --sizes 1000 --profile    # and where the time goes (cProfile, top 15)

For each N it builds a synthetic catalog on a throwaway PostgreSQL 16 (pgserver): N tables with a
primary key and 4 indexes each, storage parameters on a third of them, and 200 range-partitioned
tables with 24 monthly partitions; then a profile declaring all of it, exactly as it is (the
steady state a CI plan sees), and runs `pgtune plan` as a separate process. With `--shapes shared`
(the default) the tables look alike, as in schema-per-tenant fleets and generated schemas: pgtune
reads and parses an index definition once per shape. `--shapes distinct` gives every table its own
column names, so no two indexes share anything: the cost of a catalog of unrelated tables. Statements are counted
from the server's own log (log_statement = all, application_name pgtune), not from pgtune.
Targets (issue 47, docs/performance.md): the statement count does not grow with N; at N = 10,000,
under 300 MB, and within 3x the server's own time for pgtune's statements when the tables are
alike, 4x when distinct — ratios to a floor measured in the same run, so a slow machine slows both.
Each row prints its floors beside it: the server's own time and the interpreter's start. `--runs 3`
plans each N three times in a row (one row each) on the same catalog.
"""

from __future__ import annotations

import argparse
import cProfile
import io
import os
import platform
import pstats
import re
import subprocess
import sys
import tempfile
import time
from datetime import date
from pathlib import Path

from pgtune.integrations.sandbox import LocalCluster

PARTITIONED = 200
MONTHS = 24
BATCH = 250  # tables per transaction: keeps the lock table small


def columns(i: int, shapes: str) -> tuple[str, str, str]:
    """Column names of table i: the same everywhere, or the table's own."""
    return ("a", "b", "c") if shapes == "shared" else (f"a{i}", f"b{i}", f"c{i}")


def build(cluster: LocalCluster, n: int, shapes: str) -> None:
    with cluster.connect() as conn:
        conn.execute("DROP SCHEMA IF EXISTS bench CASCADE")
        conn.execute("CREATE SCHEMA bench")
        for start in range(1, n + 1, BATCH):
            last = min(start + BATCH - 1, n)
            conn.execute(
                f"""
                DO $$ DECLARE i int; t text; a text; b text; c text; BEGIN
                FOR i IN {start}..{last} LOOP
                    t := format('t_%s', lpad(i::text, 5, '0'));
                    a := {"'a'" if shapes == "shared" else "'a' || i"};
                    b := {"'b'" if shapes == "shared" else "'b' || i"};
                    c := {"'c'" if shapes == "shared" else "'c' || i"};
                    EXECUTE format('CREATE TABLE bench.%I (id bigint PRIMARY KEY, %I int, %I int, %I text,
                                    created_at timestamptz)%s', t, a, b, c,
                                   CASE WHEN i % 3 = 0
                                        THEN ' WITH (fillfactor = 90, autovacuum_vacuum_scale_factor = 0.05)'
                                        ELSE '' END);
                    EXECUTE format('CREATE INDEX %I ON bench.%I (%I)', 'ix_' || t || '_a', t, a);
                    EXECUTE format('CREATE INDEX %I ON bench.%I (%I, created_at)', 'ix_' || t || '_b', t, b);
                    EXECUTE format('CREATE INDEX %I ON bench.%I (lower(%I))', 'ix_' || t || '_c', t, c);
                    EXECUTE format('CREATE INDEX %I ON bench.%I (created_at) WHERE %I > 0', 'ix_' || t || '_d', t, a);
                END LOOP; END $$""".encode()
            )
        for p in range(1, PARTITIONED + 1):
            conn.execute(
                f"""
                DO $$ DECLARE m int; base date := date_trunc('month', now())::date - interval '12 months'; BEGIN
                CREATE TABLE bench.p_{p:03d} (id bigint, created_at timestamptz NOT NULL)
                    PARTITION BY RANGE (created_at);
                FOR m IN 0..{MONTHS - 1} LOOP
                    EXECUTE format('CREATE TABLE bench.%I PARTITION OF bench.p_{p:03d} FOR VALUES FROM (%L) TO (%L)',
                        'p_{p:03d}_p' || to_char(base + make_interval(months => m), 'YYYY_MM'),
                        base + make_interval(months => m), base + make_interval(months => m + 1));
                END LOOP; END $$""".encode()
            )
        conn.execute("ANALYZE")


def _first_partition() -> str:
    today = date.today()
    month = today.month - 1 - 12
    return date(today.year + month // 12, month % 12 + 1, 1).isoformat()


def profile_text(n: int, shapes: str) -> str:
    lines = ["name: bench", "tables:"]
    for i in range(1, n + 1):
        t = f"t_{i:05d}"
        a, b, c = columns(i, shapes)
        lines.append(f"  bench.{t}:")
        if i % 3 == 0:
            lines.append("    storage: {fillfactor: 90, autovacuum_vacuum_scale_factor: 0.05}")
        lines.append("    indexes:")
        lines.append(f"      ix_{t}_a: {{columns: [{a}]}}")
        lines.append(f"      ix_{t}_b: {{columns: [{b}, created_at]}}")
        lines.append(f"      ix_{t}_c: {{columns: ['(lower({c}))']}}")
        lines.append(f"      ix_{t}_d: {{columns: [created_at], where: {a} > 0}}")
    for p in range(1, PARTITIONED + 1):
        lines.append(f"  bench.p_{p:03d}:")
        lines.append("    partitioning: {strategy: range, key: created_at, interval: 1 month, premake: 11,")
        lines.append(f"                   start: '{_first_partition()}'}}")
    return "\n".join(lines) + "\n"


def statements_since(log: Path, position: int) -> tuple[int, float]:
    """Statements pgtune sent since `position`, and the seconds the server spent on them."""
    with log.open("rb") as fh:
        fh.seek(position)
        text = fh.read().decode(errors="replace")
    # Simple-protocol statements log as "statement:", parameterised ones as "execute <name>:".
    count = len(re.findall(r"^pgtune\|\d+\| LOG:  (?:statement|execute [^:]*): ", text, flags=re.M))
    server_ms = sum(float(m) for m in re.findall(r"^pgtune\|\d+\| LOG:  duration: ([0-9.]+) ms", text, flags=re.M))
    return count, server_ms / 1000


def run_plan(cluster: LocalCluster, profile: Path) -> tuple[float, float, tuple[int, float], str]:
    position = cluster.log.stat().st_size
    started = time.monotonic()
    with tempfile.TemporaryFile("w+") as out, tempfile.TemporaryFile("w+") as err:
        proc = subprocess.Popen(
            [sys.executable, "-m", "pgtune", "plan", str(profile), "--dsn", cluster.dsn(), "--format", "json"],
            stdout=out,
            stderr=err,
            text=True,
        )
        _, status, usage = os.wait4(proc.pid, 0)  # this child's own peak RSS, not the largest child's
        wall = time.monotonic() - started
        proc.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        err.seek(0)
        stdout, stderr = out.read(), err.read()
    if proc.returncode not in (0, 2):
        raise SystemExit(f"plan failed: {stderr[-2000:]}")
    rss_kb = usage.ru_maxrss
    time.sleep(0.2)  # the server writes its log asynchronously
    changes = stdout.count('"kind":')
    return wall, rss_kb / 1024, statements_since(cluster.log, position), f"{changes} changes"


TARGET_RATIO = {"shared": 3.0, "distinct": 4.0}  # wall time over the server's own time for pgtune's statements
TARGET_MB = 300
"""Issue 47's targets at 10,000 tables on this 2-core machine."""


def verdict(shapes: str, wall: float, server: float, rss: float, statements: int, first: int) -> str:
    """Each target at N = 10,000 beside the figure it judges."""
    ratio = wall / max(server, 0.001)
    parts = [
        f"<= {TARGET_RATIO[shapes]:g}x server: {'met' if ratio <= TARGET_RATIO[shapes] else 'MISSED'}",
        f"< {TARGET_MB} MB: {'met' if rss < TARGET_MB else 'MISSED'}",
        f"statements constant: {'met' if statements == first else 'MISSED'} ({first} at the first N)",
    ]
    return "; targets " + ", ".join(parts)


def python_floor() -> float:
    """The interpreter's own start, median of 5: the floor under any pgtune process."""
    times = []
    for _ in range(5):
        started = time.perf_counter()
        subprocess.run([sys.executable, "-c", "pass"], check=False)
        times.append(time.perf_counter() - started)
    return sorted(times)[2]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[1000, 5000, 10000])
    parser.add_argument("--shapes", choices=["shared", "distinct"], default="shared", help="tables alike, or not")
    parser.add_argument("--runs", type=int, default=1, help="plans per N, one row each, on the same catalog")
    parser.add_argument("--profile", action="store_true", help="also cProfile one in-process plan at the largest N")
    args = parser.parse_args()
    cluster = LocalCluster(
        conf={
            "log_statement": "all",
            "log_min_duration_statement": "0",
            "log_line_prefix": "%a|%p| ",
            "max_locks_per_transaction": "1024",
        }
    )
    cluster.init().start()
    print(
        f"machine: {platform.machine()}, {os.cpu_count()} CPUs, Python {platform.python_version()}, "
        f"PostgreSQL 16 (pgserver), shapes: {args.shapes}"
    )
    floor = python_floor()
    print(f"floor: python -c pass {floor:.3f} s; the server's own time for pgtune's statements is 'server s'")
    print(
        f"{'tables':>7} {'+partitioned':>12} {'relations':>9} {'build s':>8} {'plan s':>7} {'server s':>8} "
        f"{'x server':>8} {'peak MB':>8} {'statements':>10}  result"
    )
    first: int | None = None  # statements at the first N: the count must not grow with N
    try:
        with tempfile.TemporaryDirectory() as tmp:
            for n in args.sizes:
                started = time.monotonic()
                build(cluster, n, args.shapes)
                built = time.monotonic() - started
                with cluster.connect() as conn:
                    relations = conn.execute(
                        "SELECT count(*) FROM pg_class c JOIN pg_namespace s ON s.oid = c.relnamespace "
                        "WHERE s.nspname = 'bench'"
                    ).fetchone()[0]  # type: ignore[index]
                profile = Path(tmp) / f"bench_{n}.yaml"
                profile.write_text(profile_text(n, args.shapes))
                run_plan(cluster, profile)  # warm the server's caches once
                for _ in range(args.runs):
                    wall, rss, (statements, server), result = run_plan(cluster, profile)
                    first = statements if first is None else first
                    judged = verdict(args.shapes, wall, server, rss, statements, first) if n == 10000 else ""
                    print(
                        f"{n:>7} {PARTITIONED:>12} {relations:>9} {built:>8.1f} {wall:>7.2f} {server:>8.2f} "
                        f"{wall / max(server, 0.001):>8.1f} {rss:>8.0f} {statements:>10}  {result}{judged}",
                        flush=True,
                    )
            if args.profile:
                import psycopg

                from pgtune.kinds.engine import build_plan
                from pgtune.profile.loader import load_profile

                profiler = cProfile.Profile()
                with psycopg.connect(cluster.dsn(), autocommit=True) as conn:
                    profiler.enable()
                    build_plan(conn, load_profile(profile))
                    profiler.disable()
                out = io.StringIO()
                pstats.Stats(profiler, stream=out).sort_stats("cumulative").print_stats(15)
                print(out.getvalue())
    finally:
        cluster.destroy()


if __name__ == "__main__":
    main()
