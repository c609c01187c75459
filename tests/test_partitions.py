"""Partitions against real PostgreSQL 15 and 16, with the clock fixed by --as-of."""

from __future__ import annotations

import textwrap
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import psycopg
import pytest
from conftest import Server

from pgtune.base.errors import PgtuneError
from pgtune.kinds.engine import build_plan
from pgtune.plan.model import Plan, value_data
from pgtune.profile.loader import load_profile

PlanAt = Callable[[str, str], Plan]

SCHEMA = """
CREATE SCHEMA letta;
CREATE TABLE letta.messages (
    id varchar NOT NULL, agent_id varchar, role varchar NOT NULL DEFAULT 'user', is_err boolean,
    created_at timestamptz NOT NULL DEFAULT now(), PRIMARY KEY (id, created_at)
) PARTITION BY RANGE (created_at);
CREATE INDEX ix_messages_agent_created_at ON letta.messages (agent_id, created_at);
CREATE TABLE letta.daily (id bigint, day date NOT NULL) PARTITION BY RANGE (day);
CREATE TABLE letta.events (id bigint, at timestamp NOT NULL) PARTITION BY RANGE (at);
CREATE TABLE letta.ids (id bigint NOT NULL PRIMARY KEY) PARTITION BY RANGE (id);
CREATE TABLE letta.tenants_data (organization_id text NOT NULL, payload text) PARTITION BY LIST (organization_id);
CREATE TABLE letta.plain (id bigint, created_at timestamptz);
"""


@pytest.fixture
def db(pg: Server) -> Iterator[Server]:
    pg.sql(SCHEMA)
    yield pg
    pg.sql("DROP SCHEMA letta CASCADE")


@pytest.fixture
def plan_at(db: Server, tmp_path: Path) -> PlanAt:
    def run(text: str, as_of: str) -> Plan:
        path = tmp_path / "profile.yaml"
        path.write_text(textwrap.dedent(text).lstrip("\n"), encoding="utf-8")
        with psycopg.connect(db.dsn, autocommit=True, application_name="pgtune") as conn:
            return build_plan(conn, load_profile(path), as_of)

    return run


def partitions(pg: Server, table: str) -> dict[str, str]:
    rows = pg.sql(
        "SELECT c.relname, pg_get_expr(c.relpartbound, c.oid) FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid "
        "WHERE i.inhparent = %s::regclass ORDER BY 1",
        (table,),
    )
    return dict(rows)


MONTHLY = """
    name: monthly
    tables:
      letta.messages:
        storage:
          autovacuum_vacuum_scale_factor: 0.05
          fillfactor: 90
        partitioning:
          strategy: range
          key: created_at
          interval: 1 month
          premake: 3
          start: 2026-09-01
          retention: 2 months
          default_partition: true
"""


