"""Catalog reads sent before they are needed, so the server works while Python does.

A plan's reads after the tables are resolved depend only on them — columns, indexes, partition
layouts — yet each kind used to send its query when its turn came and wait, the server idle while
Python compared the previous kind's rows, Python idle while the server read the next. Here the
engine asks for all of them as soon as the tables are resolved (the kinds' `early`): a reader
thread sends them one after another on the plan's own connection (the same REPEATABLE READ
snapshot: nothing else changes) and keeps the rows, while Python works out what the kinds want; a
kind takes its rows when its turn comes, usually already there. The statement count stays the same.

The reader spends its time waiting on the socket, with the GIL released; to hand it back quickly
when rows arrive, the interpreter's switch interval is shortened while it runs. A kind that writes
(the index probe's savepoint) first waits until the reader is done (`settle`), so no read runs
inside it; a read that fails stops the reader, and its error is raised to the kind that asks for
that read or any after it, as if the kind had sent it itself.
"""

from __future__ import annotations

import sys
import threading
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from psycopg.rows import dict_row

if TYPE_CHECKING:
    import psycopg

SWITCH_INTERVAL = 0.0005
"""Seconds: how long the main thread may keep the GIL while the reader's rows are waiting (5 ms by default)."""


@dataclass(frozen=True)
class Read:
    """One catalog read: its name (for the kind that takes it), the query and its parameters."""

    key: str
    query: str
    params: Mapping[str, Any] = field(default_factory=dict)
    as_dicts: bool = False  # rows as dicts (by column name), else tuples


@dataclass
class _Result:
    done: threading.Event = field(default_factory=threading.Event)
    rows: list[Any] | None = None
    error: BaseException | None = None


class EarlyReads:
    def __init__(self, conn: psycopg.Connection) -> None:
        self.conn = conn
        self._results: dict[str, tuple[Read, _Result]] = {}
        self._thread: threading.Thread | None = None
        self._interval: float | None = None
        self.failure: BaseException | None = None  # the first read that failed: the transaction is aborted

    def start(self, reads: list[Read]) -> None:
        """Send these reads, in order, from a reader thread — after any sent before (each call as soon
        as its reads are known: the first may be under way while the next are worked out)."""
        pending = []
        for read in reads:  # a read asked for twice (two kinds need the columns) is sent once
            if read.key not in self._results:
                self._results[read.key] = (read, _Result())
                pending.append(read)
        if not pending:
            return
        if self._interval is None:
            self._interval = sys.getswitchinterval()
            sys.setswitchinterval(min(self._interval, SWITCH_INTERVAL))
        before = self._thread
        self._thread = threading.Thread(
            target=self._run, args=(pending, before), name="pgtune-early-reads", daemon=True
        )
        self._thread.start()

    def _run(self, reads: list[Read], before: threading.Thread | None) -> None:
        if before is not None:
            before.join()
        for read in reads:
            result = self._results[read.key][1]
            if self.failure is None:
                try:
                    result.rows = fetch(self.conn, read)
                except BaseException as exc:  # handed to the kind that asks, in the main thread
                    self.failure = self.failure or exc
            result.error = self.failure if result.rows is None else None
            result.done.set()

    def ready(self, key: str) -> bool:
        """Whether the read named `key` was sent early and its rows (or its error) are here."""
        found = self._results.get(key)
        return found is not None and found[1].done.is_set()

    def rows(self, read: Read) -> list[Any]:
        """The rows of `read`: the early ones if it was sent early (waiting for them if need be), else
        sent now. A changed query or parameters since it was sent early is sent again."""
        found = self._results.get(read.key)
        if found is None or found[0] != read:
            self.settle()
            return fetch(self.conn, read)
        result = found[1]
        result.done.wait()
        if result.error is not None:
            self.settle()
            raise result.error
        assert result.rows is not None
        return result.rows

    def settle(self, *, cancel: bool = False) -> None:
        """Wait until the reader has sent everything and is gone (before the connection writes).
        `cancel`: the plan is ending on an error or Ctrl-C — the read under way is cancelled on the
        server rather than waited for (up to the plan's statement_timeout), the rest never sent."""
        if self._thread is not None:
            if cancel and self._thread.is_alive():
                self.failure = self.failure or _Abandoned()  # nothing more is sent
                getattr(self.conn, "cancel_safe", self.conn.cancel)()  # cancel_safe: psycopg 3.2+
            self._thread.join()
            self._thread = None
        if self._interval is not None:
            sys.setswitchinterval(self._interval)
            self._interval = None


class _Abandoned(Exception):
    def __init__(self) -> None:
        super().__init__("the plan ended before this read was needed: it was cancelled, or never sent")


def fetch(conn: psycopg.Connection, read: Read) -> list[Any]:
    """The rows of a read, sent now."""
    if read.as_dicts:
        with conn.cursor(row_factory=dict_row) as cur:
            return cur.execute(read.query, read.params).fetchall()
    return conn.execute(read.query, read.params).fetchall()
