"""Online behaviour against real servers: writers keep writing while pgtune builds indexes, and a
lock held by someone else makes pgtune give up quickly instead of queueing traffic behind it."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

import psycopg
import pytest
from conftest import Server

from pgtune.plan.model import Plan
from pgtune.targets.executor import FAILED, ExecOptions

PlanFor = Callable[[str], Plan]
ROWS = 200_000


@pytest.fixture
def big(letta_tables: Server) -> Iterator[Server]:
    pg = letta_tables
    pg.sql(
        "INSERT INTO letta.organizations VALUES ('org-1', 'acme');"
        "INSERT INTO letta.agents (id, organization_id) SELECT 'agent-' || g, 'org-1' FROM generate_series(1, 50) g;"
        "INSERT INTO letta.messages (id, organization_id, agent_id, role, text, is_err, created_at) "
        f"SELECT 'message-' || g, 'org-1', 'agent-' || (g % 50 + 1), 'assistant', repeat('x', 40) || g, g % 97 = 0, "
        f"now() - g * interval '1 second' FROM generate_series(1, {ROWS}) g;"
        "ANALYZE letta.messages;"
    )
    yield pg  # letta_tables drops the schema


@dataclass
class Writer:
    """Inserts one message per transaction, as fast as it can, timing every insert."""

    dsn: str
    latencies: list[float] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    stop: threading.Event = field(default_factory=threading.Event)

    def run(self) -> None:
        with psycopg.connect(self.dsn, autocommit=True, application_name="writer") as conn:
            i = 0
            while not self.stop.is_set():
                i += 1
                started = time.monotonic()
                try:
                    conn.execute(
                        "INSERT INTO letta.messages (id, organization_id, agent_id, role, text, is_err) "
                        "VALUES (%s, 'org-1', 'agent-1', 'user', 'hi', false)",
                        (f"message-w{i}",),
                    )
                except psycopg.Error as exc:
                    self.errors.append(str(exc))
                self.latencies.append(time.monotonic() - started)
                time.sleep(0.002)


ONLINE = """
    name: online
    tables:
      letta.messages:
        storage:
          autovacuum_vacuum_scale_factor: 0.05
          autovacuum_analyze_scale_factor: 0.02
        indexes:
          ix_messages_agent_err:
            columns: [agent_id, sequence_id]
            where: is_err = true
          ix_messages_agent_created_at_id:
            columns: [agent_id, created_at]
            include: [id]
          ix_messages_lower_text:
            columns: [lower(text) text_pattern_ops]