def test_range_partitions_ahead_of_now_then_one_more_a_month_later(db: Server, plan_at: PlanAt) -> None:
    plan = plan_at(MONTHLY, "2026-11-23")
    creates = [(c.object, value_data(c.after)) for c in plan.changes if c.action == "create"]
    assert creates == [
        ("letta.messages_p2026_09", {"from": "2026-09-01", "to": "2026-10-01"}),
        ("letta.messages_p2026_10", {"from": "2026-10-01", "to": "2026-11-01"}),
        ("letta.messages_p2026_11", {"from": "2026-11-01", "to": "2026-12-01"}),
        ("letta.messages_p2026_12", {"from": "2026-12-01", "to": "2027-01-01"}),
        ("letta.messages_p2027_01", {"from": "2027-01-01", "to": "2027-02-01"}),
        ("letta.messages_p2027_02", {"from": "2027-02-01", "to": "2027-03-01"}),
        ("letta.messages_default", {"default": True}),
    ]
    assert all(c.kind == "partition" for c in plan.changes)
    attach = [s for c in plan.changes for s in c.statements if "ATTACH PARTITION" in s.sql]
    assert all(s.lock == "SHARE UPDATE EXCLUSIVE" and s.transactional for s in attach)
    # No default partition yet: creating one takes nothing stronger than SHARE UPDATE EXCLUSIVE.
    assert {c.lock for c in plan.changes if c.action == "create"} == {"SHARE UPDATE EXCLUSIVE"}
    assert plan.changes[-1].statements[0].sql == 'ANALYZE "letta"."messages"'
    assert not plan.notices
    db.apply(plan)

    live = partitions(db, "letta.messages")
    assert len(live) == 7 and live["messages_default"] == "DEFAULT"
    assert live["messages_p2026_11"].startswith("FOR VALUES FROM ('2026-11-01 00:00:00+00')")
    # Each new partition carries the declared storage parameters and the parent's (valid) index.
    options = db.sql("SELECT reloptions FROM pg_class WHERE relname = 'messages_p2027_02'")[0][0]
    assert sorted(options) == ["autovacuum_vacuum_scale_factor=0.05", "fillfactor=90"]
    leaf_indexes = db.sql(
        "SELECT count(*) FILTER (WHERE i.indisvalid) , count(*) FROM pg_index i "
        "JOIN pg_inherits h ON h.inhrelid = i.indexrelid "
        "WHERE h.inhparent = 'letta.ix_messages_agent_created_at'::regclass"
    )[0]
    assert leaf_indexes == (7, 7)
    assert not db.sql("SELECT conname FROM pg_constraint WHERE conname = 'pgtune_partition_bound'")
    assert plan_at(MONTHLY, "2026-11-23").empty

    # A month later: exactly one partition ahead, and (2 months of retention) exactly one retired.
    later = plan_at(MONTHLY, "2026-12-23")
    assert [(c.action, c.object) for c in later.changes] == [
        ("create", "letta.messages_p2027_03"),
        ("delete", "letta.messages_p2026_09"),
        ("update", "letta.messages"),
    ]
    retire = later.changes[1]
    # A default partition exists: no concurrent detach; the lock is flagged.
    assert retire.statements[0].sql == 'ALTER TABLE "letta"."messages" DETACH PARTITION "letta"."messages_p2026_09"'
    assert "ACQUIRES_ACCESS_EXCLUSIVE_LOCK" in {h.code for h in retire.hazards}
    db.apply(later)
    assert "messages_p2026_09" not in partitions(db, "letta.messages")
    assert db.one("SELECT count(*) FROM pg_class WHERE relname = 'messages_p2026_09'") == 1  # detached, kept
    assert plan_at(MONTHLY, "2026-12-23").empty


@pytest.mark.parametrize(
    ("table", "key", "interval", "as_of", "expected"),
    [
        ("letta.daily", "day", "1 day", "2026-12-31", ["daily_p2026_12_31", "daily_p2027_01_01"]),
        ("letta.daily", "day", "1 week", "2026-12-31", ["daily_p2026w53", "daily_p2027w01"]),
        ("letta.daily", "day", "1 year", "2026-12-31", ["daily_p2026", "daily_p2027"]),
        ("letta.events", "at", "3 months", "2026-11-30 23:59", ["events_p2026q4", "events_p2027q1"]),
        ("letta.events", "at", "1 hour", "2026-02-28 23:30", ["events_p2026_02_28_2300", "events_p2026_03_01_0000"]),
        ("letta.ids", "id", "100000", "2026-11-23", ["ids_p0", "ids_p100000"]),
    ],
)
def test_intervals_keys_and_boundaries(
    db: Server, plan_at: PlanAt, table: str, key: str, interval: str, as_of: str, expected: list[str]
) -> None:
    profile = f"""
        name: intervals
        tables:
          {table}:
            partitioning: {{strategy: range, key: {key}, interval: '{interval}', premake: 1}}
    """
    plan = plan_at(profile, as_of)
    assert [c.object.split(".")[1] for c in plan.changes if c.action == "create"] == expected
    db.apply(plan)
    assert sorted(partitions(db, table)) == sorted(expected)
    assert plan_at(profile, as_of).empty


