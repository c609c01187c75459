"""Index definition canonicalisation (pure): spellings that PostgreSQL treats alike compare equal,
real differences never do."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pgtune.kinds.indexdef import IndexDefinitionError, anonymous, parse_declared, parse_live, printed_forms, restore
from pgtune.kinds.indexes import MAX_NAME_BYTES, bounded_name, tmp_name
from pgtune.profile.model import IndexSpec


def spec(**kwargs: object) -> IndexSpec:
    return IndexSpec.model_validate(kwargs)


def live(text: str) -> tuple:
    return parse_live(text).canon


BASE = "CREATE INDEX ix ON letta.messages USING btree (agent_id, created_at)"


@pytest.mark.parametrize(
    ("declared", "definition"),
    [
        (spec(columns=["agent_id", "created_at"]), BASE),
        (spec(columns=['"agent_id"', "CREATED_AT asc nulls last"], method="btree"), BASE),
        (spec(columns=["agent_id desc"]), "CREATE INDEX i ON t USING btree (agent_id DESC)"),
        (spec(columns=["agent_id desc nulls first"]), "CREATE INDEX i ON t USING btree (agent_id DESC)"),
        (spec(columns=["a"], where="((is_err = TRUE))"), "CREATE INDEX i ON t USING btree (a) WHERE (is_err = true)"),
        (spec(columns=["lower(text)"]), "CREATE INDEX i ON t USING btree (lower(text))"),
        (spec(columns=["pg_catalog.lower(text)"]), "CREATE INDEX i ON t USING btree (lower(text))"),
        (spec(columns=["a"], include=["id"]), "CREATE INDEX i ON s.t USING btree (a) INCLUDE (id)"),
        (
            spec(columns=["a"], **{"with": {"fillfactor": "90"}}),
            "CREATE INDEX i ON t USING btree (a) WITH (fillfactor='90')",
        ),
        (
            spec(columns=["a"], **{"with": {"fastupdate": "off"}}),
            "CREATE INDEX i ON t USING btree (a) WITH (fastupdate='false')",
        ),
        (
            spec(columns=["a"], unique=True, nulls_not_distinct=True),
            "CREATE UNIQUE INDEX i ON t USING btree (a) NULLS NOT DISTINCT",
        ),
        (spec(columns=["tags jsonb_path_ops"], method="gin"), "CREATE INDEX i ON t USING gin (tags jsonb_path_ops)"),
        (spec(columns=['name COLLATE "C"']), 'CREATE INDEX i ON t USING btree (name COLLATE "C")'),
    ],
)
def test_equal_spellings_compare_equal(declared: IndexSpec, definition: str) -> None:
    assert parse_declared(declared).canon == live(definition)


@pytest.mark.parametrize(
    "declared",
    [
        spec(columns=["created_at", "agent_id"]),  # order
        spec(columns=["agent_id", "created_at desc"]),  # direction
        spec(columns=["agent_id", "created_at nulls first"]),  # nulls order
        spec(columns=["agent_id", "created_at"], unique=True),
        spec(columns=["agent_id", "created_at"], method="hash"),
        spec(columns=["agent_id", "created_at"], include=["id"]),
        spec(columns=["agent_id", "created_at"], where="is_err"),
        spec(columns=["agent_id", "created_at text_pattern_ops"]),
        spec(columns=["agent_id", "created_at"], **{"with": {"fillfactor": "90"}}),
        spec(columns=["agent_id"]),
    ],
)
def test_real_differences_never_compare_equal(declared: IndexSpec) -> None:
    assert parse_declared(declared).canon != live(BASE)


IDENT = st.from_regex(r"[a-z][a-z0-9_]{0,10}", fullmatch=True).filter(
    lambda s: s not in {"asc", "desc", "nulls", "collate", "on", "or", "and", "not", "is", "in", "as", "to", "do"}
)


@given(
    columns=st.lists(IDENT, min_size=1, max_size=4, unique=True),
    quote=st.lists(st.booleans(), min_size=4, max_size=4),
    upper=st.booleans(),
    spaces=st.integers(min_value=1, max_value=3),
)
def test_quoting_casing_and_spacing_never_change_the_canonical_form(
    columns: list[str], quote: list[bool], upper: bool, spaces: int
) -> None:
    plain = parse_declared(spec(columns=columns)).canon

    def spell(i: int, column: str) -> str:
        text = f'"{column}"' if quote[i] else (column.upper() if upper else column)
        return text + " " * spaces + ("ASC" if upper else "asc")

    respelled = parse_declared(spec(columns=[spell(i, c) for i, c in enumerate(columns)])).canon
    assert respelled == plain
    assert live(f"CREATE INDEX i ON t USING btree ({', '.join(columns)})") == plain


@pytest.mark.parametrize(
    ("declared", "message"),
    [
        (spec(columns=["a) WHERE true; DROP TABLE t; --"]), "not a single index definition"),
        (spec(columns=["a, b"]), "columns[0] 'a, b': expected one column or expression"),
        (spec(columns=["a"], where="true); DROP TABLE t; --"), "where"),
        (spec(columns=["a"], include=["lower(b)"]), "include: expected plain column names"),
        (spec(columns=["a"], where="a = "), "syntax error at end of input"),
        (spec(columns=["a"], where="-- nothing"), "syntax error"),
    ],
)
def test_declared_text_cannot_smuggle_sql(declared: IndexSpec, message: str) -> None:
    with pytest.raises(IndexDefinitionError) as excinfo:
        parse_declared(declared)
    assert message in str(excinfo.value)


def test_executed_sql_is_reprinted_from_the_tree() -> None:
    parsed = parse_declared(spec(columns=["agent_id   DESC", "lower( text )"], where="is_err=true"))
    assert parsed.elements_sql == ("agent_id DESC", "(lower(text))")
    assert parsed.where_sql == "is_err = TRUE"
    assert parsed.column_names == {"agent_id", "text", "is_err"}


NAMES = st.text(
    alphabet=st.characters(min_codepoint=97, max_codepoint=0x1F600, blacklist_categories=("Cs",)),
    min_size=1,
    max_size=80,
)


@given(NAMES, NAMES)
def test_bounded_names_fit_postgresql_and_stay_distinct(base: str, other: str) -> None:
    name = bounded_name(base, "_pgtune_new")
    assert len(name.encode()) <= MAX_NAME_BYTES
    assert name.endswith("_pgtune_new")
    if len((base + "_pgtune_new").encode()) <= MAX_NAME_BYTES:
        assert name == base + "_pgtune_new"
    if base != other:
        assert bounded_name(other, "_pgtune_new") != name


def test_long_names_sharing_a_prefix_get_different_temporary_names() -> None:
    a, b = "ix_" + "a" * 58 + "_1", "ix_" + "a" * 58 + "_2"
    assert tmp_name(a) != tmp_name(b)
    assert all(len(tmp_name(n).encode()) <= 63 for n in (a, b))


QUOTED = st.one_of(IDENT, IDENT.map(lambda s: '"' + s.upper() + ' x"'))


@given(
    name=QUOTED,
    schema=QUOTED,
    table=QUOTED,
    unique=st.booleans(),
    only=st.booleans(),
    tail=st.sampled_from(["btree (a)", "gin (tags jsonb_path_ops)", "btree (lower(y)) WHERE (x > 0)"]),
)
def test_anonymous_and_restore_are_inverse(
    name: str, schema: str, table: str, unique: bool, only: bool, tail: str
) -> None:
    qualified = f"{schema}.{table}"
    head, on = f"CREATE {'UNIQUE ' if unique else ''}INDEX", "ON ONLY" if only else "ON"
    definition = f"{head} {name} {on} {qualified} USING {tail}"
    shape = anonymous(definition, name, qualified)
    assert shape == f"{head} pgtune_i {on} pgtune_t USING {tail}"
    assert restore(shape, name, qualified) == definition
    assert parse_live(shape).canon == parse_live(definition).canon
    assert anonymous(definition, name + "x", qualified) is None  # not laid out as expected: not shared
    assert anonymous(definition, name, qualified + "x") is None


ELEMENTS = st.sampled_from(
    ["a", "b DESC", "c NULLS FIRST", "(lower(c))", "lower(c)", "(a + b)", "((a))", "(a) + (b)", "c text_pattern_ops"]
)


@given(
    columns=st.lists(ELEMENTS, min_size=1, max_size=3),
    include=st.lists(st.sampled_from(["id", "d"]), max_size=2, unique=True),
    where=st.sampled_from([None, "a > 0", "(a > 0)", "a > 0 AND b IS NULL", "is_err"]),
    unique=st.booleans(),
    method=st.sampled_from(["btree", "hash"]),
    only=st.booleans(),
)
def test_a_printed_form_is_always_the_declared_index(
    columns: list[str], include: list[str], where: str | None, unique: bool, method: str, only: bool
) -> None:
    """The plan's no-parse shortcut (a live index printed exactly as declared is unchanged) must
    never disagree with parsing: every printed form parses to the declared canonical form."""
    declared = spec(columns=columns, include=include, where=where, unique=unique, method=method)
    try:
        canon = parse_declared(declared).canon
    except IndexDefinitionError:
        return  # "(a) + (b)" and friends: rejected either way
    for text in printed_forms(declared, only=only):
        assert parse_live(text).canon == canon, text
    assert printed_forms(spec(columns=columns, **{"with": {"fillfactor": "90"}})) == ()


def _predicate(where: str) -> tuple:
    return live(f"CREATE INDEX i ON t USING btree (x) WHERE {where}")


@given(
    st.decimals(allow_nan=False, allow_infinity=False, places=3, min_value=-1000, max_value=1000),
    st.integers(min_value=0, max_value=4),
    st.sampled_from(["double precision", "real"]),
)
def test_a_constant_cast_to_float_compares_by_its_value_whatever_its_scale(
    value: object, zeros: int, cast: str
) -> None:
    """The server keeps the literal inside the cast as written (`(0.50)::double precision`): the
    profile's scale must not make a perpetual replace."""
    text = format(value, "f")
    padded = text + ("0" * zeros if "." in text else ("." + "0" * zeros if zeros else ""))
    assert _predicate(f"(x > ({text})::{cast})") == _predicate(f"(x > ({padded})::{cast})")
    assert _predicate(f"(x > ({text})::{cast})") == _predicate(f"(x > '{padded}'::{cast})")


