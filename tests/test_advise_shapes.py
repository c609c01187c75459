"""`advise` finds the index each SQL shape needs, from what the planner resolved (issue 40): one
test per shape — unqualified columns among several tables, joins in WHERE and in ON, correlated
and uncorrelated subqueries (scalar, IN, EXISTS), a derived table, a CTE, a recursive CTE, a view,
LATERAL, UNION, a partitioned table (the index goes on the parent) — and statements the server
cannot plan as pg_stat_statements printed them are retyped and costed, or listed with the reason.
PostgreSQL 15 with pg_stat_statements and HypoPG; each test in a database made from one template."""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest

from pgtune.advice import Options, Report, advise
from pgtune.integrations.sandbox import LocalCluster
from pgtune.profile.loader import load_profile

TEMPLATE = "pgtune_test_shapes_tpl"
SCHEMA = """
CREATE EXTENSION pg_stat_statements;
CREATE EXTENSION hypopg;
CREATE TABLE orders (id int PRIMARY KEY, customer_id int, created date, status text);
CREATE TABLE products (id int PRIMARY KEY, name text, category int);
CREATE TABLE items (id int PRIMARY KEY, order_id int, product_id int, qty int);
CREATE TABLE cats (id int PRIMARY KEY, parent int);
CREATE TABLE events (id int, at date, kind int) PARTITION BY RANGE (at);
CREATE TABLE events_1 PARTITION OF events FOR VALUES FROM ('2026-01-01') TO ('2026-05-01');
CREATE TABLE events_2 PARTITION OF events FOR VALUES FROM ('2026-05-01') TO ('2026-09-01');
CREATE TABLE events_3 PARTITION OF events FOR VALUES FROM ('2026-09-01') TO ('2027-01-01');
INSERT INTO orders SELECT g, g % 3000, date '2026-01-01' + g % 365, 'open' FROM generate_series(1, 30000) g;
INSERT INTO products SELECT g, 'p' || g, g % 100 FROM generate_series(1, 5000) g;
INSERT INTO items SELECT g, 1 + g % 30000, 1 + g % 5000, g % 10 FROM generate_series(1, 120000) g;
INSERT INTO cats SELECT g, CASE WHEN g > 1 THEN g / 2 END FROM generate_series(1, 20000) g;
INSERT INTO events SELECT g, date '2026-01-01' + g % 365, g % 500 FROM generate_series(1, 60000) g;
CREATE VIEW big_items AS SELECT * FROM items WHERE qty > 5;
"""
counter = itertools.count()


@pytest.fixture(scope="module")
def template(workload15: LocalCluster) -> Iterator[LocalCluster]:
    with workload15.connect() as conn:
        conn.execute(f"DROP DATABASE IF EXISTS {TEMPLATE}".encode())
        conn.execute(f"CREATE DATABASE {TEMPLATE}".encode())
    with psycopg.connect(workload15.dsn(TEMPLATE), autocommit=True) as conn:
        conn.execute(SCHEMA.encode())
        conn.execute("VACUUM ANALYZE")
    yield workload15
    with workload15.connect() as conn:
        conn.execute(f"DROP DATABASE IF EXISTS {TEMPLATE}".encode())


def _advised(
    cluster: LocalCluster, tmp_path: Path, *statements: tuple[str, tuple[object, ...]], setup: str = "", after: str = ""
) -> Report:
    """A database from the template, the statements run 20 times each, then advise."""
    db = f"pgtune_test_shape_{next(counter)}"
    with cluster.connect() as conn:
        conn.execute(f"DROP DATABASE IF EXISTS {db}".encode())
        conn.execute(f"CREATE DATABASE {db} TEMPLATE {TEMPLATE}".encode())
    try:
        with psycopg.connect(cluster.dsn(db), autocommit=True) as conn:
            if setup:
                conn.execute(setup.encode())
            conn.execute("SELECT pg_stat_statements_reset()")
            for round_ in range(20):
                for text, params in statements:
                    conn.execute(text.encode(), [p if p is not None else round_ for p in params]).fetchall()
            if after:
                conn.execute(after.encode())
        profile = tmp_path / "p.yaml"
        profile.write_text("name: shapes\n")
        with psycopg.connect(cluster.dsn(db), autocommit=True) as conn:
            return advise(conn, load_profile(profile), Options(min_saving=0))
    finally:
        with cluster.connect() as conn:
            conn.execute(f"DROP DATABASE IF EXISTS {db} WITH (FORCE)".encode())


def _indexes(report: Report) -> set[tuple[str, tuple[str, ...]]]:
    return {(a.object, a.columns) for a in report.advice if a.kind == "index"}


def _leads(report: Report, table: str, *columns: str) -> bool:
    return any(obj == table and cols[: len(columns)] == columns for obj, cols in _indexes(report))