def test_integer_ranges_follow_the_data(db: Server, plan_at: PlanAt) -> None:
    db.sql(
        "CREATE TABLE letta.ids_p0 PARTITION OF letta.ids FOR VALUES FROM (0) TO (100000);"
        "INSERT INTO letta.ids SELECT generate_series(1, 99999);"
    )
    profile = (
        "name: ids\ntables:\n  letta.ids:\n    partitioning: {strategy: range, key: id, interval: 100000, premake: 2}\n"
    )
    plan = plan_at(profile, "2026-11-23")
    assert [value_data(c.after) for c in plan.changes if c.action == "create"] == [
        {"from": 100000, "to": 200000},
        {"from": 200000, "to": 300000},
    ]


def test_a_server_time_zone_other_than_utc(db: Server, plan_at: PlanAt) -> None:
    db.sql("ALTER ROLE postgres SET TimeZone = 'America/New_York'")
    profile = """
        name: tz
        tables:
          letta.messages:
            partitioning: {strategy: range, key: created_at, interval: 1 month, premake: 1}
    """
    plan = plan_at(profile, "2026-11-23")
    db.apply(plan)
    live = partitions(db, "letta.messages")
    with psycopg.connect(db.dsn, autocommit=True) as conn:
        conn.execute("SET TimeZone = 'UTC'")
        bound = conn.execute(
            "SELECT pg_get_expr(relpartbound, oid) FROM pg_class WHERE relname = 'messages_p2026_11'"
        ).fetchone()[0]
    assert sorted(live) == ["messages_p2026_11", "messages_p2026_12"]
    assert bound == "FOR VALUES FROM ('2026-11-01 04:00:00+00') TO ('2026-12-01 05:00:00+00')"  # EDT, then EST
    assert plan_at(profile, "2026-11-23").empty


def test_rows_in_the_default_partition_block_a_create_unless_moved(db: Server, plan_at: PlanAt) -> None:
    db.sql(
        "CREATE TABLE letta.messages_default PARTITION OF letta.messages DEFAULT;"
        "INSERT INTO letta.messages (id, created_at) SELECT 'message-' || g, "
        "timestamptz '2026-12-01' + g * interval '1 minute' FROM generate_series(1, 250) g;"
        "INSERT INTO letta.messages (id, created_at) VALUES ('message-old', '2020-01-01');"
    )
    profile = """
        name: stuck
        tables:
          letta.messages:
            partitioning: {strategy: range, key: created_at, interval: 1 month, premake: 1}
    """
    position = db.log_position()
    with pytest.raises(PgtuneError) as excinfo:
        plan_at(profile, "2026-11-23")
    message = str(excinfo.value)
    assert "profile.yaml:4:5:" in message
    assert "letta.messages_default holds 250 rows for the new partition messages_p2026_12" in message
    assert "2026-12-01 .. 2027-01-01" in message and "move_default_rows: true" in message
    db.assert_only_reads_since(position)

    moving = profile.replace("premake: 1}", "premake: 1, move_default_rows: true}")
    plan = plan_at(moving, "2026-11-23")
    move = next(c for c in plan.changes if c.object == "letta.messages_p2026_12")
    assert "DATA_MOVE" in {h.code for h in move.hazards}
    before = db.one("SELECT count(*) FROM letta.messages")
    db.apply(plan)
    assert db.one("SELECT count(*) FROM letta.messages") == before == 251
    assert db.one("SELECT count(*) FROM letta.messages_p2026_12") == 250
    assert db.one("SELECT count(*) FROM letta.messages_default") == 1
    assert plan_at(moving, "2026-11-23").empty


