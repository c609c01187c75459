"""The workload lab: the workload's statements planned, never executed, as the roles that ran them.

Planning runs code (pgtune.advice.trust says which), so the lab bounds everything it does:
- each statement is planned as the role pg_stat_statements recorded for it (`SET LOCAL ROLE`), with
  that role's own planner settings and search_path (ALTER ROLE/DATABASE ... SET): whatever planning
  runs, runs with that role's rights, never the advising role's. A role pgtune may not become (it
  is not a member with SET) is refused, with the GRANT that would allow it;
- one short READ ONLY transaction per statement planned, under `lock_timeout` and
  `statement_timeout`: no lock is held between statements, so a migration's ALTER TABLE waits at
  most one EXPLAIN for the lab, never the whole run;
- one overall deadline: when it passes, the lab stops (DeadlineReached) and its caller says how much
  of the workload it covered.
Nothing is ever executed: EXPLAIN without ANALYZE; before PostgreSQL 16, PREPARE + EXPLAIN EXECUTE
of a generic plan (plan_cache_mode = force_generic_plan), deallocated at once.
"""

from __future__ import annotations

import contextlib
import json
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import psycopg
from psycopg import sql

from pgtune.advice.catalog import Session

STATEMENT_TIMEOUT_MS = 5000
"""Longest one EXPLAIN (or one HypoPG call) may take: planning, not running."""
LOCK_TIMEOUT_MS = 500
"""Longest the lab waits for a lock: behind a migration it gives up on that statement, not the run."""
DEFAULT_DEADLINE = 60.0
"""Seconds the lab may run in all (`--deadline`)."""
PLANNER_CATEGORIES = ("Query Tuning%",)
"""Role and database settings applied when planning as a role: the planner's own, and these."""
PLANNER_SETTINGS = ("search_path", "work_mem", "hash_mem_multiplier", "default_statistics_target")


class DeadlineReached(Exception):
    """The lab's overall deadline passed: what was planned so far stands, the rest was not planned."""


@dataclass(frozen=True)
class Identity:
    """A role the lab plans as, and the settings a new session of it would have in this database."""

    role: str
    settings: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True)
class Failure:
    """Why a statement could not be planned (said, never silent)."""

    reason: str  # timeout | lock | privilege | error
    message: str


