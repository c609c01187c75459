"""The pure parts of `pgtune advise`, without a server: query shapes from pglast, candidate column
lists, coverage, the autovacuum and work_mem rules table-driven, and the profile editor's inserts
(every original line kept, the result parses to the document with the entries added)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st
from ruamel.yaml import YAML

from pgtune.advice.catalog import Statement, TableFacts
from pgtune.advice.indexes import candidates, covered, index_name
from pgtune.advice.maintenance import Rates, vacuum_advice, window_rates, work_mem_advice
from pgtune.advice.shapes import parse
from pgtune.profile.edit import insert_entries

GLOBALS = {
    "autovacuum_vacuum_threshold": 50.0,
    "autovacuum_vacuum_scale_factor": 0.2,
    "autovacuum_analyze_threshold": 50.0,
    "autovacuum_analyze_scale_factor": 0.1,
    "autovacuum_vacuum_insert_threshold": 1000.0,
    "autovacuum_vacuum_insert_scale_factor": 0.2,
}


@pytest.mark.parametrize(
    ("query", "table", "equality", "ranges", "order", "written"),
    [
        (
            "SELECT * FROM letta.messages m WHERE m.agent_id = $1 AND m.created_at > $2 ORDER BY m.sequence_id DESC",
            ("letta", "messages"),
            ["agent_id"],
            ["created_at"],
            ["sequence_id"],
            [],
        ),
        ("SELECT * FROM t WHERE a IN ($1, $2) AND b BETWEEN $3 AND $4", (None, "t"), ["a"], ["b"], [], []),
        ("SELECT * FROM t WHERE a = ANY($1) AND c IS NULL", (None, "t"), ["a", "c"], [], [], []),
        ("UPDATE t SET x = $1, y = 2 WHERE id = $2", (None, "t"), ["id"], [], [], ["x", "y"]),
        ("SELECT * FROM t WHERE a = $1 OR b = $2", (None, "t"), [], [], [], []),  # OR: no single index serves it
        ("SELECT * FROM a JOIN b ON a.id = b.a_id WHERE b.k = $1", (None, "b"), ["a_id", "k"], [], [], []),
    ],
)
def test_query_shapes(
    query: str, table: tuple, equality: list[str], ranges: list[str], order: list[str], written: list[str]
) -> None:
    shape = parse(query)
    assert shape is not None
    usage = shape.tables[table]
    assert (usage.equality, usage.ranges, usage.order, usage.written) == (equality, ranges, order, written)


@pytest.mark.parametrize(
    "query",
    [
        "SELECT 1; DROP TABLE t",
        "DROP TABLE t",
        "SELECT 1",
        "not sql",
        "SELECT a FROM t UNION SELECT a FROM u",
        "x" * 200_000,
    ],
)
def test_what_is_not_one_readable_statement_is_never_costed(query: str) -> None:
    assert parse(query) is None


def test_the_sql_costed_is_printed_afresh() -> None:
    shape = parse("select  *  from t where a=$1 -- a comment\n")
    assert shape is not None and shape.sql == "SELECT * FROM t WHERE a = $1" and shape.params == 1


def _facts(columns: list[str], indexes: list[tuple[str, tuple[str, ...] | None, bool]] = ()) -> TableFacts:  # type: ignore[assignment]
    return TableFacts(1, "s", "t", 1000, 1000.0, 0, 0, 0, 0, 0, {}, columns, list(indexes))


def _statement(text: str, **kw: object) -> Statement:
    fields = {"queryid": 1, "role": "app", "calls": 10, "total_ms": 100.0, "rows": 10, "temp_blks_written": 0}
    fields.update(kw)
    return Statement(shape=parse(text), **fields)  # type: ignore[arg-type]


def test_candidates_lead_with_equality_then_a_range_or_the_sort() -> None:
    s = _statement("SELECT * FROM t WHERE agent_id = $1 AND is_deleted = $2 ORDER BY sequence_id DESC LIMIT $3")
    found = candidates([s], (None, "t"), _facts(["agent_id", "is_deleted", "sequence_id"]))
    assert ("agent_id", "sequence_id") in found and ("agent_id", "is_deleted", "sequence_id") in found
    assert ("sequence_id", "agent_id") not in found  # the sort never leads an equality
    assert candidates([s], (None, "t"), _facts(["agent_id"])) == [("agent_id",)]  # unknown columns dropped


def test_covered_by_the_leading_columns_only() -> None:
    held = [("agent_id", "created_at")]
    assert covered(("agent_id",), held) and covered(("agent_id", "created_at"), held)
    assert not covered(("created_at",), held) and not covered(("agent_id", "sequence_id"), held)


def test_index_names_fit_namedatalen() -> None:
    assert index_name("messages", ("agent_id", "sequence_id")) == "ix_messages_agent_id_sequence_id"
    assert len(index_name("t" * 60, ("a" * 40,)).encode()) <= 63


def _rates(rows: float, ins: int = 0, upd: int = 0, dele: int = 0, **options: str) -> dict[int, Rates]:
    return {1: Rates(1, "letta", "messages", rows, ins, upd, dele, options)}


@pytest.mark.parametrize(
    ("rates", "hours", "expected"),
    [
        # 1M rows, 10k updates an hour: the default 0.2 fires every ~20 h; 0.01 every ~1 h.
        (_rates(1_000_000, upd=10_000), 1.0, {"autovacuum_vacuum_scale_factor": "0.01"}),
        (_rates(5_000, upd=100_000), 1.0, {}),  # small table: left alone
        (_rates(1_000_000, upd=500), 1.0, {}),  # too few writes to be evidence
        (_rates(1_000_000), 1.0, {}),  # no writes
        (_rates(1_000_000, upd=10_000, autovacuum_vacuum_scale_factor="0.005"), 1.0, {}),  # already often enough
    ],
)
def test_vacuum_advice(rates: dict[int, Rates], hours: float, expected: dict[str, str]) -> None:
    advice = vacuum_advice(rates, hours, GLOBALS, 1.0, lambda s, n: f"{s}.{n}", 150000)
    got = {k: v for a in advice for k, v in a.values.items() if k == "autovacuum_vacuum_scale_factor"}
    assert got == expected
    for a in advice:
        assert a.entries[0][0][:3] == ("tables", "letta.messages", "storage")


def test_work_mem_advice_is_per_role_and_only_on_spills() -> None:
    spill = _statement("SELECT * FROM t ORDER BY a", calls=2, temp_blks_written=2 * 1280)  # 10 MB a call
    dry = _statement("SELECT * FROM t", role="other")
    utility = _statement("SELECT 1", role="maint", temp_blks_written=10_000, query=False)
    advice = work_mem_advice([spill, dry, utility], {"app": 4096}, {"app": 50}, 123)
    assert [(a.values["role"], a.values["work_mem"]) for a in advice] == [("app", "16MB")]
    assert advice[0].entries == ((("roles", "app", "settings", "work_mem"), "16MB"),)
    assert advice[0].evidence["worst_case_memory_mb"] == 16 * 50
    assert work_mem_advice([dry], {}, {}, 0) == []


PROFILE = """\
# top comment
name: p  # name
tables:
  # the hot one
  s.t:
    indexes:
      ix_a: {columns: [a]}  # kept
  s.u: {}
