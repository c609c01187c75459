"""Each kind's comparison, table-driven and without a server (in the manner of pg-schema-diff's
acceptance cases): a profile, the live state as data, and the changes, notices, checks and
errors expected — each change as the plan prints it, with its hazard codes.

The live side is built from the same dataclasses a kind's `read` fills from the catalog;
settings take their pg_settings rows from the bundled PostgreSQL 16 description.
"""

from __future__ import annotations

import textwrap
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from psycopg import sql

from pgtune.base.errors import PgtuneError
from pgtune.integrations.pgbouncer.console import ConfigRow
from pgtune.kinds import DiffEnv, KindResult, PlanContext, indexes, offline, partitions, pool, settings, storage
from pgtune.kinds.indexes import Catalog, LiveIndex
from pgtune.kinds.partitions import Child, Layout, PartitionLive
from pgtune.kinds.pool import PoolLive
from pgtune.kinds.settings import FileRow, Running, ScopedTarget, SettingsCatalog, SettingsLive
from pgtune.kinds.tables import Leaf, Table
from pgtune.plan.model import ServerInfo
from pgtune.profile.loader import LoadedProfile, load_profile
from pgtune.render.text import change_line

SERVER = ServerInfo("16.4", 160004)
ENV = DiffEnv(SERVER)
SPECS = offline.description(16).specs


def _profile(tmp_path: Path, text: str) -> LoadedProfile:
    path = tmp_path / "case.yaml"
    path.write_text("name: case\n" + textwrap.dedent(text), encoding="utf-8")
    return load_profile(path)


def _ctx(loaded: LoadedProfile, tables: dict[str, Table] | None = None) -> PlanContext:
    return PlanContext(None, loaded, SERVER, tables or {})  # type: ignore[arg-type]  # no connection: nothing reads


def _lines(result: KindResult) -> list[str]:
    out = []
    for c in result.changes:
        hazards = f"  !{','.join(h.code for h in c.hazards)}" if c.hazards else ""
        out.append(change_line(c).strip() + hazards)
    out += [f"notice {n.code} {n.object}" for n in result.notices]
    out += [f"check {c.code} {c.status}" for c in result.checks]
    out += [f"error {e.message}" for e in result.errors]
    return out


# --- settings -------------------------------------------------------------------------------


@dataclass
class LiveSettings:
    running: dict[str, str] = field(default_factory=dict)  # pg_settings.setting (base units)
    files: dict[str, list[tuple[str, bool]]] = field(default_factory=dict)  # name -> [(value, in auto.conf)]
    pending: set[str] = field(default_factory=set)
    scoped: dict[tuple[str, str], dict[str, str]] = field(default_factory=dict)
    can_reload: bool = True

    def catalog(self) -> SettingsCatalog:
        running = {
            name: Running(self.running.get(name, spec.boot_val), "default", name in self.pending)
            for name, spec in SPECS.items()
        }
        for name in self.files:
            running[name] = Running(running[name].setting, "configuration file", name in self.pending)
        files = {
            name: [
                FileRow(v, "/data/postgresql.auto.conf" if auto else "/data/postgresql.conf", True, None)
                for v, auto in rows
            ]
            for name, rows in self.files.items()
        }
        scoped = {k: ScopedTarget(True, v) for k, v in self.scoped.items()}
        return SettingsCatalog(160004, "postgres", True, SPECS, running, files, scoped, can_reload=self.can_reload)


