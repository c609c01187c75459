"""`pgtune advise`: the workload proposes changes to the profile — indexes costed with HypoPG,
autovacuum storage values from observed write rates, per-role work_mem from temp-file spills.

Advice is a profile diff, never DDL. pgtune reads the catalog and statistics in short READ ONLY
transactions, and plans the workload's statements in the workload lab (pgtune.advice.lab): each one
as the role that ran it, in its own short transaction under lock and statement timeouts, within one
overall deadline, and only when nothing it could make the planner run is untrusted
(pgtune.advice.trust). Hypothetical indexes live in this session only. `--into` writes the advice
into the profile; the next `plan` shows the change and `apply` makes it; the next `advise` reports
each declared index's users (docs/advise.md).
"""

from __future__ import annotations

import re
import time
from dataclasses import dataclass
from typing import Any

import psycopg

from pgtune.advice import catalog, choose, indexes, maintenance, resolved, workload
from pgtune.advice.lab import DEFAULT_DEADLINE, DeadlineReached, Lab
from pgtune.advice.model import Advice, InUse, Report
from pgtune.advice.resolved import Usage
from pgtune.kinds.tables import table_key
from pgtune.profile.loader import LoadedProfile
from pgtune.profile.model import IndexSpec

__all__ = ["Advice", "InUse", "Options", "Report", "advise"]

HYPOPG_MISSING = (
    "index advice needs HypoPG in this database (CREATE EXTENSION hypopg; Debian/Ubuntu: apt-get install "
    "postgresql-<version>-hypopg): without hypothetical indexes pgtune would be guessing, so it gives none"
)
PGSS_MISSING = (
    "index and work_mem advice need pg_stat_statements (shared_preload_libraries = 'pg_stat_statements', a "
    "restart, then CREATE EXTENSION pg_stat_statements): without the workload pgtune gives none"
)
_PLAIN = re.compile(r"^[a-z_][a-z0-9_$]*$")


@dataclass(frozen=True)
class Options:
    min_saving: float = 0.02  # an index must save this fraction of the workload's total time
    vacuum_interval_hours: float = 1.0  # autovacuum/analyze should fire at least this often on busy tables
    window_seconds: float = 0.0  # 0: rates since the statistics were reset; else sample over this window
    max_statements: int = catalog.MAX_STATEMENTS
    deadline: float = DEFAULT_DEADLINE  # seconds the workload lab may plan for, in all
    trust_functions: bool = False  # plan statements whatever functions they reach (still as their roles)
    trusted_extensions: tuple[str, ...] = ()  # extensions whose SQL/PL functions count as built in


def advise(conn: psycopg.Connection, loaded: LoadedProfile, options: Options = Options()) -> Report:
    session = catalog.Session(conn)
    lab = Lab(session, 0, options.deadline)
    with lab.reading() as read:
        ((database, version_num),) = read.rows("SELECT current_database(), current_setting('server_version_num')::int")
        lab.version_num = version_num
        report = Report(database)
        found = catalog.extensions(read)
        before = maintenance.read_rates(read) if options.window_seconds > 0 else None
        statements = (
            catalog.statements(read, found["pg_stat_statements"][1], version_num, options.max_statements)
            if "pg_stat_statements" in found
            else None
        )
    if statements is not None:
        _indexes(lab, loaded, report, statements, found, version_num, options)
        with lab.reading() as read:
            _work_mem(read, report, statements)
    else:
        report.missing.append(PGSS_MISSING)
    if before is not None:
        time.sleep(options.window_seconds)  # the sampling window itself, outside any transaction
    with lab.reading() as read:
        _vacuum(read, loaded, report, before, options, version_num)
    report.statements = session.statements
    return report


def _profile_key(loaded: LoadedProfile, schema: str, name: str) -> str:
    from pgtune.base.names import qualified_text

    return table_key(loaded, schema, name) or qualified_text(schema, name)


def _declared(loaded: LoadedProfile, key: str | None) -> dict[str, tuple[str, ...]]:
    """Declared btree indexes of a profile table: name -> leading plain columns."""
    spec = loaded.profile.tables.get(key) if key else None
    out: dict[str, tuple[str, ...]] = {}
    for name, entry in (spec.indexes if spec else {}).items():
        if not isinstance(entry, IndexSpec) or entry.method != "btree" or entry.where:
            continue
        columns: list[str] = []
        for column in entry.columns:
            first = column.split()[0] if column.split() else ""
            if not _PLAIN.match(first):
                break
            columns.append(first)
        out[name] = tuple(columns)
    return out


