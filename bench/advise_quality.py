"""Is `pgtune advise` right? Its indexes against an outside advisor's, on public benchmarks.

    python bench/advise_quality.py                  # TPC-H (SF 0.05) and pgbench's TPC-B-like script
    python bench/advise_quality.py --sf 0.1 --skip-oltp

Two workloads whose data and queries come from packages, not from this repository:
- decision support: TPC-H — data from DuckDB's `tpch` extension (`dbgen`, the PyPI wheels `duckdb` and
  `duckdb-extension-tpch`, loaded offline), its 22 queries from the same extension's `tpch_queries()`;
  tables with their primary keys only, loaded into PostgreSQL with COPY;
- OLTP: `pgbench -i` and its built-in TPC-B-like script (PostgreSQL's own).
Each workload runs once against its base database with pg_stat_statements and pg_qualstats recording
it. Then `pgtune advise` (the CLI, default threshold) and pg_qualstats' `pg_qualstats_index_advisor()`
(Debian's postgresql-15-pg-qualstats, the outside advisor) give their indexes; each advisor's indexes
are built on a copy of the base database (CREATE DATABASE ... TEMPLATE), the workload runs there
warm, and the bench prints, beside the baseline: the workload's summed plan cost, its real time
(median of 3 runs in the same order, after one warm-up run), the indexes and their bytes, the ones
never scanned in those runs (idx_scan = 0), pgtune's coverage and each advisor's time — then the
targets of issue 40 with a verdict each. On a throwaway PostgreSQL 15 (Debian's, HypoPG and
pg_qualstats installed by this script with apt-get when missing and run as root; the DuckDB wheels
with pip into this interpreter when missing). A benchmark, not a test.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psycopg

from pgtune.integrations.sandbox import LocalCluster

REPO = Path(__file__).resolve().parent.parent
BINDIR = Path("/usr/lib/postgresql/15/bin")
TPCH_KEYS = {
    "region": "r_regionkey",
    "nation": "n_nationkey",
    "part": "p_partkey",
    "supplier": "s_suppkey",
    "partsupp": "ps_partkey, ps_suppkey",
    "customer": "c_custkey",
    "orders": "o_orderkey",
    "lineitem": "l_orderkey, l_linenumber",
}
TYPES = {"BIGINT": "bigint", "INTEGER": "integer", "VARCHAR": "text", "DATE": "date"}
QUERY_TIMEOUT = "600s"


def ensure_packages() -> None:
    """pg_qualstats and HypoPG from Debian; DuckDB's wheels from PyPI (offline tpch extension)."""
    needed = [
        package
        for package, probe in (
            ("postgresql-15-hypopg", "/usr/share/postgresql/15/extension/hypopg.control"),
            ("postgresql-15-pg-qualstats", "/usr/share/postgresql/15/extension/pg_qualstats.control"),
        )
        if not Path(probe).exists()
    ]
    if needed:
        if os.geteuid() != 0:
            sys.exit(f"needs {' '.join(needed)} (apt-get install {' '.join(needed)})")
        subprocess.run(["apt-get", "install", "-y", "-qq", "--no-install-recommends", *needed], check=True)
    try:
        import duckdb  # noqa: F401
        import duckdb_extension_tpch  # noqa: F401
    except ImportError:
        subprocess.run(
            [sys.executable, "-m", "pip", "install", "-q", "duckdb==1.5.5", "duckdb-extension-tpch==1.5.5"], check=True
        )


# --- TPC-H from DuckDB's extension -----------------------------------------------------------------


