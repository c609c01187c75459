"""The one executor: runs a plan's statements safely and reports per change.

- Non-transactional statements (ALTER SYSTEM, CONCURRENTLY) run on the autocommit connection;
  a change whose statements are all transactional runs in one transaction.
- Every statement runs under a short `lock_timeout`, so pgtune never queues in front of traffic;
  a lock timeout (SQLSTATE 55P03) on a retryable statement is retried with backoff, boundedly.
- The first failure stops the run: later changes are reported as skipped.
- Long statements (concurrent index builds) can be watched: a second connection polls
  `pg_stat_progress_create_index` for the executing backend and hands samples to a callback.
- One `pg_reload_conf()` at the end when any applied change needs it, then wait until new
  sessions see the reloaded configuration.
- PgBouncer statements go to its admin console (`SET`), pgbouncer.ini edits to the file; when the
  file was edited, one `RELOAD` at the end and a SHOW CONFIG that must show every applied value
  (a file PgBouncer rejects leaves its old values running: that is reported as a failure).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Hashable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import psycopg
from psycopg import errors as pgerrors
from psycopg.rows import dict_row

from pgtune.base.errors import BouncerError
from pgtune.base.poll import PollTimeout, poll
from pgtune.integrations.endpoints import EndpointError
from pgtune.integrations.pgbouncer import ini
from pgtune.integrations.pgbouncer.console import Console
from pgtune.integrations.pgbouncer.values import BouncerSetting
from pgtune.plan.model import PGBOUNCER_RELOAD, RELOAD, Change, IniEdit, Plan, Statement
from pgtune.plan.report import APPLIED, FAILED, SKIPPED, ApplyReport, Outcome

if TYPE_CHECKING:
    from pgtune.targets.store import Store


@dataclass(frozen=True)
class ExecOptions:
    lock_timeout: str = "5s"
    statement_timeout: str | None = None
    retries: int = 3
    backoff_seconds: float = 0.5
    reload_wait_seconds: float = 10.0
    progress: Callable[[Statement, dict[str, Any]], None] | None = None  # samples of long statements
    progress_interval: float = 0.1  # a build of a tenth of a second already shows where it is
    trace: Callable[[Statement, float], None] | None = None  # each statement once it ran, with its seconds


STATEMENT_ERRORS = (psycopg.Error, BouncerError, ini.IniError, EndpointError)
"""What a statement may fail with: reported per change, never raised out of execute()."""


def _describe(exc: Exception) -> str:
    if not isinstance(exc, psycopg.Error):
        return str(exc)
    diag = exc.diag
    text = diag.message_primary or str(exc).strip()
    if exc.sqlstate:
        text = f"{text} (SQLSTATE {exc.sqlstate})"
    if diag.message_hint:
        text += f"; hint: {diag.message_hint}"
    return text


def _set_timeouts(conn: psycopg.Connection, options: ExecOptions, local: bool) -> None:
    conn.execute("SELECT set_config('lock_timeout', %s, %s)", (options.lock_timeout, local))
    conn.execute("SELECT set_config('statement_timeout', %s, %s)", (options.statement_timeout or "0", local))


CLIENT_CHECK_INTERVAL = "1s"


def _watch_client(conn: psycopg.Connection) -> None:
    """Make the server abort pgtune's statement within a second if pgtune dies (kill -9, a
    cancelled CI job). Without it a backend keeps waiting for its lock or for older
    transactions with nobody left to report to, holding its place in the lock queue; with it a
    DETACH ... CONCURRENTLY stops where the next apply FINALIZEs it, and a concurrent build
    leaves an INVALID index the next apply replaces. PostgreSQL 14+; older servers only notice
    when they next write to the closed socket."""
    if conn.info.server_version >= 140000:
        conn.execute("SELECT set_config('client_connection_check_interval', %s, false)", (CLIENT_CHECK_INTERVAL,))


def _retrying(run: Callable[[], None], retryable: bool, options: ExecOptions) -> None:
    """Run; after a lock timeout (55P03) try again with exponential backoff, at most `retries` times."""
    attempts = 0
    while True:
        try:
            run()
            return
        except pgerrors.LockNotAvailable:
            attempts += 1
            if not retryable or attempts > options.retries:
                raise
            time.sleep(options.backoff_seconds * 2 ** (attempts - 1))


def _run_change(
    conn: psycopg.Connection,
    change: Change,
    options: ExecOptions,
    bouncer: Console | None,
) -> None:
    statements = change.statements
    if change.transactional and len(statements) > 1:

        def in_transaction() -> None:
            with conn.transaction():
                _set_timeouts(conn, options, local=True)
                for stmt in statements:
                    with _traced(stmt, options):
                        conn.execute(stmt.sql.encode())

        _retrying(in_transaction, all(s.retryable for s in statements), options)
        return
    for stmt in statements:
        if stmt.target == "postgres":
            _run_statement(conn, stmt, options)
        elif not stmt.target.startswith("pgbouncer"):
            raise EndpointError(f"this plan writes to {stmt.target}, but that target was not given: not sent")
        else:
            with _traced(stmt, options):
                _run_pgbouncer(stmt, bouncer)


def _run_pgbouncer(stmt: Statement, bouncer: Console | None) -> None:
    if stmt.target == "pgbouncer.ini":
        if not isinstance(stmt.action, IniEdit) or stmt.file is None:
            raise ini.IniError("a pgbouncer.ini statement without its action (not derived by pgtune in this run)")
        ini.write_file(Path(stmt.file), {stmt.action.key: stmt.action.value})
        return
    if bouncer is None:
        raise BouncerError("this plan changes PgBouncer, but no admin console connection was given")
    bouncer.execute(stmt.sql)


PROGRESS_QUERIES = {
    "create_index": "SELECT phase, blocks_total, blocks_done, tuples_total, tuples_done, lockers_total, lockers_done, "
    "partitions_total, partitions_done FROM pg_stat_progress_create_index WHERE pid = %s",
}


def _other_connection(conn: psycopg.Connection) -> psycopg.Connection:
    if conn.info.password:
        return psycopg.connect(conn.info.dsn, autocommit=True, password=conn.info.password)
    return psycopg.connect(conn.info.dsn, autocommit=True)


@contextmanager
def _watch(conn: psycopg.Connection, stmt: Statement, options: ExecOptions) -> Iterator[None]:
    """Poll the statement's pg_stat_progress_* row from a second connection while it runs."""
    callback = options.progress
    if callback is None or stmt.progress not in PROGRESS_QUERIES:
        yield
        return
    pid, query, stop = conn.info.backend_pid, PROGRESS_QUERIES[stmt.progress], threading.Event()

    def poll() -> None:
        try:
            with _other_connection(conn) as watcher, watcher.cursor(row_factory=dict_row) as cur:
                while not stop.wait(options.progress_interval):
                    row = cur.execute(query, (pid,)).fetchone()
                    if row:
                        callback(stmt, row)
        except psycopg.Error:
            pass  # progress is a nicety: never let it fail an apply

    thread = threading.Thread(target=poll, name="pgtune-progress", daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join(timeout=5)


def _run_statement(conn: psycopg.Connection, stmt: Statement, options: ExecOptions) -> None:
    def run() -> None:
        _set_timeouts(conn, options, local=False)
        with _watch(conn, stmt, options):
            conn.execute(stmt.sql.encode())

    with _traced(stmt, options):
        _retrying(run, stmt.retryable, options)


@contextmanager
def _traced(stmt: Statement, options: ExecOptions) -> Iterator[None]:
    started = time.monotonic()
    yield
    if options.trace is not None:
        options.trace(stmt, time.monotonic() - started)


def execute(
    plan: Plan,
    conn: psycopg.Connection,
    options: ExecOptions,
    on_outcome: Callable[[Outcome], None] | None = None,
    bouncer: Console | None = None,
    store: Store | None = None,
) -> ApplyReport:
    """Run the plan on an autocommit connection (and PgBouncer's console when the plan changes it,
    the target's store when it writes there); never raises for a failing statement, reports it."""
    report = ApplyReport()
    _watch_client(conn)
    stopped = False
    for batch, stored in _batches(plan.changes, store):
        if stopped:
            outcomes = [Outcome(change, SKIPPED, "not run: an earlier change failed") for change in batch]
        else:
            try:
                if stored and store is not None:
                    _run_stored(batch, store, options)
                else:
                    _run_change(conn, batch[0], options, bouncer)
                outcomes = [Outcome(change, APPLIED) for change in batch]
            except STATEMENT_ERRORS as exc:
                outcomes = [Outcome(change, FAILED, _describe(exc)) for change in batch]
                stopped = True
        for outcome in outcomes:
            report.outcomes.append(outcome)
            if on_outcome:
                on_outcome(outcome)
    if any(o.status == APPLIED and o.change.reload_required for o in report.outcomes):
        try:
            before = conn.execute("SELECT pg_conf_load_time()").fetchone()[0]  # type: ignore[index]
            conn.execute(RELOAD.sql.encode())
            report.reloaded = True
            _wait_for_reload(conn, before, options.reload_wait_seconds)
        except psycopg.Error as exc:  # e.g. the server restarted under us: what was written stays written
            report.reload_error = _describe(exc)
    edited = [o for o in report.outcomes if o.status == APPLIED and _edits_ini(o.change)]
    if edited:
        _reload_pgbouncer(bouncer, edited, report)
    return report


def _batches(changes: tuple[Change, ...], store: Store | None) -> list[tuple[list[Change], bool]]:
    """Each change alone, but consecutive changes of one store call together, at most the store's
    per_call a call; each batch with whether the store writes it."""
    out: list[tuple[list[Change], bool]] = []
    last: Hashable | None = None
    for change in changes:
        call = store.call(change) if store is not None else None
        if store is not None and call is not None and out and last == call and len(out[-1][0]) < store.per_call:
            out[-1][0].append(change)
        else:
            out.append(([change], call is not None))
        last = call
    return out


def _run_stored(batch: list[Change], store: Store, options: ExecOptions) -> None:
    """One write of the store (a PATCH, a ModifyDBParameterGroup call), traced per change."""
    started = time.monotonic()
    store.write(batch)
    if options.trace is not None:
        for change in batch:
            options.trace(change.statements[0], (time.monotonic() - started) / len(batch))


def _edits_ini(change: Change) -> bool:
    return any(s.target == "pgbouncer.ini" for s in change.statements)


def _reload_pgbouncer(bouncer: Console | None, edited: list[Outcome], report: ApplyReport) -> None:
    """RELOAD once, then SHOW CONFIG must show what was written (else the file was not accepted)."""
    try:
        if bouncer is None:
            raise BouncerError("pgbouncer.ini was edited, but no admin console connection was given to RELOAD it")
        bouncer.execute(PGBOUNCER_RELOAD.sql)
        report.pgbouncer_reloaded = True
        live = bouncer.config()
    except BouncerError as exc:
        for outcome in edited:
            outcome.status, outcome.error = FAILED, str(exc)
        return
    for outcome in edited:
        change = outcome.change
        if change.restart_required:
            continue  # written for the next PgBouncer restart
        name = change.address.name
        row = live.get(name)
        setting = BouncerSetting.of(name, row.default if row else None)
        if row is None or not setting.same(row.value, str(change.after)):
            outcome.status = FAILED
            outcome.error = (
                f"after RELOAD PgBouncer runs {name} = {row.value if row else '(unknown)'}, not {change.after}: "
                "it rejected or does not read the edited file (see its log; SHOW CONFIG conffile)"
            )


def _wait_for_reload(conn: psycopg.Connection, before: object, limit: float) -> None:
    """SIGHUP is handled asynchronously: wait until a new session sees the new load time."""

    def loaded() -> bool:
        with _other_connection(conn) as probe:
            row = probe.execute("SELECT pg_conf_load_time()").fetchone()
        return bool(row and row[0] != before)

    with suppress(PollTimeout):  # not seen in time: the verifying re-plan says what runs
        poll(loaded, limit, interval=0.05)