SETTINGS_CASES: list[tuple[str, str, LiveSettings, list[str]]] = [
    (
        "equal in other units: no change",
        "settings: {work_mem: 1GB, shared_buffers: 16384, jit: 'true'}",
        LiveSettings(
            {"work_mem": "1048576", "shared_buffers": "16384", "jit": "on"},
            {"work_mem": [("1024MB", True)], "shared_buffers": [("128MB", False)], "jit": [("on", False)]},
        ),
        [],
    ),
    (
        "a value written in no file: update",
        "settings: {random_page_cost: 1.1}",
        LiveSettings(),
        ["~ setting random_page_cost: 4 -> 1.1"],
    ),
    (
        "a restart setting raised: restart required",
        "settings: {shared_buffers: 1GB}",
        LiveSettings({"shared_buffers": "16384"}),
        ["~ setting shared_buffers: 128MB -> 1GB  [restart required]"],
    ),
    (
        "written, awaiting restart: a notice, not a change",
        "settings: {shared_buffers: 1GB}",
        LiveSettings({"shared_buffers": "16384"}, {"shared_buffers": [("1GB", True)]}, {"shared_buffers"}),
        ["notice RESTART_PENDING shared_buffers"],
    ),
    (
        "written but never reloaded: the reload is the change",
        "settings: {work_mem: 64MB}",
        LiveSettings({"work_mem": "4096"}, {"work_mem": [("64MB", True)]}),
        ["~ setting work_mem: 4MB -> 64MB"],
    ),
    (
        "null resets an auto.conf entry",
        "settings: {statement_timeout: null}",
        LiveSettings({"statement_timeout": "45000"}, {"statement_timeout": [("45s", True)]}),
        ["- setting statement_timeout: 45s -> 0  [reset]"],
    ),
    (
        "null with nothing written: nothing to do",
        "settings: {statement_timeout: null}",
        LiveSettings(),
        [],
    ),
    (
        "a later file row wins over an earlier one",
        "settings: {work_mem: 8MB}",
        LiveSettings({"work_mem": "8192"}, {"work_mem": [("16MB", False), ("8MB", True)]}),
        [],
    ),
    (
        "per database and role",
        "databases: {app: {settings: {work_mem: 32MB}}}\nroles: {web: {settings: {statement_timeout: null}}}",
        LiveSettings(scoped={("database", "app"): {"work_mem": "8MB"}, ("role", "web"): {"statement_timeout": "5s"}}),
        [
            "~ setting database:app/work_mem: 8MB -> 32MB",
            "- setting role:web/statement_timeout: 5s -> (not set)  [reset]",
        ],
    ),
    (
        "a role that may not reload: an error, not a silent no-op",
        "settings: {work_mem: 64MB}",
        LiveSettings(can_reload=False),
        [
            "~ setting work_mem: 4MB -> 64MB",
            "error role 'postgres' may not run pg_reload_conf(): 1 setting(s) would be written and never take "
            'effect (GRANT EXECUTE ON FUNCTION pg_reload_conf() TO "postgres", or apply as a superuser)',
        ],
    ),
]


@pytest.mark.parametrize(
    ("profile", "live", "expected"), [c[1:] for c in SETTINGS_CASES], ids=[c[0] for c in SETTINGS_CASES]
)
def test_settings_diff(tmp_path: Path, profile: str, live: LiveSettings, expected: list[str]) -> None:
    kind = settings.resource
    wants = kind.desired(_ctx(_profile(tmp_path, profile)))
    assert wants is not None
    catalog = live.catalog()
    result = kind.diff(wants, SettingsLive(catalog, settings.validate(wants, catalog)), ENV)
    assert _lines(result) == expected


def test_settings_sql_is_quoted_by_pgtune(tmp_path: Path) -> None:
    kind = settings.resource
    wants = kind.desired(_ctx(_profile(tmp_path, 'roles: {"We\'b": {settings: {search_path: [a, "b c"]}}}')))
    assert wants is not None
    catalog = LiveSettings(scoped={("role", "We'b"): {}}).catalog()
    result = kind.diff(wants, SettingsLive(catalog, settings.validate(wants, catalog)), ENV)
    [change] = result.changes
    assert change.address.target == "We'b" and change.address.scope == "role"
    assert [s.sql for s in change.statements] == ["ALTER ROLE \"We'b\" SET \"search_path\" = 'a', 'b c'"]


# --- storage --------------------------------------------------------------------------------


def _table(name: str, *leaves: Leaf, partitioned: bool = False, owned: bool = True) -> Table:
    return Table(name, None, 100, "app", name, partitioned, False, leaves or (), f"app.{name}", owned=owned)


def _leaf(
    name: str, oid: int = 200, toast: dict[str, str] | None = None, owned: bool = True, **reloptions: str
) -> Leaf:
    return Leaf(oid, "app", name, dict(reloptions), toast, owned)


