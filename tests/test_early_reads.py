"""The catalog reads the engine sends before the kinds' turns (pgtune/kinds/early.py), on a real
server: sent without being asked for, in order, in the plan's own transaction; their errors reach the
kind that asks, as its own would; a kind that writes waits for the reader; and a plan made with them
is the plan made without them."""

from __future__ import annotations

import sys
import threading
from pathlib import Path
from typing import Any

import psycopg
import pytest

import pgtune.kinds.early as early_module
from pgtune.base.poll import wait_until
from pgtune.kinds import engine
from pgtune.kinds.early import EarlyReads, Read
from pgtune.profile.loader import load_profile
from tests.conftest import Server

pytestmark = pytest.mark.server


def test_reads_are_sent_before_they_are_asked_for_in_the_plans_snapshot(pg16: Server) -> None:
    pg16.sql("DROP TABLE IF EXISTS early_t; CREATE TABLE early_t (a int)")
    with psycopg.connect(pg16.dsn, autocommit=True) as conn, conn.transaction():
        conn.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ")
        conn.execute("SELECT 1").fetchone()  # the snapshot is taken
        pg16.sql("INSERT INTO early_t VALUES (1)")  # committed after it: invisible to the plan
        early = EarlyReads(conn)
        interval = sys.getswitchinterval()
        first = Read("first", "SELECT count(*) FROM early_t")
        second = Read("second", "SELECT %(x)s::int + 1 AS y", {"x": 41}, as_dicts=True)
        early.start([first])
        early.start([second])  # a second batch: after the first, in order
        wait_until(lambda: early.ready("second"), 10, "the reader to have sent both reads", AssertionError)
        assert early.ready("first")  # both done before anyone asked
        assert early.rows(first) == [(0,)]  # the plan's snapshot, not the committed insert
        assert early.rows(second) == [{"y": 42}]
        changed = Read("first", "SELECT count(*) + 10 FROM early_t")
        assert early.rows(changed) == [(10,)]  # a read that changed since it was sent is sent again
        assert early.rows(Read("never sent", "SELECT 7")) == [(7,)]
        early.settle()
        assert sys.getswitchinterval() == interval  # restored when the reader is done


def test_a_failed_read_reaches_the_kind_that_asks_and_every_read_after_it(pg16: Server) -> None:
    with psycopg.connect(pg16.dsn, autocommit=True) as conn:
        with pytest.raises(psycopg.errors.DivisionByZero), conn.transaction():
            early = EarlyReads(conn)
            ok, bad, after = Read("ok", "SELECT 1"), Read("bad", "SELECT 1/0"), Read("after", "SELECT 2")
            early.start([ok, bad, after])
            assert early.rows(ok) == [(1,)]
            try:
                early.rows(bad)
            finally:
                assert isinstance(early.failure, psycopg.errors.DivisionByZero)
                with pytest.raises(psycopg.errors.DivisionByZero):
                    early.rows(after)  # never sent: the transaction was aborted by the one before
        assert conn.execute("SELECT 3").fetchone() == (3,)  # rolled back cleanly


def test_a_plan_with_early_reads_is_the_plan_without_them(
    pg16: Server, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    pg16.sql(
        "DROP SCHEMA IF EXISTS early CASCADE; CREATE SCHEMA early;"
        "CREATE TABLE early.t (a int, b text); CREATE INDEX t_a ON early.t (a);"
        "CREATE TABLE early.p (id int, at date) PARTITION BY RANGE (at)"
    )
    profile = tmp_path / "early.yaml"
    profile.write_text(
        "name: early\nsettings: {work_mem: 8MB}\ntables:\n"
        "  early.t:\n    storage: {fillfactor: 90}\n    indexes:\n"
        "      t_a: {columns: [a]}\n      t_b: {columns: [lower(b)]}\n"
        "  early.p:\n"
        "    partitioning: {strategy: range, key: at, interval: 1 month, premake: 2, start: '2026-11-01'}\n",
        encoding="utf-8",
    )
    loaded = load_profile(profile)
    sent: list[list[str]] = []
    fetched: list[str] = []  # what the reader thread sent
    real, real_fetch = EarlyReads.start, early_module.fetch

    def recorded(self: EarlyReads, reads: list[Read]) -> None:
        sent.append([r.key for r in reads])
        real(self, reads)

    def fetching(conn: psycopg.Connection, read: Read) -> list[Any]:
        if threading.current_thread().name == "pgtune-early-reads":
            fetched.append(read.key)
        return real_fetch(conn, read)

    monkeypatch.setattr(early_module, "fetch", fetching)

    with psycopg.connect(pg16.dsn, autocommit=True) as conn:
        EarlyReads.start = recorded  # type: ignore[method-assign]
        try:
            early = engine.build_plan(conn, loaded, as_of="2026-12-06")
        finally:
            EarlyReads.start = real  # type: ignore[method-assign]
        EarlyReads.start = lambda self, reads: None  # type: ignore[method-assign]  # every read sent in its turn
        try:
            late = engine.build_plan(conn, loaded, as_of="2026-12-06")
        finally:
            EarlyReads.start = real  # type: ignore[method-assign]
    # the tables first (the kinds load meanwhile); then, from the tables' outline as soon as the server
    # answers, each kind's reads in the order it asks for them; the same again once the tables are
    # built, and start skips what it has: nothing is sent twice (the columns, both kinds name them)
    asked = ["indexes", "columns", "partition layouts", "columns"]
    assert sent == [["tables"], asked, asked]
    assert fetched == ["tables", "indexes", "columns", "partition layouts"]
    assert early == late
    assert {c.kind for c in early.changes} == {"setting", "storage", "index", "partition"}


def test_a_plan_that_ends_early_cancels_the_read_under_way(pg16: Server) -> None:
    """Ctrl-C or an error while the reader waits on a long read: the read is cancelled on the server
    (not waited for up to the plan's statement_timeout) and nothing after it is sent."""
    with psycopg.connect(pg16.dsn, autocommit=True) as conn:
        with pytest.raises(KeyboardInterrupt), conn.transaction():
            early = EarlyReads(conn)
            slow, after = Read("slow", "SELECT pg_sleep(20)"), Read("after", "SELECT 1")
            early.start([slow, after])
            wait_until(
                lambda: pg16.one("SELECT count(*) FROM pg_stat_activity WHERE query = 'SELECT pg_sleep(20)'"),
                10,
                "the slow read to be running",
                AssertionError,
            )
            try:
                raise KeyboardInterrupt
            finally:
                early.settle(cancel=True)
                assert early.ready("slow") and early.ready("after")
                for read in (slow, after):  # a finished pg_sleep would have given its rows
                    with pytest.raises(Exception, match="ended before this read"):
                        early.rows(read)
        assert conn.execute("SELECT 2").fetchone() == (2,)