def test_retention_drop_and_the_hazard_gate(db: Server, plan_at: PlanAt, cli: Callable, tmp_path: Path) -> None:
    db.sql(
        "CREATE TABLE letta.messages_p2026_01 PARTITION OF letta.messages "
        "FOR VALUES FROM ('2026-01-01') TO ('2026-02-01');"
        "INSERT INTO letta.messages (id, created_at) VALUES ('message-1', '2026-01-15');"
    )
    profile = tmp_path / "drop.yaml"
    profile.write_text(
        "name: drop\ntables:\n  letta.messages:\n    partitioning:\n      strategy: range\n      key: created_at\n"
        "      interval: 1 month\n      premake: 0\n      retention: 6 months\n      retention_action: drop\n"
    )
    args = ("--dsn", db.dsn, "--as-of", "2026-11-23")
    plan = cli("plan", str(profile), *args)
    assert "Apply needs: --allow-hazards DELETES_DATA" in plan.stdout
    # On PG 14+ without a default partition the detach is concurrent.
    assert 'DETACH PARTITION "letta"."messages_p2026_01" CONCURRENTLY' in plan.stdout
    position = db.log_position()
    refused = cli("apply", str(profile), *args, "--yes")
    assert refused.code == 1
    assert "gated hazards DELETES_DATA" in refused.stderr and "--allow-hazards DELETES_DATA" in refused.stderr
    db.assert_only_reads_since(position)
    assert db.one("SELECT count(*) FROM pg_class WHERE relname = 'messages_p2026_01'") == 1
    applied = cli("apply", str(profile), *args, "--yes", "--allow-hazards", "DELETES_DATA")
    assert applied.code == 0, applied.stderr
    assert db.one("SELECT count(*) FROM pg_class WHERE relname = 'messages_p2026_01'") == 0
    assert cli("plan", str(profile), *args, "--detailed-exitcode").code == 0


def test_an_interrupted_concurrent_detach_is_finalized(db: Server, plan_at: PlanAt) -> None:
    db.sql(
        "CREATE TABLE letta.messages_p2026_01 PARTITION OF letta.messages "
        "FOR VALUES FROM ('2026-01-01') TO ('2026-02-01');"
    )
    # An old snapshot makes DETACH ... CONCURRENTLY wait in its second transaction; cancel it there.
    holder = psycopg.connect(db.dsn)
    holder.execute("SELECT count(*) FROM letta.messages")
    detacher = psycopg.connect(db.dsn, autocommit=True)
    pid = detacher.info.backend_pid

    def detach() -> None:
        with pytest.raises(psycopg.errors.QueryCanceled):
            detacher.execute("ALTER TABLE letta.messages DETACH PARTITION letta.messages_p2026_01 CONCURRENTLY")

    worker = threading.Thread(target=detach)
    worker.start()
    for _ in range(100):
        waiting = db.one("SELECT wait_event_type FROM pg_stat_activity WHERE pid = %s", (pid,))
        if waiting == "Lock":
            break
        time.sleep(0.05)
    db.sql("SELECT pg_cancel_backend(%s)", (pid,))
    worker.join()
    holder.close()
    detacher.close()
    assert db.one("SELECT inhdetachpending FROM pg_inherits WHERE inhrelid = 'letta.messages_p2026_01'::regclass")
    profile = """
        name: finalize
        tables:
          letta.messages:
            partitioning: {strategy: range, key: created_at, interval: 1 month, premake: 0, start: 2026-11-01}
    """
    plan = plan_at(profile, "2026-11-23")
    finalize = next(c for c in plan.changes if c.action == "delete")
    assert finalize.statements[0].sql.endswith('DETACH PARTITION "letta"."messages_p2026_01" FINALIZE')
    db.apply(plan)
    assert "messages_p2026_01" not in partitions(db, "letta.messages")
    assert plan_at(profile, "2026-11-23").empty


def test_list_partitions(db: Server, plan_at: PlanAt) -> None:
    profile = """
        name: lists
        tables:
          letta.tenants_data:
            partitioning:
              strategy: list
              key: organization_id
              partitions:
                tenants_data_org_a: [org-a]
                tenants_data_org_b: [org-b, org-c]
              default_partition: true
    """
    plan = plan_at(profile, "2026-11-23")
    assert [(c.object, value_data(c.after)) for c in plan.changes if c.action == "create"] == [
        ("letta.tenants_data_org_a", {"values": ["org-a"]}),
        ("letta.tenants_data_org_b", {"values": ["org-b", "org-c"]}),
        ("letta.tenants_data_default", {"default": True}),
    ]
    db.apply(plan)
    assert partitions(db, "letta.tenants_data")["tenants_data_org_b"] == "FOR VALUES IN ('org-b', 'org-c')"
    assert plan_at(profile, "2026-11-23").empty
    with pytest.raises(PgtuneError, match=r"tenants_data_org_b holds \['org-b', 'org-c'\], not \['org-b'\]"):
        plan_at(profile.replace("[org-b, org-c]", "[org-b]"), "2026-11-23")


