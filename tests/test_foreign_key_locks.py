"""Every lock a statement takes is in the plan, the other ends of foreign keys included, and a writer
on a referenced table never waits behind pgtune longer than lock_timeout per attempt."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import psycopg
import pytest

from tests.conftest import CliResult, Server, start_cli

Cli = Callable[..., CliResult]
AS_OF = "2026-11-24"

SCHEMA = """
DROP TABLE IF EXISTS public.notes, public.events, public.users CASCADE;
CREATE TABLE public.users (id serial PRIMARY KEY);
INSERT INTO public.users SELECT FROM generate_series(1, 10);
CREATE TABLE public.events (id bigint, uid int REFERENCES public.users, at date NOT NULL, PRIMARY KEY (id, at))
    PARTITION BY RANGE (at);
CREATE TABLE public.events_p2026_11 PARTITION OF public.events FOR VALUES FROM ('2026-11-01') TO ('2026-12-01');
CREATE TABLE public.notes (id int, event_id bigint, event_at date,
    FOREIGN KEY (event_id, event_at) REFERENCES public.events);
"""

PROFILE = """
name: fk
tables:
  public.events:
    partitioning: {strategy: range, key: at, interval: 1 month, premake: 1, start: 2026-11-01}
"""


@pytest.fixture
def events(pg: Server) -> Iterator[Server]:
    pg.sql(SCHEMA)
    yield pg
    pg.sql("DROP TABLE IF EXISTS public.notes, public.events, public.users CASCADE")


def test_the_plan_names_the_foreign_keys_other_ends(
    events: Server, cli: Cli, write_profile: Callable[..., Path]
) -> None:
    profile = write_profile(PROFILE)
    planned = cli("plan", str(profile), "--dsn", events.dsn, "--as-of", AS_OF, "--format", "json")
    assert planned.code == 0, planned.stderr
    create = next(c for c in json.loads(planned.stdout)["changes"] if c["action"] == "create")
    attach = next(s for s in create["statements"] if "ATTACH PARTITION" in s["sql"])
    assert attach["lock"] == "SHARE UPDATE EXCLUSIVE"
    assert {(lk["relation"], lk["mode"]) for lk in attach["locks"]} == {
        ("public.users", "SHARE ROW EXCLUSIVE"),
        ("public.notes", "ACCESS SHARE"),
    }
    assert {"relation": "public.users", "mode": "SHARE ROW EXCLUSIVE"} in create["other_locks"]
    hazard = next(h for h in create["hazards"] if h["code"] == "LOCKS_OTHER_TABLES")
    assert "public.users (SHARE ROW EXCLUSIVE)" in hazard["message"] and "public.notes" in hazard["message"]
    text = cli("plan", str(profile), "--dsn", events.dsn, "--as-of", AS_OF).stdout
    assert "lock: SHARE UPDATE EXCLUSIVE; SHARE ROW EXCLUSIVE on public.users; ACCESS SHARE on public.notes" in text
    markdown = cli("plan", str(profile), "--dsn", events.dsn, "--as-of", AS_OF, "--format", "markdown").stdout
    assert "lock: SHARE ROW EXCLUSIVE on `public.users`" in markdown


def test_a_writer_on_the_referenced_table_waits_at_most_lock_timeout(
    events: Server, cli: Cli, write_profile: Callable[..., Path]
) -> None:
    """A long transaction holds ROW EXCLUSIVE on users, so pgtune's SHARE ROW EXCLUSIVE waits; a
    writer to users queues behind pgtune's request — for at most lock_timeout, each attempt."""
    profile = write_profile(PROFILE)
    holder = psycopg.connect(events.dsn)
    holder.execute("INSERT INTO public.users DEFAULT VALUES")  # open: ROW EXCLUSIVE on users
    stop = threading.Event()
    latencies: list[float] = []

    def write() -> None:
        with psycopg.connect(events.dsn, autocommit=True) as conn:
            while not stop.is_set():
                started = time.monotonic()
                conn.execute("INSERT INTO public.users DEFAULT VALUES")
                latencies.append(time.monotonic() - started)
                time.sleep(0.01)

    writer = threading.Thread(target=write, daemon=True)
    writer.start()
    try:
        apply = start_cli(
            "apply",
            str(profile),
            "--dsn",
            events.dsn,
            "--as-of",
            AS_OF,
            "--yes",
            "--lock-timeout",
            "1s",
            "--retries",
            "2",
        )
        out, err = apply.communicate(timeout=120)
    finally:
        stop.set()
        writer.join(timeout=10)
        holder.rollback()
        holder.close()
    assert apply.returncode == 1, out + err  # the long transaction never let go: pgtune gave up
    assert "canceling statement due to lock timeout" in out
    assert len(latencies) > 20
    worst = max(latencies)
    assert worst > 0.5, worst  # the writer really queued behind pgtune (else this proves nothing)
    assert worst < 1.0 + 0.75, worst  # ... for no longer than lock_timeout (plus scheduling slack)
    converged = cli("apply", str(profile), "--dsn", events.dsn, "--as-of", AS_OF, "--yes")
    assert converged.code == 0, converged.stdout + converged.stderr
    again = cli("plan", str(profile), "--dsn", events.dsn, "--as-of", AS_OF, "--detailed-exitcode")
    assert again.code == 0, again.stdout + again.stderr
