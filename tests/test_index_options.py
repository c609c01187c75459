"""WITH options and access methods are compared and written as the server reads them: an enum
option keeps its word (GiST `buffering = on`), a boolean one is compared by parse_bool (`"0"` is
`false`), and unquoted SQL words fold to lower case (`GIN`, `FILLFACTOR`)."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest

from pgtune.kinds.indexdef import option_text, parse_bool
from pgtune.plan.model import Plan
from tests.conftest import Server


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("on", True),
        ("OFF", False),
        ("t", True),
        ("tr", True),
        ("f", False),
        ("y", True),
        ("n", False),
        ("1", True),
        ("0", False),
        (" yes ", True),
        ("o", None),
        ("2", None),
        ("", None),
        ("onn", None),
    ],
)
def test_parse_bool_is_postgresqls(text: str, value: bool | None) -> None:
    assert parse_bool(text) is value


def test_only_boolean_options_fold_to_true_false() -> None:
    assert option_text("fastupdate", "0") == "false"
    assert option_text("buffering", "on") == "on"
    assert option_text("buffering", "AUTO") == "auto"


@pytest.fixture
def shapes(pg: Server) -> Iterator[Server]:
    pg.sql("DROP TABLE IF EXISTS public.shapes; CREATE TABLE public.shapes (id int, p point, j jsonb, n int)")
    yield pg
    pg.sql("DROP TABLE IF EXISTS public.shapes")


PROFILE = """
name: options
tables:
  public.shapes:
    indexes:
      ix_shapes_p: {columns: [p], method: gist, with: {buffering: on}}
      ix_shapes_j: {columns: [j], method: GIN, with: {fastupdate: "0"}}
      ix_shapes_n: {columns: [n], method: BTREE, with: {FILLFACTOR: 70, deduplicate_items: off}}
"""


def test_enum_and_boolean_options_build_and_converge(shapes: Server, plan_for: Callable[[str], Plan]) -> None:
    plan = plan_for(PROFILE)
    assert sorted(c.object for c in plan.changes) == ["public.ix_shapes_j", "public.ix_shapes_n", "public.ix_shapes_p"]
    shapes.apply(plan)
    defs = dict(shapes.sql("SELECT indexname, indexdef FROM pg_indexes WHERE tablename = 'shapes'"))
    assert defs["ix_shapes_p"].endswith("USING gist (p) WITH (buffering='on')")
    assert "USING gin (j) WITH (fastupdate='0')" in defs["ix_shapes_j"]
    assert plan_for(PROFILE).changes == ()
    # The live index says 'false', the profile "0": the same value, no rebuild.
    shapes.sql("DROP INDEX public.ix_shapes_j")
    shapes.sql("CREATE INDEX ix_shapes_j ON public.shapes USING gin (j) WITH (fastupdate=false)")
    assert plan_for(PROFILE).changes == ()
    # A real change is still one.
    moved = plan_for(PROFILE.replace("buffering: on", "buffering: auto"))
    assert [(c.object, c.action) for c in moved.changes] == [("public.ix_shapes_p", "replace")]
