"""Index definitions read once per shape (kinds/indexes/read.py `read`) against PostgreSQL 15 and 16.

pgtune asks pg_get_indexdef() for one index of each shape and rebuilds the others' text from
it. These tables are made to tempt a wrong share: same attnums with other names, types or
collations, other opclasses, sort orders, options, per-column opclass options, predicates and
expressions that differ only in a constant or in how the statement was laid out, dropped
columns, names that need quoting. Every rebuilt definition must equal the server's own.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from conftest import Server

from pgtune.base.errors import ProfileError
from pgtune.kinds import read_columns
from pgtune.kinds.engine import build_plan, server_info
from pgtune.kinds.indexes import read
from pgtune.kinds.tables import resolve
from pgtune.profile.loader import LoadedProfile, load_profile
from pgtune.profile.model import Profile, TableSpec
from pgtune.profile.source import PositionIndex

SCHEMA = """
CREATE SCHEMA shapes;
CREATE SCHEMA "Odd Schema";
CREATE TABLE shapes.a (id int PRIMARY KEY, x int, y text, z timestamptz, tags jsonb);
CREATE TABLE shapes.b (id int PRIMARY KEY, x int, y text, z timestamptz, tags jsonb);
CREATE TABLE shapes.c (id int PRIMARY KEY, w int, y text, z timestamptz, tags jsonb);      -- x renamed
CREATE TABLE shapes.d (id int PRIMARY KEY, x bigint, y varchar, z timestamp, tags jsonb);  -- other types
CREATE TABLE shapes.e (id int PRIMARY KEY, x int, y text COLLATE "C", z timestamptz, tags jsonb);
CREATE TABLE shapes.f (id int PRIMARY KEY, gone int, x int, y text, z timestamptz, tags jsonb);
ALTER TABLE shapes.f DROP COLUMN gone;                                                        -- attnums shift
CREATE TABLE "Odd Schema"."Mixed Case" (id int PRIMARY KEY, x int, y text, z timestamptz, tags jsonb);
CREATE TABLE shapes.p (id int, x int, y text, z timestamptz NOT NULL) PARTITION BY RANGE (z);
CREATE TABLE shapes.p_1 PARTITION OF shapes.p FOR VALUES FROM ('2026-01-01') TO ('2026-02-01');
"""

PER_TABLE = [
    "CREATE INDEX {n}_x ON {t} ({x})",
    "CREATE INDEX {n}_xy ON {t} ({x}, y)",
    "CREATE INDEX {n}_yx ON {t} (y, {x})",
    "CREATE INDEX {n}_x_desc ON {t} ({x} DESC NULLS LAST)",
    "CREATE INDEX {n}_y_pattern ON {t} (y {pattern_ops})",
    'CREATE INDEX {n}_y_c ON {t} (y COLLATE "C")',
    "CREATE INDEX {n}_lower ON {t} (lower(y))",
    "CREATE INDEX    {n}_lower_spaced ON {t}   ((  lower(y)  ))",
    "CREATE INDEX {n}_partial0 ON {t} (z) WHERE {x} > 0",
    "CREATE INDEX {n}_partial1 ON {t} (z) WHERE {x} > 1",
    "CREATE INDEX {n}_incl ON {t} ({x}) INCLUDE (y)",
    "CREATE INDEX {n}_ff ON {t} ({x}) WITH (fillfactor = 70)",
    "CREATE UNIQUE INDEX {n}_uq ON {t} (id, {x})",
    "CREATE INDEX {n}_gin ON {t} USING gin (tags jsonb_path_ops)",
    "CREATE INDEX {n}_hash ON {t} USING hash (y)",
    "CREATE INDEX {n}_sig{siglen} ON {t} USING gist ((to_tsvector('simple', y)) tsvector_ops (siglen = {siglen}))",
]
TABLES = ["shapes.a", "shapes.b", "shapes.c", "shapes.d", "shapes.e", "shapes.f", '"Odd Schema"."Mixed Case"']


@pytest.fixture
def shapes(pg: Server) -> Iterator[Server]:
    pg.sql(SCHEMA)
    for i, table in enumerate(TABLES):
        words = {
            "n": "ix_" + table.replace('"', "").replace(".", "_").replace(" ", "_").lower(),
            "t": table,
            "x": "w" if table == "shapes.c" else "x",
            "pattern_ops": "varchar_pattern_ops" if table == "shapes.d" else "text_pattern_ops",
            "siglen": 32 if i % 2 else 64,  # same catalog row but for the opclass option
        }
        for template in PER_TABLE:
            pg.sql(template.format(**words))
    pg.sql('CREATE INDEX "Needs ""Quotes""" ON shapes.a (x, z)')
    pg.sql("CREATE INDEX ix_same_as_quoted ON shapes.b (x, z)")
    pg.sql("CREATE INDEX ix_p_x ON shapes.p (x)")
    pg.sql("CREATE INDEX ix_p_z ON ONLY shapes.p (z)")
    yield pg
    pg.sql('DROP SCHEMA shapes CASCADE; DROP SCHEMA "Odd Schema" CASCADE')


