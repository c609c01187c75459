"""Names from the catalog and the workload are data (issue 39): written into a profile they read back
as themselves whatever they hold; advised index names are plain identifiers; a statement's text
yields every function, operator, type and relation the trust check must see. No server."""

from __future__ import annotations

import unicodedata
from collections.abc import Callable

from hypothesis import given, settings
from hypothesis import strategies as st
from pglast import parse_sql

from pgtune.advice.indexes import index_name
from pgtune.advice.trust import collect
from pgtune.base.errors import Location
from pgtune.base.names import quote_ident
from pgtune.profile.edit import insert_entries, yaml_scalar, yaml_text
from pgtune.profile.source import parse_value
from tests.conftest import budget

WHERE = Location("t", 1, 1)
names = st.text(min_size=1, max_size=40)
BLOCK = "name: p  # top\ntables:\n  s.t:\n    indexes:\n      ix_a: {columns: [a]}  # kept\n"
FLOW = "name: p\ntables:\n  s.t: {indexes: {ix_a: {columns: [a]}}}  # kept\n"


@settings(max_examples=budget(300))
@given(names)
def test_any_scalar_reads_back_as_itself_in_every_context(text: str) -> None:
    written = yaml_scalar(text)
    assert "\n" not in written
    assert parse_value(written, WHERE) == text
    assert parse_value(f"[{written}, x]", WHERE) == [text, "x"]
    assert parse_value(f"{{{written}: x}}", WHERE) == {text: "x"}
    assert parse_value(f"{written}: x", WHERE) == {text: "x"}
    assert not any(unicodedata.category(c) in ("Cc", "Cf", "Zl", "Zp") for c in written)  # all visible


@settings(max_examples=budget(150))
@given(names, names, st.sampled_from([BLOCK, FLOW]))
def test_an_inserted_key_and_value_read_back_exactly_in_block_and_flow_layouts(
    key: str, column: str, layout: str
) -> None:
    text = insert_entries(layout, [(("tables", "s.t", "indexes", key), {"columns": [column]}, "c\nd")])
    doc = parse_value(text, WHERE)
    indexes = doc["tables"]["s.t"]["indexes"]
    assert indexes[key] == {"columns": [column]}
    assert indexes["ix_a"] == {"columns": ["a"]} or key == "ix_a"
    assert set(doc) == {"name", "tables"} and set(doc["tables"]) == {"s.t"}
    assert "# kept" in text
    assert "# top" in text or layout is FLOW


@given(st.lists(names, min_size=1, max_size=3), names)
def test_advised_index_names_are_plain_identifiers(columns: list[str], table: str) -> None:
    name = index_name(table, tuple(columns))
    assert name.startswith("ix_") and len(name.encode()) <= 63
    assert all(c.isascii() and (c.isalnum() or c == "_") and not c.isupper() for c in name)


CATALOG_NAMES = st.text(
    alphabet=st.characters(blacklist_characters="\x00", blacklist_categories=("Cs",)), min_size=1, max_size=30
).filter(lambda n: len(n.encode()) <= 63)
"""Names as the catalog holds them: no NUL, valid UTF-8, at most 63 bytes (NAMEDATALEN - 1)."""


@given(CATALOG_NAMES)
def test_a_quoted_identifier_reads_back_as_the_same_column(column: str) -> None:
    stmt = parse_sql(f"SELECT {quote_ident(column)} FROM t")[0].stmt
    (target,) = stmt.targetList
    assert [f.sval for f in target.val.fields] == [column]


def test_yaml_text_keeps_flow_collections_readable() -> None:
    assert yaml_text({"columns": ["agent_id", "sequence_id"]}) == "{columns: [agent_id, sequence_id]}"
    assert yaml_text({"columns": ['"agentId"']}) == "{columns: ['\"agentId\"']}"


def test_collect_sees_every_name_planning_could_reach() -> None:
    tree = parse_sql(
        "SELECT lower(b)::app.mood FROM app.v x JOIN t ON t.id = x.id "
        "WHERE a OPERATOR(app.===) 3 AND b BETWEEN 1 AND 2 AND c LIKE 'x' AND d = ANY (SELECT app.f() FROM u) "
        "ORDER BY a USING ~<~"
    )[0].stmt
    names = collect(tree)
    assert names.functions == {(None, "lower"), ("app", "f")}
    assert names.operators >= {("app", "==="), (None, "="), (None, "~~"), (None, "~<~")}
    assert {(None, "<="), (None, ">=")} <= names.operators
    assert names.types == {("app", "mood")}
    assert names.relations == {("app", "v"), (None, "t"), (None, "u")}


WORDS = st.from_regex(r"[A-Za-z_][A-Za-z0-9_$]{0,70}", fullmatch=True)


@settings(max_examples=budget(300))
@given(st.one_of(WORDS, st.builds(lambda a, b: f"{a}.{b}", WORDS, WORDS), st.text(max_size=30)))
def test_a_table_key_reads_the_same_by_the_plain_path_and_the_general_one(text: str) -> None:
    """parse_qualified reads plain `schema.table` keys without its loop (fleet-size profiles):
    the same names, and the same refusals, as the general parser."""
    from pgtune.base.identifiers import InvalidName, _parsed, parse_qualified

    def read(parse: Callable[[str], tuple[str | None, str]]) -> tuple[str | None, str] | str:
        try:
            return parse(text)
        except InvalidName as exc:
            return f"refused: {exc}"

    assert read(parse_qualified) == read(_parsed)
