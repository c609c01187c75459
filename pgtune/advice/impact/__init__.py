"""`pgtune plan --impact`: what the plan's changes do to the workload's query plans.

The top statements of pg_stat_statements are planned twice in the workload lab (pgtune.advice.lab:
as the role that ran them, generic plans, never executed, one short READ ONLY transaction each,
under lock and statement timeouts and one deadline, only what pgtune.advice.trust lets plan): under
what runs now, and under the plan's changes as far as a session can hold them — planner settings
set for the transaction at the level the plan writes them (server-wide, the database, the role:
pgtune.advice.impact.changes resolves PostgreSQL's precedence per statement), indexes to create as
HypoPG's hypothetical indexes, indexes to drop hidden (HypoPG 1.4+). Nothing outlives the run:
SET LOCAL ends with each transaction, the hypothetical indexes and hidden ones are reset at the end.
"""

from __future__ import annotations

import contextlib
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import psycopg
from psycopg import sql

from pgtune.advice import catalog, workload
from pgtune.advice.impact import changes, plans
from pgtune.advice.impact.model import MAX_QUERY, Impact, StatementImpact
from pgtune.advice.indexes import Coster
from pgtune.advice.lab import DEFAULT_DEADLINE, DeadlineReached, Lab
from pgtune.plan.model import Change

__all__ = ["Impact", "Options", "measure"]

PGSS_MISSING = (
    "the workload impact needs pg_stat_statements in this database (shared_preload_libraries = "
    "'pg_stat_statements', a restart, then CREATE EXTENSION pg_stat_statements)"
)
HYPOPG_MISSING = (
    "an index change is modelled with HypoPG's hypothetical indexes, and HypoPG is not installed in this database "
    "(CREATE EXTENSION hypopg)"
)
DEFAULT_TOP = 200


@dataclass(frozen=True)
class Options:
    top: int = DEFAULT_TOP  # statements read, the costliest first (--impact-top)
    deadline: float = DEFAULT_DEADLINE
    trust_functions: bool = False
    trusted_extensions: tuple[str, ...] = ()


def measure(conn: psycopg.Connection, plan_changes: Sequence[Change], options: Options = Options()) -> Impact:
    """The workload impact of these changes (a plan's, or a cluster's primary and store plans')."""
    session = catalog.Session(conn)
    lab = Lab(session, 0, options.deadline)
    names = changes.setting_names(plan_changes)
    with lab.reading() as read:
        ((database, version_num),) = read.rows("SELECT current_database(), current_setting('server_version_num')::int")
        lab.version_num = version_num
        found = catalog.extensions(read)
        impact = Impact(database)
        meta = {
            n: changes.Meta(c, g)
            for n, c, g in read.rows("SELECT name, context, category FROM pg_settings WHERE name = ANY (%s)", (names,))
        }
        pgss = found.get("pg_stat_statements")
        statements = catalog.statements(read, pgss[1], version_num, options.top) if pgss else []
        total_ms = _total_ms(read, pgss[1], version_num) if pgss else 0.0
    hypopg = found.get("hypopg")
    model = changes.classify(plan_changes, meta, database, hypopg is not None and _version(hypopg[0]) >= (1, 4))
    if hypopg is None and model.create:
        model.not_modelled += [changes.NotModelled(h.name, HYPOPG_MISSING) for h in model.create]
        model.create = []
    impact.not_modelled = model.not_modelled
    if pgss is None:
        impact.missing.append(PGSS_MISSING)
        return impact
    work = workload.read_with(lab, statements, options, version_num)
    impact.coverage = work.coverage
    if model.empty:
        impact.notes.append("nothing in this plan changes how a statement is planned")
        work.account(set(), lab)
        return impact
    live = _levels(lab, model.settings, database, sorted({s.role for s in work.statements}))
    coster = Coster(session, version_num, hypopg[1] if hypopg else None, lab)
    befores: dict[int, dict[str, Any]] = {}
    try:
        for s in work.plannable:
            plan = coster.plan(s)
            if plan is not None:
                befores[s.queryid] = plan
        with _imagined(lab, coster, model, impact) as (imagined, active):
            for s in work.plannable:
                if s.queryid not in befores:
                    continue
                overrides = changes.resolve(s.role, database, live, model.settings)
                # A statement nothing of the plan reaches keeps its plan: not planned again.
                after = coster.replan(s, overrides) if overrides or active else befores[s.queryid]
                if after is None:
                    continue
                impact.statements.append(_compared(s, befores[s.queryid], after, overrides, imagined, total_ms))
    except DeadlineReached as exc:
        work.coverage.stopped = f"{exc}: stopped planning after {lab.elapsed:.1f} s (--deadline)"
    work.account({s.queryid for s in impact.statements}, lab)
    impact.modelled = [*(_described(s) for s in model.settings), *(f"index {h.name}" for h in model.create)]
    impact.modelled += [f"index {schema}.{name} hidden" for schema, name in model.hide]
    return impact