@given(st.decimals(allow_nan=False, allow_infinity=False, places=2, min_value=-100, max_value=100))
def test_a_numeric_literal_compared_keeps_its_value_and_only_its_value(value: object) -> None:
    text = format(value, "f")
    assert _predicate(f"(x >= {text})") == _predicate(f"(x >= {text}000)")
    assert _predicate(f"(x = ANY (ARRAY[{text}, 2.5]))") == _predicate(f"(x = ANY (ARRAY[{text}0, 2.50]))")
    assert _predicate(f"(x >= {text})") != _predicate(f"(x >= {text}1)")  # another value
    assert _predicate(f"(x >= {text})") != _predicate(f"(x > {text})")  # another operator


@pytest.mark.parametrize(
    ("one", "other"),
    [
        ("(x > (0.5)::double precision)", "(x > (0.6)::double precision)"),
        ("(x > (0.1)::double precision)", "(x > (0.10000000001)::double precision)"),
        ("((x)::text = (0.50)::text)", "((x)::text = (0.5)::text)"),  # as text, the scale is the value
        ("(x > (0.5)::numeric(3,2))", "(x > (0.50)::numeric(3,1))"),
        ("((x * 0.50) > (1)::numeric)", "((x * 0.5) > (1)::numeric)"),  # an expression's result scale differs
    ],
)
def test_constants_of_another_meaning_stay_different(one: str, other: str) -> None:
    assert _predicate(one) != _predicate(other)


def test_negative_literals_as_the_server_prints_them_compare_by_value() -> None:
    assert _predicate("(f < ('-2.25'::numeric)::double precision)") == _predicate(
        "(f < ('-2.2500'::numeric)::double precision)"
    )
    assert _predicate("(n >= '-1.5'::numeric)") == _predicate("(n >= '-1.50'::numeric)")
    assert _predicate("(n >= '-1.5'::numeric)") == _predicate("(n >= -1.50)")
    assert _predicate("(n >= '-1.5'::numeric)") != _predicate("(n >= '-1.6'::numeric)")


def test_a_declarations_parts_are_kept_and_follow_a_changed_copy() -> None:
    """`parts` (what printed forms and parses are cached by) is worked out once per declaration; a
    copy with a changed field is a new declaration, never the old one's parts."""
    declared = spec(columns=["a"], where="a > 0")
    assert declared.parts is declared.parts
    assert declared.parts == (False, "btree", ("a",), (), False, "a > 0")
    changed = declared.model_copy(update={"columns": ["b"]})
    assert changed.parts == (False, "btree", ("b",), (), False, "a > 0")
    assert printed_forms(changed) != printed_forms(declared)
    assert declared == spec(columns=["a"], where="a > 0")  # the kept value is no field