SHAPES: dict[str, tuple[str, tuple[object, ...], str, tuple[str, ...]]] = {
    # shape: (statement, parameters (None: the round), table, leading columns of the index it needs)
    "unqualified columns among several tables": (
        "SELECT qty FROM orders, items WHERE order_id = orders.id AND product_id = %s",
        (None,),
        "public.items",
        ("product_id",),
    ),
    "a join written in WHERE": (
        "SELECT o.created, i.qty FROM orders o, items i WHERE i.order_id = o.id AND o.id = %s",
        (None,),
        "public.items",
        ("order_id",),
    ),
    "a join written in ON": (
        "SELECT i.qty FROM orders o JOIN items i ON i.order_id = o.id WHERE o.customer_id = %s",
        (None,),
        "public.orders",
        ("customer_id",),
    ),
    "a correlated scalar subquery": (
        "SELECT o.id FROM orders o WHERE o.customer_id = %s "
        "AND (SELECT sum(qty) FROM items i WHERE i.order_id = o.id) > %s",
        (None, 3),
        "public.items",
        ("order_id",),
    ),
    "an uncorrelated IN subquery": (
        "SELECT * FROM orders WHERE id IN (SELECT order_id FROM items WHERE product_id = %s)",
        (None,),
        "public.items",
        ("product_id",),
    ),
    "EXISTS": (
        "SELECT p.name FROM products p WHERE p.id = %s AND EXISTS (SELECT 1 FROM items i WHERE i.product_id = p.id)",
        (None,),
        "public.items",
        ("product_id",),
    ),
    "a derived table": (
        "SELECT t.total FROM (SELECT order_id, sum(qty) AS total FROM items WHERE product_id = %s GROUP BY order_id) t",
        (None,),
        "public.items",
        ("product_id",),
    ),
    "a CTE": (
        "WITH mine AS MATERIALIZED (SELECT id FROM orders WHERE customer_id = %s) SELECT count(*) FROM mine",
        (None,),
        "public.orders",
        ("customer_id",),
    ),
    "a recursive CTE": (
        "WITH RECURSIVE t AS (SELECT id FROM cats WHERE id = %s UNION ALL "
        "SELECT c.id FROM cats c JOIN t ON c.parent = t.id) SELECT count(*) FROM t",
        (None,),
        "public.cats",
        ("parent",),
    ),
    "a view": ("SELECT id FROM big_items WHERE product_id = %s", (None,), "public.items", ("product_id",)),
    "LATERAL": (
        "SELECT o.id, x.qty FROM orders o, LATERAL (SELECT qty FROM items i WHERE i.order_id = o.id "
        "ORDER BY qty DESC LIMIT 1) x WHERE o.id = %s",
        (None,),
        "public.items",
        ("order_id",),
    ),
    "UNION": (
        "SELECT id FROM orders WHERE customer_id = %s UNION SELECT order_id FROM items WHERE product_id = %s",
        (None, None),
        "public.items",
        ("product_id",),
    ),
    "a partitioned table": (
        "SELECT count(*) FROM events WHERE kind = %s AND at > %s",
        (None, "2026-03-01"),
        "public.events",
        ("kind",),
    ),
}


@pytest.mark.parametrize("shape", list(SHAPES))
def test_each_shape_gets_the_index_it_needs(template: LocalCluster, tmp_path: Path, shape: str) -> None:
    statement, params, table, leading = SHAPES[shape]
    report = _advised(template, tmp_path, (statement, params))
    assert _leads(report, table, *leading), (shape, _indexes(report), report.notes)
    assert report.coverage is not None and report.coverage.planned == report.coverage.workload == 1, report.notes


def test_union_serves_both_branches(template: LocalCluster, tmp_path: Path) -> None:
    statement, params, _table, _leading = SHAPES["UNION"]
    report = _advised(template, tmp_path, (statement, params))
    assert _leads(report, "public.orders", "customer_id") and _leads(report, "public.items", "product_id")


def test_a_statement_the_server_cannot_type_as_printed_is_retyped_and_costed(
    template: LocalCluster, tmp_path: Path
) -> None:
    """`$1 + $2` (unknown + unknown) fails PREPARE as pg_stat_statements prints it; typed from its
    context (numeric), it is planned and its index advised."""
    report = _advised(
        template, tmp_path, ("SELECT id FROM items WHERE qty < %s + %s AND product_id = %s", (1, 2, None))
    )
    assert report.coverage is not None and report.coverage.planned == 1, report.notes
    assert _leads(report, "public.items", "product_id"), _indexes(report)


def test_a_statement_that_cannot_be_planned_is_listed_with_the_reason(template: LocalCluster, tmp_path: Path) -> None:
    """The table changed since the statement ran: it cannot be planned, and the output says why."""
    report = _advised(
        template,
        tmp_path,
        ("SELECT qty FROM items WHERE product_id = %s", (None,)),
        ("SELECT id FROM orders WHERE customer_id = %s", (None,)),
        after="ALTER TABLE items RENAME COLUMN qty TO quantity",
    )
    assert report.coverage is not None and report.coverage.workload == 2 and report.coverage.planned == 1
    (entry,) = report.coverage.not_planned
    assert entry["reason"] == "error" and 'column "qty" does not exist' in entry["detail"], entry
    assert any("not planned: 1 statements could not be planned" in n for n in report.notes), report.notes