def tpch(sf: float, directory: Path) -> tuple[dict[str, list[tuple[str, str]]], list[str]]:
    """Generate TPC-H at `sf` into CSV files; its tables' columns and its 22 queries."""
    import duckdb
    import duckdb_extension_tpch

    extension = Path(duckdb_extension_tpch.__file__).parent / f"extensions/v{duckdb.__version__}/tpch.duckdb_extension"
    con = duckdb.connect(config={"allow_unsigned_extensions": "true"})
    con.execute(f"LOAD '{extension}'")
    con.execute(f"CALL dbgen(sf={sf})")
    tables: dict[str, list[tuple[str, str]]] = {}
    for (name,) in con.execute("SELECT table_name FROM information_schema.tables ORDER BY 1").fetchall():
        columns = con.execute(
            "SELECT column_name, data_type FROM information_schema.columns WHERE table_name = ? "
            "ORDER BY ordinal_position",
            [name],
        ).fetchall()
        tables[name] = [(c, TYPES.get(t, "numeric(15,2)" if t.startswith("DECIMAL") else "text")) for c, t in columns]
        con.execute(f"COPY {name} TO '{directory / name}.csv' (HEADER false, DELIMITER '|')")
    queries = [q for _n, q in con.execute("SELECT query_nr, query FROM tpch_queries() ORDER BY 1").fetchall()]
    return tables, queries


def load_tpch(cluster: LocalCluster, db: str, sf: float) -> list[str]:
    with cluster.connect() as conn:
        conn.execute(f"CREATE DATABASE {db}".encode())
    with tempfile.TemporaryDirectory() as tmp:
        tables, queries = tpch(sf, Path(tmp))
        with psycopg.connect(cluster.dsn(db), autocommit=True) as conn:
            for name, columns in tables.items():
                body = ", ".join(f"{c} {t}" for c, t in columns)
                conn.execute(f"CREATE TABLE {name} ({body}, PRIMARY KEY ({TPCH_KEYS[name]}))".encode())
                with (
                    conn.cursor().copy(f"COPY {name} FROM STDIN (FORMAT csv, DELIMITER '|')".encode()) as copy,
                    open(Path(tmp) / f"{name}.csv", "rb") as fh,
                ):
                    while chunk := fh.read(1 << 20):
                        copy.write(chunk)
            conn.execute("VACUUM ANALYZE")
    return queries


# --- running a workload ----------------------------------------------------------------------------


@dataclass
class Measured:
    name: str
    indexes: list[str] = field(default_factory=list)  # CREATE INDEX statements the advisor gave
    seconds: list[float] = field(default_factory=list)  # the workload's runs
    cost: float = 0.0
    bytes: int = 0
    built: list[str] = field(default_factory=list)  # names of the indexes built
    unused: list[str] = field(default_factory=list)
    advisor_seconds: float = 0.0
    failed: list[str] = field(default_factory=list)
    per_query: list[list[float]] = field(default_factory=list)  # each run's seconds per query

    def query_median(self, i: int) -> float:
        return statistics.median(run[i] for run in self.per_query)

    @property
    def median(self) -> float:
        return statistics.median(self.seconds) if self.seconds else float("nan")


def run_queries(dsn: str, queries: list[str], times: list[float] | None = None) -> float:
    started = time.monotonic()
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute(f"SET statement_timeout = '{QUERY_TIMEOUT}'".encode())
        for query in queries:
            began = time.monotonic()
            conn.execute(query.encode()).fetchall()
            if times is not None:
                times.append(time.monotonic() - began)
    return time.monotonic() - started


def plan_cost(dsn: str, queries: list[str]) -> float:
    total = 0.0
    with psycopg.connect(dsn, autocommit=True) as conn:
        for query in queries:
            (doc,) = conn.execute(b"EXPLAIN (FORMAT JSON) " + query.rstrip().rstrip(";").encode()).fetchone()  # type: ignore[misc]
            total += float(doc[0]["Plan"]["Total Cost"])
    return total


def pgbench(cluster: LocalCluster, db: str, transactions: int) -> float:
    """pgbench's TPC-B-like script, 2 clients: its wall time."""
    started = time.monotonic()
    subprocess.run(
        [
            str(BINDIR / "pgbench"),
            "-n",
            "-c",
            "2",
            "-j",
            "2",
            "-t",
            str(transactions),
            "-h",
            "127.0.0.1",
            "-p",
            str(cluster.port),
            "-U",
            "postgres",
            db,
        ],
        check=True,
        capture_output=True,
        text=True,
    )
    return time.monotonic() - started


