"""Writers during an index build: pgtune apply (CONCURRENTLY, lock_timeout) vs plain CREATE INDEX.

    python bench/online_apply.py --rows 2000000 --writers 4

Builds a Letta-like `messages` table with --rows rows on a throwaway PostgreSQL 16, starts
--writers threads inserting continuously, measures their throughput and latency for a baseline
period, then (1) runs `pgtune apply` building three indexes and changing storage parameters, and
(2) drops those indexes and builds them again with plain CREATE INDEX (what a naive migration
does). Prints per phase: inserts/s, p99 and max insert latency, errors. Target: with pgtune, zero
writer errors and max insert latency under pgtune's lock_timeout.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import psycopg

from pgtune.integrations.sandbox import LocalCluster

PROFILE = """
name: online
tables:
  public.messages:
    storage: {autovacuum_vacuum_scale_factor: 0.05, autovacuum_analyze_scale_factor: 0.02}
    indexes:
      ix_messages_agent_created: {columns: [agent_id, created_at]}
      ix_messages_run_sequence: {columns: [run_id, sequence_id]}
      ix_messages_errors: {columns: [agent_id, sequence_id], where: is_err}
"""
PLAIN = [
    "CREATE INDEX ix_messages_agent_created ON messages (agent_id, created_at)",
    "CREATE INDEX ix_messages_run_sequence ON messages (run_id, sequence_id)",
    "CREATE INDEX ix_messages_errors ON messages (agent_id, sequence_id) WHERE is_err",
    "ALTER TABLE messages SET (autovacuum_vacuum_scale_factor = 0.05, autovacuum_analyze_scale_factor = 0.02)",
]


class Writers:
    def __init__(self, dsn: str, n: int) -> None:
        self.dsn, self.n = dsn, n
        self.latencies: list[tuple[float, float]] = []  # (when, seconds)
        self.errors: list[tuple[float, str]] = []
        self.stop = threading.Event()
        self.lock = threading.Lock()
        self.threads = [threading.Thread(target=self.run, daemon=True) for _ in range(n)]

    def run(self) -> None:
        with psycopg.connect(self.dsn, autocommit=True) as conn:
            conn.execute("SET statement_timeout = '30s'")
            while not self.stop.is_set():
                started = time.monotonic()
                try:
                    conn.execute(
                        "INSERT INTO messages (agent_id, run_id, role, is_err, sequence_id, created_at) "
                        "VALUES ('agent-' || (random() * 500)::int, 'run-' || (random() * 50000)::int, 'user', "
                        "random() < 0.02, nextval('messages_seq'), now())"
                    )
                    with self.lock:
                        self.latencies.append((started, time.monotonic() - started))
                except psycopg.Error as exc:
                    with self.lock:
                        self.errors.append((started, str(exc).splitlines()[0]))

    def start(self) -> None:
        for t in self.threads:
            t.start()

    def finish(self) -> None:
        self.stop.set()
        for t in self.threads:
            t.join(60)

    def window(self, start: float, end: float) -> tuple[float, float, float, int]:
        with self.lock:
            lat = [s for t, s in self.latencies if start <= t < end]
            errors = sum(1 for t, _ in self.errors if start <= t < end)
        if not lat:
            return 0.0, 0.0, 0.0, errors
        p99 = statistics.quantiles(lat, n=100)[98] if len(lat) >= 100 else max(lat)
        return len(lat) / max(end - start, 1e-9), p99 * 1000, max(lat) * 1000, errors


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=2_000_000)
    parser.add_argument("--writers", type=int, default=4)
    parser.add_argument("--baseline", type=float, default=5.0, help="seconds of writes before each phase")
    parser.add_argument("--lock-timeout", default="2s")
    args = parser.parse_args()
    cluster = LocalCluster(conf={"max_wal_size": "4GB", "shared_buffers": "512MB"})
    cluster.init().start()
    try:
        with cluster.connect() as conn:
            conn.execute("CREATE SEQUENCE messages_seq")
            conn.execute(
                "CREATE TABLE messages (id bigserial PRIMARY KEY, agent_id varchar, run_id varchar, role varchar, "
                "text varchar, is_err boolean, sequence_id bigint, created_at timestamptz)"
            )
            started = time.monotonic()
            conn.execute(
                "INSERT INTO messages (agent_id, run_id, role, text, is_err, sequence_id, created_at) "
                "SELECT 'agent-' || (g %% 500), 'run-' || (g / 40), 'assistant', repeat('x', 100), g %% 50 = 0, "
                "nextval('messages_seq'), now() - (g || ' seconds')::interval "
                "FROM generate_series(1, %s) g",
                (args.rows,),
            )
            conn.execute("VACUUM ANALYZE messages")
            print(f"loaded {args.rows:,} rows in {time.monotonic() - started:.1f}s; {args.writers} writer threads")
        with tempfile.TemporaryDirectory() as tmp:
            profile = Path(tmp) / "online.yaml"
            profile.write_text(PROFILE)
            writers = Writers(cluster.dsn(), args.writers)
            writers.start()
            rows = []
            t0 = time.monotonic()
            time.sleep(args.baseline)
            t1 = time.monotonic()
            rows.append(("baseline", *writers.window(t0, t1), t1 - t0))
            apply = subprocess.run(
                [
                    sys.executable,
                    "-m",
                    "pgtune",
                    "apply",
                    str(profile),
                    "--dsn",
                    cluster.dsn(),
                    "--yes",
                    "--lock-timeout",
                    args.lock_timeout,
                ],
                capture_output=True,
                text=True,
                check=False,
            )
            t2 = time.monotonic()
            if apply.returncode != 0:
                print(apply.stdout[-2000:], apply.stderr[-2000:])
            rows.append((f"pgtune apply (lock_timeout {args.lock_timeout})", *writers.window(t1, t2), t2 - t1))
            with cluster.connect() as conn:
                for name in ("ix_messages_agent_created", "ix_messages_run_sequence", "ix_messages_errors"):
                    conn.execute(f"DROP INDEX CONCURRENTLY {name}".encode())
                conn.execute(
                    "ALTER TABLE messages RESET (autovacuum_vacuum_scale_factor, autovacuum_analyze_scale_factor)"
                )
            time.sleep(args.baseline)
            t3 = time.monotonic()
            with cluster.connect() as conn:
                for statement in PLAIN:
                    conn.execute(statement.encode())
            t4 = time.monotonic()
            rows.append(("plain CREATE INDEX", *writers.window(t3, t4), t4 - t3))
            writers.finish()
        print(f"{'phase':<32} {'seconds':>8} {'inserts/s':>10} {'p99 ms':>8} {'max ms':>9} {'errors':>7}")
        for name, rate, p99, worst, errors, seconds in rows:
            print(f"{name:<32} {seconds:>8.1f} {rate:>10.0f} {p99:>8.1f} {worst:>9.1f} {errors:>7}")
    finally:
        cluster.destroy()


if __name__ == "__main__":
    main()