STORAGE_CASES: list[tuple[str, str, Table, list[str]]] = [
    (
        "equal typed: 0.050 is 0.05",
        "{autovacuum_vacuum_scale_factor: 0.050}",
        _table("t", _leaf("t", autovacuum_vacuum_scale_factor="0.05")),
        [],
    ),
    (
        "set one, reset another: one change, both parameters",
        "{autovacuum_vacuum_scale_factor: 0.02, fillfactor: null}",
        _table("t", _leaf("t", fillfactor="90")),
        ["~ storage app.t: autovacuum_vacuum_scale_factor (not set) -> 0.02; fillfactor 90 -> (not set)"],
    ),
    (
        "only resets: a delete",
        "{fillfactor: null}",
        _table("t", _leaf("t", fillfactor="90")),
        ["- storage app.t: fillfactor 90 -> (not set)"],
    ),
    (
        "a partitioned parent: one change per leaf",
        "{fillfactor: 80}",
        _table("p", _leaf("p_1", 201), _leaf("p_2", 202, fillfactor="80"), partitioned=True),
        ["~ storage app.p_1: fillfactor (not set) -> 80"],
    ),
    (
        "toast.* on a leaf without TOAST: a notice",
        "{toast.autovacuum_enabled: off}",
        _table("t", _leaf("t")),
        ["notice NO_TOAST_TABLE app.t"],
    ),
    (
        "a partitioned table without partitions",
        "{fillfactor: 80}",
        _table("p", partitioned=True),
        ["notice NO_PARTITIONS app.p"],
    ),
    (
        "a leaf the role does not own: an error",
        "{fillfactor: 80}",
        _table("t", _leaf("t", owned=False)),
        [
            "~ storage app.t: fillfactor (not set) -> 80",
            "error app.t: changing storage parameters needs the owner's rights on app.t: the current role does "
            "not own it (GRANT it the owning role, or apply as the owner)",
        ],
    ),
]


@pytest.mark.parametrize(
    ("declared", "table", "expected"), [c[1:] for c in STORAGE_CASES], ids=[c[0] for c in STORAGE_CASES]
)
def test_storage_diff(tmp_path: Path, declared: str, table: Table, expected: list[str]) -> None:
    kind = storage.resource
    ctx = _ctx(
        _profile(tmp_path, f"tables:\n  app.{table.name}:\n    storage: {declared}\n"), {f"app.{table.name}": table}
    )
    wants = kind.desired(ctx)
    assert wants is not None
    assert _lines(kind.diff(wants, kind.read(ctx, wants), ENV)) == expected


def test_storage_sql(tmp_path: Path) -> None:
    table = _table("t", _leaf("t", fillfactor="90"))
    ctx = _ctx(
        _profile(
            tmp_path, "tables:\n  app.t:\n    storage: {autovacuum_vacuum_scale_factor: 0.02, fillfactor: null}\n"
        ),
        {"app.t": table},
    )
    kind = storage.resource
    wants = kind.desired(ctx)
    assert wants is not None
    [change] = kind.diff(wants, kind.read(ctx, wants), ENV).changes
    assert [(s.sql, s.lock) for s in change.statements] == [
        ('ALTER TABLE "app"."t" SET (autovacuum_vacuum_scale_factor = \'0.02\')', "SHARE UPDATE EXCLUSIVE"),
        ('ALTER TABLE "app"."t" RESET (fillfactor)', "SHARE UPDATE EXCLUSIVE"),
    ]


# --- indexes --------------------------------------------------------------------------------


def _index(name: str, definition: str, oid: int = 300, valid: bool = True, constraint: str | None = None) -> LiveIndex:
    return LiveIndex(oid, 100, "app", name, False, valid, constraint, None, definition)