def evaluate(
    cluster: LocalCluster, base: str, advisors: list[Measured], workload: Any, runs: int, queries: list[str] | None
) -> None:
    """Build each advisor's indexes on a copy of `base`, warm each copy, then run the workload on the
    copies in turn, `runs` rounds (drift in the machine's speed falls on every advisor alike)."""
    for measured in advisors:
        copy = f"{base}_{measured.name}"
        with cluster.connect() as conn:
            conn.execute(f"DROP DATABASE IF EXISTS {copy}".encode())
            conn.execute(f"CREATE DATABASE {copy} TEMPLATE {base}".encode())
        dsn = cluster.dsn(copy)
        with psycopg.connect(dsn, autocommit=True) as conn:
            before = {r[0] for r in conn.execute("SELECT indexrelid::regclass::text FROM pg_index")}
            for ddl in measured.indexes:
                try:
                    conn.execute(ddl.encode())
                except psycopg.Error as exc:
                    measured.failed.append(f"{ddl}: {exc.diag.message_primary}")
            conn.execute("VACUUM ANALYZE")
            new = [r[0] for r in conn.execute("SELECT indexrelid::regclass::text FROM pg_index") if r[0] not in before]
            measured.built = new
            measured.bytes = sum(
                int(conn.execute("SELECT pg_relation_size(%s::regclass)", (n,)).fetchone()[0])  # type: ignore[index]
                for n in new
            )
            conn.execute("SELECT pg_stat_reset()")
        if queries is not None:
            measured.cost = plan_cost(dsn, queries)
        workload(copy, None)  # warm-up
    for _ in range(runs):
        for measured in advisors:
            times: list[float] = []
            measured.seconds.append(workload(f"{base}_{measured.name}", times))
            if times:
                measured.per_query.append(times)
    for measured in advisors:
        copy = f"{base}_{measured.name}"
        with psycopg.connect(cluster.dsn(copy), autocommit=True) as conn:
            conn.execute("SELECT pg_stat_force_next_flush()")
            scans = dict(
                conn.execute("SELECT indexrelid::regclass::text, idx_scan FROM pg_stat_user_indexes").fetchall()
            )
        measured.unused = [n for n in measured.built if scans.get(n, 0) == 0]
        with cluster.connect() as conn:
            conn.execute(f"DROP DATABASE {copy}".encode())


# --- the advisors ----------------------------------------------------------------------------------


def pgtune_advice(dsn: str) -> tuple[list[str], dict[str, Any], float]:
    with tempfile.TemporaryDirectory() as tmp:
        profile = Path(tmp) / "p.yaml"
        profile.write_text("name: bench\n")
        started = time.monotonic()
        done = subprocess.run(
            [sys.executable, "-m", "pgtune", "advise", str(profile), "--dsn", dsn, "--format", "json"],
            capture_output=True,
            text=True,
            cwd=REPO,
        )
        seconds = time.monotonic() - started
    if done.returncode not in (0, 3):
        sys.exit(f"pgtune advise failed: {done.stderr}")
    doc = json.loads(done.stdout)
    out = []
    for a in doc["advice"]:
        if a["kind"] != "index":
            continue
        for _path, entry in ((p["path"], p["value"]) for p in a["profile"]):
            schema, table = a["object"].split(".", 1)
            include = f" INCLUDE ({', '.join(entry['include'])})" if entry.get("include") else ""
            out.append(f"CREATE INDEX {a['name']} ON {schema}.{table} ({', '.join(entry['columns'])}){include}")
    return out, doc, seconds


def qualstats_advice(dsn: str) -> tuple[list[str], float]:
    started = time.monotonic()
    with psycopg.connect(dsn, autocommit=True) as conn:
        (doc,) = conn.execute("SELECT pg_qualstats_index_advisor()").fetchone()  # type: ignore[misc]
    seconds = time.monotonic() - started
    return [str(i) for i in (doc or {}).get("indexes") or []], seconds


def record(cluster: LocalCluster, db: str, run: Any) -> None:
    with psycopg.connect(cluster.dsn(db), autocommit=True) as conn:
        conn.execute("CREATE EXTENSION IF NOT EXISTS pg_stat_statements")
        conn.execute("CREATE EXTENSION IF NOT EXISTS hypopg")
        conn.execute("CREATE EXTENSION IF NOT EXISTS pg_qualstats")
        conn.execute("SELECT pg_stat_statements_reset(), pg_qualstats_reset()")
    run(db)