@dataclass
class Lab:
    session: Session
    version_num: int
    deadline: float = DEFAULT_DEADLINE
    clock: Callable[[], float] = time.monotonic
    started: float = field(init=False)
    identities: dict[str, Identity] = field(default_factory=dict)
    refused: dict[str, str] = field(default_factory=dict)  # role -> why the lab cannot plan as it
    failures: dict[int, Failure] = field(default_factory=dict)  # queryid -> its first failure
    sqlstate: dict[int, str] = field(default_factory=dict)  # queryid -> SQLSTATE of its last error
    _prepared: int = 0

    def __post_init__(self) -> None:
        self.started = self.clock()

    @property
    def conn(self) -> psycopg.Connection:
        return self.session.conn

    @property
    def elapsed(self) -> float:
        return self.clock() - self.started

    def _budget_ms(self) -> int:
        """This step's statement timeout: the usual one, or what is left of the deadline."""
        left = self.deadline - self.elapsed
        if left <= 0.01:
            raise DeadlineReached(f"the {self.deadline:g} s deadline passed")
        return max(1, min(STATEMENT_TIMEOUT_MS, int(left * 1000)))

    @contextlib.contextmanager
    def reading(self) -> Iterator[Session]:
        """A short READ ONLY transaction for catalog and statistics reads, under the lab's timeouts;
        committed (a rollback would count in the very statistics `check` judges)."""
        with self.conn.transaction():
            self.session.rows(
                "SELECT set_config('transaction_read_only', 'on', true), set_config('statement_timeout', %s, true), "
                "set_config('lock_timeout', %s, true)",
                (str(STATEMENT_TIMEOUT_MS), str(LOCK_TIMEOUT_MS)),
            )
            yield self.session

    def assume(self, roles: Sequence[str]) -> None:
        """Which of these roles the lab may plan as, with their settings; the others in `refused`."""
        wanted = sorted(set(roles) - set(self.identities) - set(self.refused))
        if not wanted:
            return
        may = "pg_has_role(r.oid, 'SET')" if self.version_num >= 160000 else "pg_has_role(r.oid, 'MEMBER')"
        query = f"""
            SELECT r.rolname, {may}, current_user,
                   ARRAY(SELECT ARRAY[x.name, x.value] FROM (
                       SELECT DISTINCT ON (split_part(c, '=', 1)) split_part(c, '=', 1) AS name,
                              substr(c, strpos(c, '=') + 1) AS value
                       FROM pg_db_role_setting s, unnest(s.setconfig) WITH ORDINALITY u(c, o)
                       WHERE (s.setrole = r.oid AND s.setdatabase IN (0, d.oid))
                          OR (s.setrole = 0 AND s.setdatabase = d.oid)
                       ORDER BY split_part(c, '=', 1), s.setrole = 0, s.setdatabase = 0) x
                     JOIN pg_settings g ON g.name = x.name AND g.context = 'user'
                      AND (g.category LIKE ANY (%(categories)s) OR g.name = ANY (%(names)s))
                     ORDER BY x.name)
            FROM pg_roles r, pg_database d
            WHERE r.rolname = ANY (%(roles)s) AND d.datname = current_database()
        """
        with self.reading() as read:
            rows = read.rows(
                query, {"roles": wanted, "categories": list(PLANNER_CATEGORIES), "names": list(PLANNER_SETTINGS)}
            )
        found = set()
        for role, allowed, me, settings in rows:
            found.add(role)
            if not allowed:
                grant = "WITH INHERIT FALSE" if self.version_num >= 160000 else "(NOINHERIT on the advising role)"
                self.refused[role] = (
                    f"{me} may not SET ROLE {role}: plan as it with GRANT {_q(role)} TO {_q(me)} {grant}, or run "
                    f"as a superuser"
                )
                continue
            self.identities[role] = Identity(role, tuple((str(n), str(v)) for n, v in settings or ()))
        for role in wanted:
            if role not in found:
                self.refused[role] = f"role {role} no longer exists"

    def explain(
        self,
        queryid: int,
        text: str,
        params: int,
        role: str,
        *,
        verbose: bool = False,
        types: dict[int, str] | None = None,
        overrides: Mapping[str, str | None] | None = None,
    ) -> dict[str, Any] | None:
        """The generic plan of one statement as `role`; None when it could not be planned, why in
        `failures` (a later success of the same statement clears it). `types` declares parameters'
        types (a PREPARE with a type list, on every version); `verbose` adds what the planner resolved;
        `overrides` replace the role's settings for this transaction (None: the session's own value).
        DeadlineReached when the lab's time is up."""
        if role not in self.identities and role not in self.refused:
            self.assume([role])
        identity = self.identities.get(role)
        if identity is None:
            self.failures.setdefault(queryid, Failure("privilege", self.refused.get(role, f"role {role} not assumed")))
            return None
        if overrides:
            kept = [(n, v) for n, v in identity.settings if n not in overrides]
            identity = Identity(role, (*kept, *((n, v) for n, v in overrides.items() if v is not None)))
        budget = self._budget_ms()
        options = sql.SQL("VERBOSE, FORMAT JSON" if verbose else "FORMAT JSON")
        statement = sql.SQL(text)
        if self.version_num >= 160000 and not types:
            setup = self._setup(identity, budget)
            rows = self._run(
                queryid, setup, [sql.SQL("EXPLAIN (GENERIC_PLAN, {}) ").format(options) + statement], budget
            )
        else:
            # A prepared statement's generic plan, prepared afresh each time (a cached plan would not
            # see a hypothetical index made after it). Partition pruning off: the NULL arguments would
            # prune every partition at executor start-up, which a generic plan's costs never assume.
            setup = self._setup(identity, budget, (("enable_partition_pruning", "off"),))
            self._prepared += 1
            name = sql.Identifier(f"pgtune_lab_{self._prepared}")
            declared: sql.Composable = sql.SQL("")
            if types:
                listed = [sql.SQL(types.get(i, "unknown")) for i in range(1, max(params, *types) + 1)]
                declared = sql.SQL(" ({})").format(sql.SQL(", ").join(listed))
                params = max(params, *types)
            args = sql.SQL("({})").format(sql.SQL(", ").join([sql.NULL] * params)) if params else sql.SQL("")
            try:
                rows = self._run(
                    queryid,
                    setup,
                    [
                        sql.SQL("PREPARE {}{} AS ").format(name, declared) + statement,
                        sql.SQL("EXPLAIN ({}) EXECUTE {}{}").format(options, name, args),
                    ],
                    budget,
                )
            finally:  # PREPARE outlives a rollback
                with contextlib.suppress(psycopg.Error):
                    self.session.statements += 1
                    self.conn.execute(sql.SQL("DEALLOCATE {}").format(name))
        if not rows:
            return None
        doc = rows[0][0] if not isinstance(rows[0][0], str) else json.loads(rows[0][0])
        plan = doc[0]["Plan"] if isinstance(doc, list) and doc and "Plan" in doc[0] else None
        if plan is not None:
            self.failures.pop(queryid, None)
            self.sqlstate.pop(queryid, None)
        return plan

    def call(self, query: sql.Composable, *, final: bool = False) -> list[Any]:
        """A HypoPG call (creating or resetting hypothetical indexes, backend-local), as the advising
        role, in its own short transaction under the lab's timeouts; `final` (a reset) runs even
        after the deadline."""
        budget = STATEMENT_TIMEOUT_MS if final else self._budget_ms()
        setup = sql.SQL(
            "BEGIN READ ONLY; SELECT set_config('statement_timeout', {}, true), set_config('lock_timeout', {}, true)"
        ).format(sql.Literal(str(budget)), sql.Literal(str(LOCK_TIMEOUT_MS)))
        return self._transaction(setup, [query])

    def _setup(self, identity: Identity, budget_ms: int, extra: tuple[tuple[str, str], ...] = ()) -> sql.Composable:
        values = [
            ("statement_timeout", str(budget_ms)),
            ("lock_timeout", str(LOCK_TIMEOUT_MS)),
            ("plan_cache_mode", "force_generic_plan"),
            *extra,
            *[
                (n, v)
                for n, v in identity.settings
                if n not in ("statement_timeout", "lock_timeout", "plan_cache_mode")
            ],
        ]
        sets = sql.SQL(", ").join(
            sql.SQL("set_config({}, {}, true)").format(sql.Literal(n), sql.Literal(v)) for n, v in values
        )
        return sql.SQL("BEGIN READ ONLY; SELECT {}; SET LOCAL ROLE {}").format(sets, sql.Identifier(identity.role))

    def _run(self, queryid: int, setup: sql.Composable, body: list[sql.Composable], budget_ms: int) -> list[Any]:
        try:
            return self._transaction(setup, body)
        except psycopg.errors.QueryCanceled:
            message = f"planning took longer than {budget_ms / 1000:g} s (statement_timeout)"
            self.failures.setdefault(queryid, Failure("timeout", message))
        except psycopg.errors.LockNotAvailable:
            message = f"waited {LOCK_TIMEOUT_MS} ms for a lock (another session holds or awaits an exclusive one)"
            self.failures.setdefault(queryid, Failure("lock", message))
        except psycopg.errors.InsufficientPrivilege as exc:
            self.failures.setdefault(queryid, Failure("privilege", _message(exc)))
        except psycopg.Error as exc:
            self.failures.setdefault(queryid, Failure("error", _message(exc)))
            self.sqlstate[queryid] = exc.sqlstate or ""
        return []

    def _transaction(self, setup: sql.Composable, body: list[sql.Composable]) -> list[Any]:
        """setup; body...; COMMIT in one round trip (the simple protocol: no parameters), the last
        result's rows returned; on any error the transaction is rolled back and the error raised."""
        script = sql.SQL("; ").join([setup, *body, sql.SQL("COMMIT")])
        self.session.statements += 3 + len(body)
        try:
            cursor = self.conn.execute(script)
        except psycopg.Error:
            with contextlib.suppress(psycopg.Error):
                self.conn.execute("ROLLBACK")
            raise
        rows: list[Any] = []
        while True:
            if cursor.description is not None:
                rows = cursor.fetchall()
            if not cursor.nextset():
                break
        return rows


def _q(name: str) -> str:
    from pgtune.base.names import quote_ident

    return quote_ident(name)


def _message(exc: psycopg.Error) -> str:
    text = exc.diag.message_primary or str(exc) or type(exc).__name__
    return text if len(text) <= 200 else text[:200] + "..."