def _compared(
    s: catalog.Statement,
    before: dict[str, Any],
    after: dict[str, Any],
    overrides: dict[str, str | None],
    imagined: dict[str, str],
    total_ms: float,
) -> StatementImpact:
    was, now = plans.shape(before, imagined), plans.shape(after, imagined)
    comparable = not (set(overrides) & plans.COST_MODEL)
    verdict, ratio = plans.verdict(was, now, comparable)
    applied = tuple(f"{n} = {v}" if v is not None else f"{n} reset" for n, v in overrides.items())
    query = s.shape.sql if s.shape is not None else ""
    return StatementImpact(
        s.queryid,
        query[:MAX_QUERY],
        s.role,
        s.calls,
        s.total_ms,
        s.total_ms / total_ms if total_ms > 0 else 0.0,
        was,
        now,
        applied,
        comparable,
        verdict,
        ratio,
    )


def _described(s: changes.SessionSetting) -> str:
    where = "server-wide" if s.scope is None else f"{s.scope} {s.target}"
    return f"{s.name} = {s.value} ({where})" if s.value is not None else f"{s.name} reset ({where})"


def _total_ms(read: catalog.Session, schema: str, version_num: int) -> float:
    """The database's whole statement time in pg_stat_statements: the denominator of every share."""
    toplevel = sql.SQL("AND toplevel") if version_num >= 140000 else sql.SQL("")
    query = sql.SQL(
        "SELECT coalesce(sum(total_exec_time), 0) FROM {}.pg_stat_statements "
        "WHERE dbid = (SELECT oid FROM pg_database WHERE datname = current_database()) {}"
    ).format(sql.Identifier(schema), toplevel)
    ((total,),) = read.rows(query)
    return float(total)


def _levels(
    lab: Lab, settings: Sequence[changes.SessionSetting], database: str, roles: Sequence[str]
) -> dict[tuple[str | None, str | None, str], str]:
    """The levels the changed settings are held at now, for the workload's roles and this database."""
    names = sorted({s.name for s in settings})
    if not names:
        return {}
    query = """
        SELECT r.rolname, d.datname, split_part(c, '=', 1), substr(c, strpos(c, '=') + 1)
        FROM pg_db_role_setting s
        CROSS JOIN LATERAL unnest(s.setconfig) c
        LEFT JOIN pg_roles r ON r.oid = s.setrole
        LEFT JOIN pg_database d ON d.oid = s.setdatabase
        WHERE split_part(c, '=', 1) = ANY (%(names)s)
          AND (s.setdatabase = 0 OR d.datname = %(database)s)
          AND (s.setrole = 0 OR r.rolname = ANY (%(roles)s))
    """
    with lab.reading() as read:
        rows = read.rows(query, {"names": names, "database": database, "roles": list(roles)})
    return {(role, db, name): value for role, db, name, value in rows}


@contextlib.contextmanager
def _imagined(lab: Lab, coster: Coster, model: changes.Modelled, impact: Impact) -> Any:
    """The plan's indexes as hypothetical ones and its dropped indexes hidden, for this session
    only; yields (HypoPG's names -> the declared ones, whether any index was imagined or hidden).
    Reset at the end, whatever happens."""
    names: dict[str, str] = {}
    if coster.hypopg is None or (not model.create and not model.hide):
        yield names, False
        return
    active = False
    schema = sql.Identifier(coster.hypopg)
    coster.imagining = True
    try:
        for h in model.create:
            try:
                rows = lab.call(
                    sql.SQL("SELECT indexname FROM {}.hypopg_create_index({})").format(
                        schema, sql.Literal(h.definition)
                    )
                )
            except psycopg.Error as exc:
                impact.not_modelled.append(changes.NotModelled(h.name, f"HypoPG could not imagine it: {_first(exc)}"))
                continue
            for (hypothetical,) in rows:
                names[str(hypothetical)] = h.name
                active = True
        for table_schema, name in model.hide:
            qualified = sql.Identifier(table_schema, name).as_string(lab.conn)
            try:
                lab.call(sql.SQL("SELECT {}.hypopg_hide_index({}::regclass)").format(schema, sql.Literal(qualified)))
                active = True
            except psycopg.Error as exc:
                impact.not_modelled.append(
                    changes.NotModelled(f"{table_schema}.{name}", f"HypoPG could not hide it: {_first(exc)}")
                )
        yield names, active
    finally:
        lab.call(sql.SQL("SELECT {}.hypopg_reset()").format(schema), final=True)
        if model.hide:
            lab.call(sql.SQL("SELECT {}.hypopg_unhide_all_indexes()").format(schema), final=True)
        coster.imagining = False


def _first(exc: psycopg.Error) -> str:
    text = (exc.diag.message_primary or str(exc)).splitlines()[0] if str(exc) else type(exc).__name__
    return text[:200]


def _version(text: str) -> tuple[int, ...]:
    parts = []
    for part in text.split("."):
        digits = "".join(ch for ch in part if ch.isdigit())
        parts.append(int(digits) if digits else 0)
    return tuple(parts)