# --- the report --------------------------------------------------------------------------------------


def _mb(n: int) -> str:
    return f"{n / 2**20:.1f} MB"


def table(title: str, base: Measured, results: list[Measured], with_cost: bool) -> None:
    print(f"\n{title}")
    print(
        f"  {'advisor':<12} {'time':>9} {'ratio':>7} {'cost ratio':>10} {'indexes':>7} {'bytes':>10} {'unused':>6} "
        f"{'advisor':>8}"
    )
    for m in [base, *results]:
        cost = f"{m.cost / base.cost:.3f}" if with_cost and base.cost else "-"
        print(
            f"  {m.name:<12} {m.median:>8.2f}s {m.median / base.median:>7.3f} {cost:>10} {len(m.built):>7} "
            f"{_mb(m.bytes):>10} {len(m.unused):>6} {m.advisor_seconds:>7.2f}s"
        )
        for failed in m.failed:
            print(f"    ! {failed}")
    for m in results:
        print(f"  {m.name} indexes: " + "; ".join(m.indexes))
        if m.unused:
            print(f"  {m.name} never scanned: {', '.join(m.unused)}")


def verdict(ok: bool, text: str) -> bool:
    print(f"  [{'met' if ok else 'MISSED'}] {text}")
    return ok


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sf", type=float, default=0.05, help="TPC-H scale factor")
    parser.add_argument("--runs", type=int, default=3, help="timed runs of each workload (the median is shown)")
    parser.add_argument("--scale", type=int, default=1, help="pgbench -s")
    parser.add_argument("--transactions", type=int, default=300, help="pgbench -t per client")
    parser.add_argument("--skip-ds", action="store_true")
    parser.add_argument("--skip-oltp", action="store_true")
    args = parser.parse_args()
    ensure_packages()
    print(f"advice quality: {platform.node()}, {os.cpu_count()} CPUs, PostgreSQL 15, {time.strftime('%Y-%m-%d %H:%M')}")
    conf = {
        "shared_preload_libraries": "pg_stat_statements, pg_qualstats",
        "pg_qualstats.sample_rate": "1",
        "shared_buffers": "256MB",
        "max_connections": "50",
    }
    cluster = LocalCluster(BINDIR, conf=conf)
    cluster.init().start()
    met = True
    try:
        if not args.skip_ds:
            met &= decision_support(cluster, args)
        if not args.skip_oltp:
            met &= oltp(cluster, args)
    finally:
        cluster.destroy()
    print(f"\n{'all targets met' if met else 'some targets missed'}")


def decision_support(cluster: LocalCluster, args: argparse.Namespace) -> bool:
    started = time.monotonic()
    queries = load_tpch(cluster, "tpch", args.sf)
    print(f"\nTPC-H SF {args.sf}: loaded in {time.monotonic() - started:.0f} s, {len(queries)} queries")

    def workload(db: str, times: list[float] | None = None) -> float:
        return run_queries(cluster.dsn(db), queries, times)

    record(cluster, "tpch", workload)
    dsn = cluster.dsn("tpch")
    ours, doc, seconds = pgtune_advice(dsn)
    theirs, their_seconds = qualstats_advice(dsn)
    with psycopg.connect(dsn, autocommit=True) as conn:  # the copies are made from it: no one connected
        conn.execute("SELECT pg_stat_statements_reset(), pg_qualstats_reset()")
    base = Measured("baseline")
    pg = Measured("pgtune", ours, advisor_seconds=seconds)
    qs = Measured("pg_qualstats", theirs, advisor_seconds=their_seconds)
    evaluate(cluster, "tpch", [base, pg, qs], workload, args.runs, queries)
    table("decision support (TPC-H)", base, [pg, qs], True)
    slower = [
        f"Q{i + 1} {pg.query_median(i) * 1000:.0f} ms vs {qs.query_median(i) * 1000:.0f} ms"
        for i in range(len(queries))
        if pg.query_median(i) > 1.2 * qs.query_median(i) and pg.query_median(i) - qs.query_median(i) > 0.02
    ]
    print(f"  queries pgtune's indexes leave slower than pg_qualstats': {'; '.join(slower) or 'none'}")
    coverage = doc.get("coverage") or {}
    planned, total = coverage.get("planned", 0), coverage.get("workload_statements", 0)
    print(
        f"  pgtune coverage: {planned} of {total} statements planned, "
        f"{coverage.get('time_share_planned', 0):.1%} of the time"
    )
    for entry in coverage.get("not_planned") or []:
        print(f"    not planned {entry['queryid']}: {entry['reason']}: {entry['detail']}")
    best = min(qs.median, qs.median)
    print("  targets:")
    ok = verdict(pg.median <= 1.1 * best, f"workload time {pg.median / best:.2f}x the best outside advisor's (<= 1.1x)")
    ok &= verdict(pg.bytes <= qs.bytes, f"index bytes {_mb(pg.bytes)} <= the leanest outside set's {_mb(qs.bytes)}")
    ok &= verdict(not pg.unused, f"no proposed index unused after the re-run ({len(pg.unused)} unused)")
    ok &= verdict(total > 0 and planned / total >= 0.95, f"coverage {planned}/{total} statements (>= 95%)")
    return ok