"""


def test_writers_never_wait_while_indexes_are_built(big: Server, plan_for: PlanFor) -> None:
    plan = plan_for(ONLINE)
    assert [c.kind for c in plan.changes] == ["storage", "index", "index", "index"]
    writer = Writer(big.dsn)
    thread = threading.Thread(target=writer.run)
    thread.start()
    samples: list[dict] = []
    lock_timeout = 2.0
    try:
        time.sleep(0.3)
        before = len(writer.latencies)
        options = ExecOptions(
            lock_timeout=f"{int(lock_timeout * 1000)}ms",
            progress=lambda _stmt, sample: samples.append(sample),
            progress_interval=0.05,
        )
        started = time.monotonic()
        big.apply(plan, options)
        elapsed = time.monotonic() - started
        during = len(writer.latencies) - before
        time.sleep(0.2)
    finally:
        writer.stop.set()
        thread.join()
    assert writer.errors == []
    assert during > 0, "the writer made no progress while pgtune was building"
    worst = max(writer.latencies)
    assert worst < lock_timeout, f"an insert waited {worst:.3f}s"
    print(f"apply {elapsed:.2f}s; {during} inserts meanwhile; worst insert {worst * 1000:.1f} ms")
    assert samples and all("phase" in s for s in samples)
    live = big.sql(
        "SELECT c.relname, i.indisvalid FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid "
        "WHERE c.relname IN ('ix_messages_agent_err', 'ix_messages_agent_created_at_id', 'ix_messages_lower_text')"
    )
    assert sorted(live) == [
        ("ix_messages_agent_created_at_id", True),
        ("ix_messages_agent_err", True),
        ("ix_messages_lower_text", True),
    ]
    assert plan_for(ONLINE).empty


@pytest.fixture
def letta(letta_tables: Server) -> Iterator[Server]:
    yield letta_tables


def _reader(dsn: str, table: str, stop: threading.Event, latencies: list[float]) -> None:
    with psycopg.connect(dsn, autocommit=True, application_name="reader") as conn:
        while not stop.is_set():
            started = time.monotonic()
            conn.execute(f"SELECT count(*) FROM {table}".encode())
            latencies.append(time.monotonic() - started)
            time.sleep(0.01)


def test_a_held_lock_makes_apply_give_up_fast_without_queueing_others(letta: Server, plan_for: PlanFor) -> None:
    # Dropping a partitioned index needs ACCESS EXCLUSIVE; a long reader holds ACCESS SHARE.
    letta.sql("CREATE INDEX ix_mbm_agent ON letta.messages_by_month (agent_id)")
    plan = plan_for(
        """
        name: held
        tables:
          letta.messages_by_month:
            indexes:
              ix_mbm_agent: absent
          letta.messages:
            indexes:
              ix_messages_agent_err: {columns: [agent_id], where: is_err}
        """
    )
    assert [(c.action, c.statements[0].lock) for c in plan.changes] == [
        ("create", "SHARE UPDATE EXCLUSIVE"),
        ("delete", "ACCESS EXCLUSIVE"),
    ]
    holder = psycopg.connect(letta.dsn, application_name="holder")
    holder.execute("SELECT count(*) FROM letta.messages_by_month")  # ACCESS SHARE until rollback
    stop, latencies = threading.Event(), []
    reader = threading.Thread(target=_reader, args=(letta.dsn, "letta.messages_by_month", stop, latencies))
    reader.start()
    options = ExecOptions(lock_timeout="300ms", retries=2, backoff_seconds=0.2)
    try:
        started = time.monotonic()
        report = letta.apply(plan, options, check=False)
        elapsed = time.monotonic() - started
    finally:
        stop.set()
        reader.join()
        holder.rollback()
        holder.close()
    [built, dropped] = report.outcomes
    assert built.status == "applied"
    assert dropped.status == FAILED
    assert dropped.error and "lock timeout" in dropped.error and "55P03" in dropped.error
    # 3 attempts of 300 ms plus 0.2 + 0.4 s of backoff: bounded, not queued indefinitely.
    assert elapsed < 0.3 * 3 + 0.6 + 2.0
    # The reader was never stuck behind pgtune's waiting ACCESS EXCLUSIVE request for long.
    assert latencies and max(latencies) < 0.3 + 0.5, max(latencies)
    # Nothing half-done: the index is still there, and the next plan still wants to drop it.
    assert [
        c.action
        for c in plan_for(
            "name: again\ntables:\n  letta.messages_by_month:\n    indexes:\n      ix_mbm_agent: absent\n"
        ).changes
    ] == ["delete"]


def test_an_open_writer_makes_a_concurrent_build_fail_and_the_next_plan_repairs_it(
    letta: Server, plan_for: PlanFor
) -> None:
    profile = """
        name: repair
        tables:
          letta.steps:
            indexes:
              ix_steps_agent: {columns: [agent_id]}
            storage:
              autovacuum_vacuum_scale_factor: 0.05
    """
    holder = psycopg.connect(letta.dsn, application_name="holder")
    holder.execute("INSERT INTO letta.steps (id) VALUES ('step-open')")  # a write transaction left open
    try:
        report = letta.apply(plan_for(profile), ExecOptions(lock_timeout="300ms", retries=2), check=False)
    finally:
        holder.rollback()
        holder.close()
    statuses = [(o.change.kind, o.status) for o in report.outcomes]
    assert statuses == [("storage", "applied"), ("index", FAILED)]
    assert "lock timeout" in (report.outcomes[1].error or "")
    # The build is never retried blindly; the invalid index it left is seen and replaced next time.
    [change] = plan_for(profile).changes
    assert change.action == "replace" and "INVALID_INDEX" in {h.code for h in change.hazards}
    letta.apply(plan_for(profile))
    assert letta.one("SELECT indisvalid FROM pg_index WHERE indexrelid = 'letta.ix_steps_agent'::regclass") is True
    assert plan_for(profile).empty