INDEX_CASES: list[tuple[str, str, list[LiveIndex], dict[str, Any], list[str]]] = [
    (
        "missing: built concurrently",
        "indexes: {ix_a: {columns: [a]}}",
        [],
        {},
        ['+ index app.ix_a: CREATE INDEX "ix_a" ON "app"."t" USING "btree" (a)  !INDEX_BUILD'],
    ),
    (
        "equal after canonicalisation (quoting, default method, ASC)",
        'indexes: {ix_a: {columns: [a ASC, "b"]}}',
        [_index("ix_a", "CREATE INDEX ix_a ON app.t USING btree (a, b)")],
        {},
        [],
    ),
    (
        "a different definition: replaced under a temporary name",
        "indexes: {ix_a: {columns: [a, b]}}",
        [_index("ix_a", "CREATE INDEX ix_a ON app.t USING btree (a)")],
        {},
        [
            '-/+ index app.ix_a: CREATE INDEX ix_a ON app.t USING btree (a) -> CREATE INDEX "ix_a" ON "app"."t" '
            'USING "btree" (a, b)  !INDEX_DROPPED,INDEX_BUILD'
        ],
    ),
    (
        "an invalid index of the same definition: rebuilt",
        "indexes: {ix_a: {columns: [a]}}",
        [_index("ix_a", "CREATE INDEX ix_a ON app.t USING btree (a)", valid=False)],
        {},
        [
            '-/+ index app.ix_a: CREATE INDEX ix_a ON app.t USING btree (a) -> CREATE INDEX "ix_a" ON "app"."t" '
            'USING "btree" (a)  !INVALID_INDEX,INDEX_BUILD'
        ],
    ),
    (
        "absent: dropped concurrently",
        "indexes: {ix_a: absent}",
        [_index("ix_a", "CREATE INDEX ix_a ON app.t USING btree (a)")],
        {},
        ["- index app.ix_a: CREATE INDEX ix_a ON app.t USING btree (a)  !INDEX_DROPPED"],
    ),
    (
        "prune: undeclared dropped, a constraint's kept",
        "prune_indexes: true\nindexes: {ix_a: {columns: [a]}}",
        [
            _index("ix_a", "CREATE INDEX ix_a ON app.t USING btree (a)"),
            _index("t_pkey", "CREATE UNIQUE INDEX t_pkey ON app.t USING btree (id)", 301, constraint="t_pkey"),
            _index("ix_old", "CREATE INDEX ix_old ON app.t USING btree (b)", 302),
        ],
        {},
        ["- index app.ix_old: CREATE INDEX ix_old ON app.t USING btree (b)  !INDEX_DROPPED"],
    ),
    (
        "a build in progress elsewhere: left alone",
        "indexes: {ix_a: {columns: [a]}}",
        [_index("ix_a", "CREATE INDEX ix_a ON app.t USING btree (a)", valid=False)],
        {"building": {300: 4242}},
        ["notice BUILD_IN_PROGRESS app.ix_a"],
    ),
    (
        "a read-only server: compared as parsed, and said so",
        "indexes: {ix_a: {columns: [a]}}",
        [_index("ix_a", "CREATE INDEX ix_a ON app.t USING btree (a)")],
        {"probed": False},
        ["notice NOT_PROBED *"],
    ),
]


@pytest.mark.parametrize(
    ("declared", "live", "extra", "expected"), [c[1:] for c in INDEX_CASES], ids=[c[0] for c in INDEX_CASES]
)
def test_index_diff(
    tmp_path: Path, declared: str, live: list[LiveIndex], extra: dict[str, Any], expected: list[str]
) -> None:
    table = _table("t", _leaf("t"))
    body = textwrap.indent(declared, "    ")
    ctx = _ctx(_profile(tmp_path, f"tables:\n  app.t:\n{body}\n"), {"app.t": table})
    kind = indexes.resource
    wants = kind.desired(ctx)
    assert wants is not None
    catalog = Catalog({100: {i.name: i for i in live}})
    errors = indexes.parse_definitions(wants.desired, catalog)  # pure: pglast
    assert errors == []
    found = indexes.IndexLive(catalog, wants.desired, extra.get("probed", True), extra.get("building", {}), [])
    assert _lines(kind.diff(wants, found, ENV)) == expected


def test_index_replace_statements(tmp_path: Path) -> None:
    table = _table("t", _leaf("t"))
    ctx = _ctx(_profile(tmp_path, "tables:\n  app.t:\n    indexes: {ix_a: {columns: [a, b]}}\n"), {"app.t": table})
    kind = indexes.resource
    wants = kind.desired(ctx)
    assert wants is not None
    catalog = Catalog({100: {"ix_a": _index("ix_a", "CREATE INDEX ix_a ON app.t USING btree (a)")}})
    indexes.parse_definitions(wants.desired, catalog)
    [change] = kind.diff(wants, indexes.IndexLive(catalog, wants.desired, True, {}, []), ENV).changes
    assert [(s.sql, s.transactional, s.retryable) for s in change.statements] == [
        ('CREATE INDEX CONCURRENTLY "ix_a_pgtune_new" ON "app"."t" USING "btree" (a, b)', False, False),
        ('DROP INDEX CONCURRENTLY "app"."ix_a"', False, True),
        ('ALTER INDEX "app"."ix_a_pgtune_new" RENAME TO "ix_a"', True, True),
    ]