def oltp(cluster: LocalCluster, args: argparse.Namespace) -> bool:
    with cluster.connect() as conn:
        conn.execute(b"CREATE DATABASE pgb")
    # Tables and data, no primary keys (-I dtgv: what an OLTP schema without its indexes looks like); then
    # the small, update-hot tables get theirs back, so "none leading with a unique key" is put to the test.
    subprocess.run(
        [
            str(BINDIR / "pgbench"),
            "-i",
            "-q",
            "-I",
            "dtgv",
            "-s",
            str(args.scale),
            "-h",
            "127.0.0.1",
            "-p",
            str(cluster.port),
            "-U",
            "postgres",
            "pgb",
        ],
        check=True,
        capture_output=True,
    )
    with psycopg.connect(cluster.dsn("pgb"), autocommit=True) as conn:
        conn.execute("ALTER TABLE pgbench_branches ADD PRIMARY KEY (bid)")
        conn.execute("ALTER TABLE pgbench_tellers ADD PRIMARY KEY (tid)")

    def workload(db: str, times: list[float] | None = None) -> float:
        return pgbench(cluster, db, args.transactions)

    record(cluster, "pgb", workload)
    dsn = cluster.dsn("pgb")
    ours, _doc, seconds = pgtune_advice(dsn)
    theirs, their_seconds = qualstats_advice(dsn)
    base = Measured("baseline")
    pg = Measured("pgtune", ours, advisor_seconds=seconds)
    qs = Measured("pg_qualstats", theirs, advisor_seconds=their_seconds)
    evaluate(cluster, "pgb", [base, pg, qs], workload, args.runs, None)
    table("OLTP (pgbench TPC-B-like)", base, [pg, qs], False)

    def keyed(ddls: list[str]) -> set[tuple[str, str]]:
        out = set()
        for ddl in ddls:
            m = re.search(r"ON\s+(?:\w+\.)?(\w+)\s+(?:USING\s+\w+\s*)?\(([^)]*)\)", ddl, re.IGNORECASE)
            if m:
                out.add((m.group(1), ",".join(c.strip() for c in m.group(2).split(","))))
        return out

    print("  targets:")
    mine, outside = keyed(ours), keyed(theirs)
    ok = verdict(
        not (outside - mine) or not outside,
        f"the outside advisor's indexes proposed too: {sorted(outside)} vs {sorted(mine)}",
    )
    small = {"pgbench_branches", "pgbench_tellers"}
    ok &= verdict(not {t for t, _c in mine} & small, "none on the small, update-hot tables (branches, tellers)")
    pkeys = {"pgbench_branches": "bid", "pgbench_tellers": "tid"}  # the unique keys this setup has
    ok &= verdict(
        not [c for t, c in mine if pkeys.get(t) and c.split(",")[0] == pkeys[t]], "none leading with a unique key"
    )
    ok &= verdict(not pg.unused, f"none unused after the re-run ({len(pg.unused)} unused)")
    return ok


if __name__ == "__main__":
    main()