"""


def test_inserts_keep_every_line_and_read_back() -> None:
    entries = [
        (("tables", "s.t", "indexes", "ix_b"), {"columns": ["b", "c"]}, "advised: b"),
        (("tables", "s.t", "storage", "fillfactor"), 90, None),
        (("tables", "s.u", "indexes", "ix_c"), {"columns": ["c"]}, None),
        (("tables", "s.v", "storage", "autovacuum_vacuum_scale_factor"), 0.01, "busy"),
        (("roles", "app", "settings", "work_mem"), "16MB", "spills"),
    ]
    text = insert_entries(PROFILE, entries)
    for line in PROFILE.splitlines():
        if "s.u" not in line:  # a flow mapping is rewritten with its new key
            assert line in text
    doc = YAML(typ="safe").load(text)
    assert doc["tables"]["s.t"]["indexes"] == {"ix_a": {"columns": ["a"]}, "ix_b": {"columns": ["b", "c"]}}
    assert doc["tables"]["s.t"]["storage"] == {"fillfactor": 90}
    assert doc["tables"]["s.u"] == {"indexes": {"ix_c": {"columns": ["c"]}}}
    assert doc["tables"]["s.v"]["storage"]["autovacuum_vacuum_scale_factor"] == 0.01
    assert doc["roles"]["app"]["settings"]["work_mem"] == "16MB"
    assert "ix_b: {columns: [b, c]}  # advised: b" in text


@given(
    st.lists(
        st.tuples(st.sampled_from(["s.t", "s.u", "x.y"]), st.sampled_from(["ix_1", "ix_2"]), st.sampled_from("abc")),
        min_size=1,
        max_size=6,
    )
)
def test_any_sequence_of_inserts_reads_back(adds: list[tuple[str, str, str]]) -> None:
    text = PROFILE
    expected: dict[tuple[str, str], list[str]] = {}
    for table, name, column in adds:
        text = insert_entries(text, [(("tables", table, "indexes", name), {"columns": [column]}, "c")])
        expected[(table, name)] = [column]
    doc = YAML(typ="safe").load(text)
    for (table, name), columns in expected.items():
        assert doc["tables"][table]["indexes"][name] == {"columns": columns}
    assert "# top comment" in text and "# the hot one" in text


def test_a_sampling_window_counts_only_what_it_saw() -> None:
    before = _rates(1_000_000, ins=10, upd=100, dele=1)
    after = {**_rates(1_000_000, ins=15, upd=5_100, dele=1), 2: Rates(2, "s", "new", 20_000, 9, 9, 9, {})}
    (only,) = window_rates(before, after).values()
    assert (only.inserted, only.updated, only.deleted) == (5, 5_000, 0)  # a table first seen later is not rated