def _indexes(
    lab: Lab,
    loaded: LoadedProfile,
    report: Report,
    statements: list[catalog.Statement],
    found: dict[str, tuple[str, str]],
    version_num: int,
    options: Options,
) -> None:
    work = workload.read_with(lab, statements, options, version_num)
    readable, coverage = work.statements, work.coverage
    report.notes.append(
        f"read {len(statements)} statements from pg_stat_statements; {len(readable)} SELECT/INSERT/UPDATE/DELETE "
        f"on this database's tables, {coverage.workload_ms:.0f} ms in all"
    )
    report.coverage = coverage
    hypopg = found.get("hypopg")
    if hypopg is None:
        report.missing.append(HYPOPG_MISSING)
    coster = indexes.Coster(lab.session, version_num, hypopg[1] if hypopg else None, lab)
    try:
        plans = {s.queryid: coster.plan(s) for s in work.plannable}
        members, facts = _members(lab, readable, plans)
        declared = {
            oid: [c for c in _declared(loaded, table_key(loaded, t.schema, t.name)).values() if c]
            for oid, t in facts.items()
        }
        for oid, table in facts.items():
            live = [
                n
                for n in _declared(loaded, table_key(loaded, table.schema, table.name))
                if n in {name for name, _k, _p in table.indexes}
            ]
            if live:
                users = [m.statement for m in members if oid in m.tables]
                report.in_use += indexes.in_use(coster, table, users, live)
        if hypopg is not None:
            chooser = choose.Chooser(coster, members, facts, declared, options.min_saving)
            chooser.choose()
            keys = {oid: _profile_key(loaded, t.schema, t.name) for oid, t in facts.items()}
            report.advice += chooser.advice(keys)
            report.notes += chooser.notes
    except DeadlineReached as exc:
        coverage.stopped = f"{exc}: stopped planning after {lab.elapsed:.1f} s (--deadline)"
    work.account({s.queryid for s in readable if coster.planned(s.queryid)}, lab)
    report.notes += coverage.notes()


_CATALOGS = ("pg_catalog", "information_schema")


def _members(
    lab: Lab, readable: list[catalog.Statement], plans: dict[int, dict[str, Any] | None]
) -> tuple[list[choose.Member], dict[int, catalog.TableFacts]]:
    """The planned statements with, per table (a partition counts as its root), what they use of it."""
    usages = {q: resolved.usages(plan) for q, plan in plans.items() if plan is not None}
    writes = {q: resolved.written(plan) for q, plan in plans.items() if plan is not None}
    scanned = sorted({t for u in usages.values() for t in u} | {w for w in writes.values() if w})
    with lab.reading() as read:
        roots = catalog.roots(read, scanned)
        tables = catalog.tables(read, sorted(set(roots.values())))
    facts = {t.oid: t for t in tables.values() if t.schema not in _CATALOGS}
    oid_of = {
        rel: tables[root].oid for rel, root in roots.items() if root in tables and tables[root].schema not in _CATALOGS
    }
    members = []
    for s in readable:
        plan = plans.get(s.queryid)
        if plan is None:
            continue
        mine: dict[int, Usage] = {}
        for rel, usage in usages[s.queryid].items():
            if rel in oid_of:
                mine[oid_of[rel]] = resolved.merged(mine.get(oid_of[rel]), usage)
        target = writes[s.queryid]
        if mine or (target and target in oid_of):
            members.append(choose.Member(s, mine, oid_of.get(target) if target else None, float(plan["Total Cost"])))
    return members, facts


def _work_mem(session: catalog.Session, report: Report, statements: list[catalog.Statement]) -> None:
    roles = sorted({s.role for s in statements if s.temp_blks_written > 0 and s.query})
    if not roles:
        return
    rows = session.rows(
        """
        SELECT r.rolname,
               coalesce((SELECT split_part(c, '=', 2) FROM pg_db_role_setting s, unnest(s.setconfig) c
                         WHERE s.setrole = r.oid AND s.setdatabase = 0 AND c LIKE 'work_mem=%%' LIMIT 1),
                        current_setting('work_mem')),
               CASE WHEN r.rolconnlimit > 0 THEN r.rolconnlimit ELSE current_setting('max_connections')::int END,
               (SELECT temp_bytes FROM pg_stat_database WHERE datname = current_database())
        FROM pg_roles r WHERE r.rolname = ANY (%s)
        """,
        (roles,),
    )
    from pgtune.base.guc import GucSpec, InvalidValue

    spec = GucSpec("work_mem", "integer", unit="kB")
    current = {}
    conns = {}
    temp_bytes = 0
    for role, value, limit, temp in rows:
        try:
            current[role] = int(spec.canonical(str(value), check_range=False))  # type: ignore[arg-type]
        except InvalidValue:  # an unreadable value: the role keeps the default reading
            current[role] = 4096
        conns[role] = int(limit)
        temp_bytes = int(temp or 0)
    report.advice += maintenance.work_mem_advice(statements, current, conns, temp_bytes)


def _vacuum(
    session: catalog.Session,
    loaded: LoadedProfile,
    report: Report,
    before: dict[int, maintenance.Rates] | None,
    options: Options,
    version_num: int,
) -> None:
    after = maintenance.read_rates(session)
    settings = dict(
        session.rows(
            "SELECT name, setting::float8 FROM pg_settings WHERE name IN ('autovacuum_vacuum_threshold', "
            "'autovacuum_vacuum_scale_factor', 'autovacuum_analyze_threshold', 'autovacuum_analyze_scale_factor', "
            "'autovacuum_vacuum_insert_threshold', 'autovacuum_vacuum_insert_scale_factor')"
        )
    )
    if before is not None:
        rates, hours = maintenance.window_rates(before, after), options.window_seconds / 3600
        report.notes.append(f"write rates sampled over {options.window_seconds:g} s")
    else:
        ((hours,),) = session.rows(
            "SELECT extract(epoch FROM now() - coalesce(stats_reset, pg_postmaster_start_time())) / 3600 "
            "FROM pg_stat_database WHERE datname = current_database()"
        )
        rates = after
        report.notes.append(f"write rates since the statistics were reset ({float(hours):.2f} h ago)")
    report.advice += maintenance.vacuum_advice(
        rates,
        float(hours),
        settings,
        options.vacuum_interval_hours,
        lambda schema, name: _profile_key(loaded, schema, name),
        version_num,
    )
