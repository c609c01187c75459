"""How long `pgtune advise` takes, and how many statements it sends, for a workload of many
distinct queries.

    python bench/advise.py                    # 120 distinct queries over 20 tables
    python bench/advise.py --tables 84        # 504: the 500 statements advise reads at most

On a throwaway PostgreSQL 15 (Debian's, with pg_stat_statements preloaded and HypoPG): `--tables`
tables of 20,000 rows and six columns with only a primary key, then six query shapes per table
(equality on one or two columns, a range, a sort, a join) run `--rounds` times each, so
pg_stat_statements holds 6 distinct statements a table. Then advise runs in-process, timed, and
prints its wall time, the statements it sent (counted by its session) and
the advice it gave. A benchmark, not a test: it prints figures and judges nothing.
"""

from __future__ import annotations

import argparse
import platform
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import psycopg

from pgtune.advice import Options, advise
from pgtune.integrations.sandbox import LocalCluster
from pgtune.profile.loader import load_profile

TARGET_SECONDS, TARGET_STATEMENTS = 10.0, 500
"""Issue 40's floor for the advisor's time: 10 s for 500 statements."""
SHAPES = (
    "SELECT * FROM bench.t{i} WHERE a = %s",
    "SELECT * FROM bench.t{i} WHERE a = %s AND b = %s",
    "SELECT * FROM bench.t{i} WHERE c > %s ORDER BY c LIMIT 10",
    "SELECT * FROM bench.t{i} WHERE b = %s ORDER BY d DESC LIMIT 20",
    "SELECT count(*) FROM bench.t{i} WHERE e BETWEEN %s AND %s",
    "SELECT x.id FROM bench.t{i} x JOIN bench.t{j} y ON y.a = x.b WHERE x.id = %s",
)


def build(cluster: LocalCluster, tables: int, rounds: int) -> int:
    with psycopg.connect(cluster.dsn(), autocommit=True) as conn:
        conn.execute("CREATE EXTENSION IF NOT EXISTS pg_stat_statements")
        conn.execute("CREATE EXTENSION IF NOT EXISTS hypopg")
        conn.execute("DROP SCHEMA IF EXISTS bench CASCADE")
        conn.execute("CREATE SCHEMA bench")
        for i in range(tables):
            conn.execute(f"CREATE TABLE bench.t{i} (id int PRIMARY KEY, a int, b int, c int, d int, e int)")
            conn.execute(
                f"INSERT INTO bench.t{i} SELECT g, g % 1000, g % 97, g, g % 500, g % 3000 "
                "FROM generate_series(1, 20000) g"
            )
        conn.execute("ANALYZE")
        conn.execute("SELECT pg_stat_statements_reset()")
        distinct = 0
        for i in range(tables):
            for shape in SHAPES:
                query = shape.format(i=i, j=(i + 1) % tables)
                distinct += 1
                for r in range(rounds):
                    conn.execute(query, [r + 1] * query.count("%s"))
    return distinct


@contextmanager
def workload_cluster(tables: int, rounds: int) -> Iterator[tuple[LocalCluster, int]]:
    """A throwaway PostgreSQL 15 with pg_stat_statements and the bench workload: (cluster, distinct statements)."""
    cluster = LocalCluster(Path("/usr/lib/postgresql/15/bin"), conf={"shared_preload_libraries": "pg_stat_statements"})
    try:
        cluster.init().start()
        yield cluster, build(cluster, tables, rounds)
    finally:
        cluster.destroy()


def target_line(seconds: float, distinct: int, target_seconds: float, target_statements: int) -> str:
    """The run's time beside the issue's floor, scaled to the statements this run had."""
    floor = target_seconds * distinct / target_statements
    verdict = "met" if seconds <= floor else "MISSED"
    return f"target: <= {target_seconds:g} s per {target_statements} statements -> <= {floor:.1f} s here: {verdict}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--tables", type=int, default=20)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    with workload_cluster(args.tables, args.rounds) as (cluster, distinct):
        profile = Path(cluster.root) / "bench.yaml"
        profile.write_text("name: bench\n", encoding="utf-8")
        loaded = load_profile(profile)
        with psycopg.connect(cluster.dsn(), autocommit=True) as conn:
            started = time.perf_counter()
            report = advise(conn, loaded, Options())
            seconds = time.perf_counter() - started
        indexes = [a for a in report.advice if a.kind == "index"]
        print(f"machine: {platform.machine()}, {platform.python_implementation()} {platform.python_version()}")
        print(f"workload: {distinct} distinct statements over {args.tables} tables, {args.rounds} calls each")
        print(f"advise: {seconds:.2f} s, {report.statements} statements sent, {len(indexes)} indexes advised")
        print(f"        {seconds / distinct * 1000:.1f} ms and {report.statements / distinct:.1f} statements a query")
        coverage = report.coverage
        if coverage is not None:
            print(f"        planned {coverage.planned} of {coverage.workload} statements; stopped: {coverage.stopped}")
        print(target_line(seconds, distinct, TARGET_SECONDS, TARGET_STATEMENTS))


if __name__ == "__main__":
    main()
