"""The index corpus: for every index access method of the server (pg_am) and every column type of a
wide table its default operator class serves (pg_opclass), on a plain and on a partitioned table —
declared, applied, re-planned empty; the same indexes spelled otherwise (explicit default opclass,
upper-case method and column, WITH in other spellings) plan no change; one real change each plans a
replace. Generated from the server's catalogs, on PostgreSQL 15, 16 and 18 (counts printed, -s)."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.conftest import CORPUS_REPORT, CliResult, Server

Cli = Callable[..., CliResult]

COLUMNS = {
    "c_int4": "int4",
    "c_int8": "int8",
    "c_text": "text",
    "c_varchar": "varchar",
    "c_ts": "timestamptz",
    "c_date": "date",
    "c_num": "numeric",
    "c_jsonb": "jsonb",
    "c_range": "int4range",
    "c_tsv": "tsvector",
    "c_point": "point",
    "c_box": "box",
    "c_inet": "inet",
    "c_uuid": "uuid",
    "c_bytea": "bytea",
    "c_bool": "bool",
    "c_float": "float8",
    "c_arr": "int4[]",
}
WITH = {
    "btree": {"fillfactor": ("80", " 80")},
    "hash": {"fillfactor": ("70", "70")},
    "gist": {"buffering": ("on", "ON")},
    "spgist": {"fillfactor": ("90", "90")},
    "gin": {"fastupdate": ("off", "false")},
    "brin": {"pages_per_range": ("32", "32")},
}


@pytest.fixture
def wide(pg: Server) -> Iterator[Server]:
    cols = ", ".join(f"{n} {t}" for n, t in COLUMNS.items())
    pg.sql(f"DROP TABLE IF EXISTS public.corpus, public.pcorpus; CREATE TABLE public.corpus (id int, {cols})")
    pg.sql(f"CREATE TABLE public.pcorpus (id int NOT NULL, {cols}) PARTITION BY RANGE (id)")
    pg.sql("CREATE TABLE public.pcorpus_1 PARTITION OF public.pcorpus FOR VALUES FROM (0) TO (1000)")
    yield pg
    pg.sql("DROP TABLE IF EXISTS public.corpus, public.pcorpus")


def _cases(server: Server) -> list[tuple[str, str, str]]:
    """(access method, column, its default opclass) for every AM/column pair the catalog serves."""
    rows = server.sql(
        "SELECT am.amname, a.attname, oc.opcname FROM pg_am am "
        "JOIN pg_opclass oc ON oc.opcmethod = am.oid AND oc.opcdefault "
        "JOIN pg_attribute a ON a.attrelid = 'public.corpus'::regclass AND a.attnum > 0 "
        "AND (oc.opcintype = a.atttypid OR (oc.opcintype = 'anyarray'::regtype AND a.atttypid = 'int4[]'::regtype) "
        "  OR (oc.opcintype = 'anyrange'::regtype AND a.atttypid = 'int4range'::regtype) "
        "  OR (oc.opcintype = 'text'::regtype AND a.atttypid = 'varchar'::regtype AND am.amname <> 'brin')) "
        "WHERE am.amtype = 'i' AND a.attname LIKE 'c\\_%' ORDER BY 1, 2"
    )
    seen: dict[tuple[str, str], str] = {}
    for am, col, opc in rows:
        seen.setdefault((am, col), opc)
    return [(am, col, opc) for (am, col), opc in seen.items()]


def _profile(cases: list[tuple[str, str, str]], variant: str) -> str:
    lines = ["name: icorpus", "tables:"]
    for table in ("public.corpus", "public.pcorpus"):
        lines += [f"  {table}:", "    indexes:"]
        for i, (am, col, opc) in enumerate(cases):
            column = {"plain": col, "spelled": f"{col.upper()} {opc}", "changed": col}[variant]
            spec: dict[str, object] = {"columns": [column], "method": am.upper() if variant == "spelled" else am}
            options = WITH.get(am, {})
            if options:
                spec["with"] = {k: v[1] if variant == "spelled" else v[0] for k, v in options.items()}
            if variant == "changed":
                spec["where"] = "id > 0"
            lines.append(f"      ix_{table.split('.')[1]}_{i}: {json.dumps(spec)}")
    return "\n".join(lines) + "\n"


def _plan(cli: Cli, profile: Path, dsn: str) -> list[tuple[str, str]]:
    result = cli("plan", str(profile), "--dsn", dsn, "--format", "json")
    assert result.code == 0, result.stderr[-3000:]
    return [(c["object"], c["action"]) for c in json.loads(result.stdout)["changes"]]


def test_index_corpus(wide: Server, cli: Cli, write_profile: Callable[..., Path]) -> None:
    cases = _cases(wide)
    methods = {am for am, _, _ in cases}
    assert {"btree", "hash", "gist", "gin", "spgist", "brin"} <= methods, methods
    plain = write_profile(_profile(cases, "plain"), name="plain.yaml")
    applied = cli("apply", str(plain), "--dsn", wide.dsn, "--yes")
    assert applied.code == 0, applied.stdout[-3000:] + applied.stderr[-3000:]
    socket = f"host={wide.cluster.root} port={wide.cluster.port} user=postgres dbname=postgres"
    for dsn in (wide.dsn, socket):
        assert _plan(cli, plain, dsn) == [], dsn
    spelled = write_profile(_profile(cases, "spelled"), name="spelled.yaml")
    assert _plan(cli, spelled, wide.dsn) == []
    changed = _plan(cli, write_profile(_profile(cases, "changed"), name="changed.yaml"), wide.dsn)
    assert len(changed) == 2 * len(cases) and {a for _, a in changed} == {"replace"}, changed
    CORPUS_REPORT.append(
        f"index corpus on PostgreSQL {wide.version}: {len(cases)} access method/opclass/type cases "
        f"({', '.join(sorted(methods))}) x plain + partitioned: applied -> re-plan empty (TCP, socket); "
        f"other spellings -> 0 changes; one change each -> {len(changed)} replaces"
    )


FORMS = [
    ({"columns": ["c_text DESC NULLS FIRST"]}, {"columns": ["C_TEXT desc nulls first"]}),
    ({"columns": ["c_int4 ASC NULLS LAST"]}, {"columns": ["c_int4"]}),
    ({"columns": ['c_text COLLATE "C"']}, {"columns": ['c_text collate "C"']}),
    ({"columns": ["(lower(c_text))"]}, {"columns": ["(LOWER( c_text ))"]}),
    ({"columns": ["c_text text_pattern_ops"]}, {"columns": ["c_text TEXT_PATTERN_OPS"]}),
    ({"columns": ["c_int4"], "include": ["c_text"]}, {"columns": ["C_INT4"], "include": ["C_TEXT"]}),
    ({"columns": ["c_int4"], "where": "c_int4 > 5"}, {"columns": ["c_int4"], "where": "(C_INT4>5)"}),
    ({"columns": ["c_int8"], "where": "c_bool"}, {"columns": ["c_int8"], "where": "(C_BOOL)"}),
    (
        {"columns": ["c_uuid", "id"], "unique": True, "nulls_not_distinct": True},
        {"columns": ["c_uuid", "ID"], "unique": True, "nulls_not_distinct": True, "method": "BTREE"},
    ),
    (
        {"columns": ["c_ts", "c_int4 DESC"], "with": {"deduplicate_items": "off"}},
        {"columns": ["c_ts", "c_int4 desc"], "with": {"DEDUPLICATE_ITEMS": "0"}},
    ),
    (
        {"columns": ["c_jsonb jsonb_path_ops"], "method": "gin"},
        {"columns": ["c_jsonb JSONB_PATH_OPS"], "method": "GIN"},
    ),
    ({"columns": ["(c_int4::int8)"]}, {"columns": ["((c_int4)::bigint)"]}),
    # Numeric literals the server keeps as written (the scale) where the value is what counts:
    ({"columns": ["c_float"], "where": "c_float > 0.5"}, {"columns": ["c_float"], "where": "c_float > 0.50"}),
    ({"columns": ["c_float"], "where": "c_float < -2.25"}, {"columns": ["c_float"], "where": "c_float < -2.2500"}),
    ({"columns": ["c_num"], "where": "c_num >= 1.5"}, {"columns": ["c_num"], "where": "c_num >= 1.500"}),
    ({"columns": ["c_int8"], "where": "c_int8 IN (1.5, 2)"}, {"columns": ["c_int8"], "where": "c_int8 IN (1.50, 2)"}),
    ({"columns": ["(c_float * 2.5)"]}, {"columns": ["(c_float * 2.50)"]}),
    ({"columns": ["c_float"], "where": "c_float > '0.5'"}, {"columns": ["c_float"], "where": "c_float > 0.5"}),
]


def _forms(which: int, changed: bool = False) -> str:
    lines = ["name: forms", "tables:"]
    for table in ("public.corpus", "public.pcorpus"):
        lines += [f"  {table}:", "    indexes:"]
        for i, pair in enumerate(FORMS):
            spec = dict(pair[which])
            if changed:
                spec["where"] = "id < 100"
            lines.append(f"      fx_{table.split('.')[1]}_{i}: {json.dumps(spec)}")
    return "\n".join(lines) + "\n"


def test_index_forms_spelled_otherwise_are_equal(wide: Server, cli: Cli, write_profile: Callable[..., Path]) -> None:
    first = write_profile(_forms(0), name="forms.yaml")
    applied = cli("apply", str(first), "--dsn", wide.dsn, "--yes")
    assert applied.code == 0, applied.stdout[-3000:] + applied.stderr[-3000:]
    assert _plan(cli, first, wide.dsn) == []
    assert _plan(cli, write_profile(_forms(1), name="forms2.yaml"), wide.dsn) == []
    changed = _plan(cli, write_profile(_forms(0, changed=True), name="forms3.yaml"), wide.dsn)
    assert len(changed) == 2 * len(FORMS) and {a for _, a in changed} == {"replace"}, changed


def test_a_unique_index_without_the_partition_key_is_refused_at_plan(
    wide: Server, cli: Cli, write_profile: Callable[..., Path]
) -> None:
    profile = write_profile(
        "name: u\ntables:\n  public.pcorpus:\n    indexes:\n      ux_p: {columns: [c_uuid], unique: true}\n"
    )
    position = wide.log_position()
    result = cli("apply", str(profile), "--dsn", wide.dsn, "--yes")
    assert result.code == 1
    expected = "index 'ux_p': a UNIQUE index on partitioned public.pcorpus must include its partition key (id)"
    assert f"{profile}:5:13: {expected}" in result.stderr
    wide.assert_only_reads_since(position)


def test_another_constant_in_a_predicate_still_plans_a_replace(
    wide: Server, cli: Cli, write_profile: Callable[..., Path]
) -> None:
    def profile(where: str) -> Path:
        return write_profile(
            f"name: k\ntables:\n  public.corpus:\n    indexes:\n      ix_k: {{columns: [c_float], where: '{where}'}}\n"
        )

    wide.sql("CREATE INDEX ix_k ON public.corpus (c_float) WHERE c_float > 0.5")  # as another tool made it
    assert _plan(cli, profile("c_float > 0.50"), wide.dsn) == []
    assert _plan(cli, profile("c_float > 0.500001"), wide.dsn) == [("public.ix_k", "replace")]
    assert _plan(cli, profile("c_float >= 0.5"), wide.dsn) == [("public.ix_k", "replace")]