def test_every_definition_read_by_shape_is_the_servers_own(shapes: Server) -> None:
    keys = [*TABLES, "shapes.p"]
    loaded = LoadedProfile(Profile(name="shapes", tables={k: TableSpec() for k in keys}), PositionIndex(), "<test>")
    with shapes.cluster.connect() as conn:
        resolved, errors = resolve(conn, loaded)
        assert not errors
        found = list(resolved.values())
        columns = read_columns(conn, [t.oid for t in found])
        catalog = read(conn, [], found, lambda: columns, server_info(conn).version_num)
        expected = dict(
            conn.execute(
                "SELECT indexrelid, pg_get_indexdef(indexrelid) FROM pg_index WHERE indrelid = ANY (%s)",
                ([t.oid for t in found],),
            ).fetchall()
        )
    got = {index.oid: index.definition for by_name in catalog.by_table.values() for index in by_name.values()}
    assert got == expected
    # Sharing happened where it may (else this test would prove nothing): one shape is one text
    # object, whatever the table, and whatever the layout of the CREATE INDEX that made it.
    shape = {index.name: index.shape for by_name in catalog.by_table.values() for index in by_name.values()}
    assert shape["ix_shapes_a_x"] is shape["ix_shapes_b_x"]
    assert shape["ix_shapes_a_x"] is not shape["ix_shapes_f_x"]  # a dropped column shifted attnums: own shape
    assert shape["ix_shapes_a_lower"] is shape["ix_shapes_a_lower_spaced"]
    assert shape["ix_shapes_a_partial0"] != shape["ix_shapes_a_partial1"]


def test_a_clean_plan_never_builds_positions_and_an_error_still_has_one(
    shapes: Server, write_profile: Callable[..., Path]
) -> None:
    """Positions take a second pass over the profile: only an error may ask for it."""
    text = (
        "name: clean\nsettings: {work_mem: 8MB}\ntables:\n"
        "  shapes.a:\n    storage: {fillfactor: 90}\n    indexes:\n"
        "      ix_shapes_a_x: {columns: [x]}\n      ix_shapes_a_lower: {columns: ['(lower(y))']}\n"
        "  shapes.p:\n    partitioning: {strategy: range, key: z, interval: 1 month, premake: 0, start: '2026-01-01'}\n"
    )
    with shapes.cluster.connect() as conn:
        loaded = load_profile(write_profile(text))
        build_plan(conn, loaded, "2026-01-15")
        assert not loaded.index.built
        broken = load_profile(write_profile(text.replace("columns: [x]", "columns: [nope]"), name="broken.yaml"))
        with pytest.raises(ProfileError) as excinfo:
            build_plan(conn, broken, "2026-01-15")
    assert str(excinfo.value).startswith(f"{broken.path}:7:22: index 'ix_shapes_a_x': table shapes.a has no column")