@pytest.mark.parametrize(
    ("table", "partitioning", "message"),
    [
        ("letta.plain", "{strategy: range, key: created_at, interval: 1 month}", "letta.plain is not partitioned"),
        ("letta.messages", "{strategy: list, key: created_at}", "is partitioned BY RANGE, not list"),
        (
            "letta.messages",
            "{strategy: range, key: agent_id, interval: 1 day}",
            "partitioned by 'created_at', not 'agent_id'",
        ),
        (
            "letta.messages",
            "{strategy: range, key: created_at, interval: 100}",
            "an integer interval needs an integer key",
        ),
        ("letta.messages", "{strategy: range, key: created_at, interval: 2 weeks}", "unsupported interval '2 weeks'"),
        ("letta.messages", "{strategy: range, key: created_at}", "range partitioning needs an interval"),
        (
            "letta.messages",
            "{strategy: range, key: created_at, interval: 1 day, naming: '{tabel}_x'}",
            "unknown placeholder {tabel}",
        ),
    ],
)
def test_partitioning_that_does_not_fit_the_table_is_an_error(
    db: Server, plan_at: PlanAt, table: str, partitioning: str, message: str
) -> None:
    position = db.log_position()
    with pytest.raises(PgtuneError) as excinfo:
        plan_at(f"name: bad\ntables:\n  {table}:\n    partitioning: {partitioning}\n", "2026-11-23")
    assert "profile.yaml:4:5: " in str(excinfo.value)
    assert message in str(excinfo.value)
    db.assert_only_reads_since(position)


def test_writers_into_the_current_partition_see_no_error_during_apply(db: Server, plan_at: PlanAt) -> None:
    db.sql(
        "CREATE TABLE letta.messages_p2026_11 PARTITION OF letta.messages "
        "FOR VALUES FROM ('2026-11-01') TO ('2026-12-01')"
    )
    errors: list[str] = []
    stop = threading.Event()

    def write() -> None:
        with psycopg.connect(db.dsn, autocommit=True) as conn:
            i = 0
            while not stop.is_set():
                i += 1
                try:
                    conn.execute(
                        "INSERT INTO letta.messages (id, created_at) VALUES (%s, '2026-11-20')", (f"message-{i}",)
                    )
                except psycopg.Error as exc:
                    errors.append(str(exc))
                time.sleep(0.002)

    thread = threading.Thread(target=write)
    thread.start()
    try:
        time.sleep(0.2)
        db.apply(plan_at("\n".join(line for line in MONTHLY.splitlines() if "start:" not in line), "2026-11-23"))
        time.sleep(0.2)
    finally:
        stop.set()
        thread.join()
    assert errors == []
    assert db.one("SELECT count(*) FROM letta.messages_p2026_11") > 0


def test_partitions_that_do_not_fit_the_interval_are_reported_not_touched(db: Server, plan_at: PlanAt) -> None:
    db.sql(
        "CREATE TABLE letta.messages_odd PARTITION OF letta.messages FOR VALUES FROM ('2026-11-15') TO ('2026-12-15')"
    )
    profile = """
        name: odd
        tables:
          letta.messages:
            partitioning: {strategy: range, key: created_at, interval: 1 month, premake: 2}
    """
    plan = plan_at(profile, "2026-11-23")
    assert [c.object for c in plan.changes if c.action == "create"] == ["letta.messages_p2027_01"]
    assert {(n.code, n.object) for n in plan.notices} == {("MISALIGNED_PARTITION", "letta.messages_odd")}
    db.apply(plan)
    assert "messages_odd" in partitions(db, "letta.messages")