# --- partitions -----------------------------------------------------------------------------


@dataclass
class Facts:
    """The answers a server would give, as data; `asked` records which questions came."""

    rows: dict[int, int] = field(default_factory=dict)  # retiring partition oid -> rows
    in_default: list[int] = field(default_factory=list)  # rows waiting, per range asked about
    names: dict[int, dict[str, Any]] = field(default_factory=dict)  # taken names, by position asked
    references: dict[int, dict[str, list[str]]] = field(default_factory=dict)
    asked: list[str] = field(default_factory=list)

    def foreign_keys(self, oids: list[int]) -> dict[int, dict[str, list[str]]]:
        self.asked.append("foreign_keys")
        return self.references

    def taken(self, wanted: list[tuple[str, str, int]]) -> dict[int, dict[str, Any]]:
        self.asked.append("taken")
        return self.names

    def rows_where(self, questions: list[tuple[Child, sql.Composable]]) -> list[int]:
        self.asked.append("rows_where")
        return (self.in_default + [0] * len(questions))[: len(questions)]

    def row_counts(self, children: list[Child]) -> dict[int, int]:
        self.asked.append("row_counts")
        return self.rows


def _ts(month: int, year: int = 2026) -> datetime:
    return datetime(year, month, 1, tzinfo=UTC)


def _range(name: str, oid: int, lo: datetime, hi: datetime) -> Child:
    return Child(oid, "app", name, False, "range", lo, hi)


MONTHLY = """\
tables:
  app.m:
    partitioning: {strategy: range, key: created_at, interval: 1 month, retention: 3 months%s}
"""

PARTITION_CASES: list[tuple[str, str, list[Child], list[tuple[datetime, datetime]], Facts, list[str]]] = [
    (
        "ahead of now: missing ranges created, then the parent analyzed",
        MONTHLY % "",
        [_range("m_p2026_11", 501, _ts(11), _ts(12))],
        [(_ts(11), _ts(12)), (_ts(12), _ts(1, 2027))],
        Facts(),
        [
            "+ partition app.m_p2026_12: FROM 2026-12-01 TO 2027-01-01",
            "~ partition app.m: (not set) -> ANALYZE",
        ],
    ),
    (
        "retention: an empty partition detached without a gated hazard",
        MONTHLY % "",
        [_range("m_p2026_08", 502, _ts(8), _ts(9)), _range("m_p2026_11", 501, _ts(11), _ts(12))],
        [(_ts(11), _ts(12))],
        Facts(rows={502: 0}),
        ["- partition app.m_p2026_08: FROM 2026-08-01 TO 2026-09-01"],
    ),
    (
        "retention: a partition holding rows hides them (gated)",
        MONTHLY % "",
        [_range("m_p2026_08", 502, _ts(8), _ts(9)), _range("m_p2026_11", 501, _ts(11), _ts(12))],
        [(_ts(11), _ts(12))],
        Facts(rows={502: 7}),
        ["- partition app.m_p2026_08: FROM 2026-08-01 TO 2026-09-01  !HIDES_DATA"],
    ),
    (
        "retention: drop deletes data (gated)",
        MONTHLY % ", retention_action: drop",
        [_range("m_p2026_08", 502, _ts(8), _ts(9)), _range("m_p2026_11", 501, _ts(11), _ts(12))],
        [(_ts(11), _ts(12))],
        Facts(rows={502: 7}),
        ["- partition app.m_p2026_08: FROM 2026-08-01 TO 2026-09-01  !DELETES_DATA"],
    ),
    (
        "a partition overlapping a wanted range: left as is, said so",
        MONTHLY % "",
        [Child(503, "app", "m_odd", False, "range", _ts(11), datetime(2026, 12, 15, tzinfo=UTC))],
        [(_ts(12), _ts(1, 2027))],
        Facts(),
        ["notice MISALIGNED_PARTITION app.m_odd"],
    ),
    (
        "a range the default partition holds rows for: refused without move_default_rows",
        MONTHLY % ", default_partition: true",
        [_range("m_p2026_11", 501, _ts(11), _ts(12)), Child(509, "app", "m_default", False, "default")],
        [(_ts(11), _ts(12)), (_ts(12), _ts(1, 2027))],
        Facts(in_default=[3]),
        ["raises app.m_default holds 3 rows for the new partition m_p2026_12"],
    ),
    (
        "the name of a table pgtune detached earlier: attached again",
        MONTHLY % "",
        [_range("m_p2026_11", 501, _ts(11), _ts(12))],
        [(_ts(11), _ts(12)), (_ts(12), _ts(1, 2027))],
        Facts(
            names={
                0: {
                    "relkind": "r",
                    "relispartition": False,
                    "inherits": False,
                    "marked": True,
                    "same_columns": True,
                    "owned": True,
                }
            }
        ),
        [
            "+ partition app.m_p2026_12: from=2026-12-01, to=2027-01-01, reattach=True",
            "~ partition app.m: (not set) -> ANALYZE",
        ],
    ),
]


def _layout(children: list[Child], strategy: str = "range", key: str = "created_at") -> Layout:
    key_type = "timestamp with time zone" if strategy == "range" else "text"
    return Layout(strategy, 1, False, key, key_type, 0, children)


@pytest.mark.parametrize(
    ("profile", "children", "ranges", "facts", "expected"),
    [c[1:] for c in PARTITION_CASES],
    ids=[c[0] for c in PARTITION_CASES],
)
def test_partition_diff(
    tmp_path: Path,
    profile: str,
    children: list[Child],
    ranges: list[tuple[datetime, datetime]],
    facts: Facts,
    expected: list[str],
) -> None:
    table = _table("m", *(Leaf(c.oid, "app", c.name, {}, {}) for c in children), partitioned=True)
    kind = partitions.resource
    ctx = _ctx(_profile(tmp_path, profile), {"app.m": table})
    wants = kind.desired(ctx)
    assert wants is not None
    live = PartitionLive(wants.declared, {100: _layout(children)}, {100: ranges}, {100: _ts(9)}, {}, facts)
    if expected and expected[0].startswith("raises "):
        with pytest.raises(PgtuneError) as err:
            kind.diff(wants, live, ENV)
        assert expected[0].removeprefix("raises ") in str(err.value)
        return
    assert _lines(kind.diff(wants, live, ENV)) == expected


def test_list_partitions_and_a_default(tmp_path: Path) -> None:
    profile = """\
    tables:
      app.m:
        partitioning:
          strategy: list
          key: org
          partitions: {m_a: [a], m_b: [b, c]}
          default_partition: true
    """
    children = [Child(501, "app", "m_a", False, "list", values=frozenset({"a"}))]
    table = _table("m", Leaf(501, "app", "m_a", {}, {}), partitioned=True)
    kind = partitions.resource
    ctx = _ctx(_profile(tmp_path, profile), {"app.m": table})
    wants = kind.desired(ctx)
    assert wants is not None
    facts = Facts()
    live = PartitionLive(wants.declared, {100: _layout(children, "list", "org")}, {}, {}, {}, facts)
    assert _lines(kind.diff(wants, live, ENV)) == [
        "+ partition app.m_b: IN (b, c)",
        "+ partition app.m_default: DEFAULT",
        "~ partition app.m: (not set) -> ANALYZE",
    ]
    assert "row_counts" not in facts.asked  # nothing retires: no rows are counted


def test_a_plan_with_nothing_to_do_asks_the_server_nothing(tmp_path: Path) -> None:
    kind = partitions.resource
    children = [_range("m_p2026_11", 501, _ts(11), _ts(12))]
    table = _table("m", Leaf(501, "app", "m_p2026_11", {}, {}), partitioned=True)
    ctx = _ctx(_profile(tmp_path, MONTHLY % ""), {"app.m": table})
    wants = kind.desired(ctx)
    assert wants is not None
    facts = Facts()
    live = PartitionLive(
        wants.declared, {100: _layout(children)}, {100: [(_ts(11), _ts(12))]}, {100: _ts(9)}, {}, facts
    )
    assert _lines(kind.diff(wants, live, ENV)) == []
    assert facts.asked == []


# --- pool -----------------------------------------------------------------------------------


def _outlook(**values: int) -> dict[str, settings.Outlook]:
    base = {
        "max_connections": 100,
        "superuser_reserved_connections": 3,
        "reserved_connections": 0,
        "idle_session_timeout": 0,
    }
    base |= values
    return {name: settings.Outlook(SPECS[name], v, v, False) for name, v in base.items()}


def _bouncer(**values: str) -> dict[str, ConfigRow]:
    rows = {
        "pool_mode": ConfigRow("session", "session", True),
        "default_pool_size": ConfigRow("20", "20", True),
        "reserve_pool_size": ConfigRow("0", "0", True),
        "max_client_conn": ConfigRow("100", "100", True),
        "max_db_connections": ConfigRow("0", "0", True),
        "listen_port": ConfigRow("6432", "6432", False),
        "admin_users": ConfigRow("pgtune", "", True),
        "server_idle_timeout": ConfigRow("600", "600", True),
        "query_wait_timeout": ConfigRow("120", "120", True),
    }
    for name, value in values.items():
        rows[name] = ConfigRow(value, rows[name].default, rows[name].changeable)
    return rows


POOL_CASES: list[tuple[str, str, dict[str, Any], list[str]]] = [
    (
        "a PgBouncer setting converged over its console (not persisted without config_file)",
        "pgbouncer: {admin_dsn: 'host=x', settings: {pool_mode: transaction, default_pool_size: 20}}",
        {},
        ["~ pool pgbouncer/pool_mode: session -> transaction  !NOT_PERSISTED", "check POOL_CAPACITY ok"],
    ),
    (
        "a setting PgBouncer cannot change while running, no file to write it to: an error",
        "pgbouncer: {admin_dsn: 'host=x', settings: {listen_port: 6433}}",
        {},
        ["raises PgBouncer cannot change listen_port while running"],
    ),
    (
        "an admin_dsn user outside admin_users: an error",
        "pgbouncer: {admin_dsn: 'host=x', settings: {pool_mode: transaction}}",
        {"login": "monitor"},
        ["raises PgBouncer user 'monitor' is not in admin_users (pgtune)"],
    ),
    (
        "no console: the settings feed the capacity check only",
        "pgbouncer: {settings: {default_pool_size: 200}}\napplication: {pool_size: 5, through: pgbouncer}\n"
        "capacity: warn",
        {"console": False},
        ["notice NOT_MANAGED pgbouncer", "check POOL_CAPACITY warn"],
    ),
    (
        "application pools larger than the server: an error by default",
        "application: {instances: 10, pool_size: 10, max_overflow: 5}",
        {},
        ["raises connection capacity exceeded"],
    ),
]


@pytest.mark.parametrize(("declared", "extra", "expected"), [c[1:] for c in POOL_CASES], ids=[c[0] for c in POOL_CASES])
def test_pool_diff(tmp_path: Path, declared: str, extra: dict[str, Any], expected: list[str]) -> None:
    kind = pool.resource
    ctx = _ctx(_profile(tmp_path, "pool:\n" + textwrap.indent(declared, "  ") + "\n"))
    wants = kind.desired(ctx)
    assert wants is not None
    spec = wants.spec.pgbouncer
    desired = dict(spec.settings) if spec else {}
    if spec is not None and extra.get("console", True):
        config = _bouncer()
        typed = pool._typed(wants, spec, config)
        live = PoolLive(_outlook(), typed, config, (1, 22), "PgBouncer 1.22.0", extra.get("login", "pgtune"))
    else:
        live = PoolLive(_outlook(), {k: str(v) for k, v in desired.items()})
    if expected and expected[0].startswith("raises "):
        with pytest.raises(PgtuneError) as err:
            kind.diff(wants, live, ENV)
        assert expected[0].removeprefix("raises ") in str(err.value)
        return
    assert _lines(kind.diff(wants, live, ENV)) == expected
