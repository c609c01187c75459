"""The workload impact's pure parts: which of a plan's changes a session models (and why not the
others), PostgreSQL's setting precedence per statement, plans compared (shape, movement, verdict),
and the rendering of statement texts that are the workload's own — untrusted."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from pgtune.advice.impact.changes import Meta, SessionSetting, classify, resolve
from pgtune.advice.impact.model import Impact, StatementImpact
from pgtune.advice.impact.plans import MAX_NODES, Shape, movement, shape, verdict
from pgtune.plan.model import Address, Change
from pgtune.render.impact import render_impact_markdown, render_impact_text

META = {
    "random_page_cost": Meta("user", "Query Tuning / Planner Cost Constants"),
    "work_mem": Meta("user", "Resource Usage / Memory"),
    "shared_buffers": Meta("postmaster", "Resource Usage / Memory"),
    "statement_timeout": Meta("user", "Client Connection Defaults / Statement Behavior"),
    "default_statistics_target": Meta("user", "Query Tuning / Other Planner Options"),
    "enable_hashjoin": Meta("user", "Query Tuning / Planner Method Configuration"),
    "plan_cache_mode": Meta("user", "Query Tuning / Other Planner Options"),
}


def _setting(name: str, after: str | None, scope: str | None = None, target: str | None = None) -> Change:
    action = "update" if after is not None else "delete"
    return Change(Address("setting", name, scope=scope, target=target), action, "x", after, ())


def test_what_a_session_models_and_why_not_the_rest() -> None:
    changes = [
        _setting("random_page_cost", "1.1"),
        _setting("work_mem", "64MB", "role", "report"),
        _setting("shared_buffers", "4GB"),
        _setting("statement_timeout", "30s"),
        _setting("default_statistics_target", "500"),
        _setting("enable_hashjoin", "off", "database", "elsewhere"),
        _setting("no_such_setting", "1"),
        _setting("plan_cache_mode", "force_custom_plan"),
        Change(Address("storage", "t", "public"), "update", None, None, ()),
        Change(Address("index", "ix", "public"), "create", None, "CREATE INDEX ix ON public.t USING btree (a)", ()),
        Change(Address("index", "old", "public"), "delete", "CREATE INDEX old ON public.t (b)", None, ()),
    ]
    model = classify(changes, META, "app", can_hide=False)
    assert [(s.name, s.value, s.scope, s.target) for s in model.settings] == [
        ("random_page_cost", "1.1", None, None),
        ("work_mem", "64MB", "role", "report"),
    ]
    assert [h.name for h in model.create] == ["ix"] and model.hide == []
    reasons = {n.change: n.reason for n in model.not_modelled}
    assert "postmaster" in reasons["shared_buffers"]
    assert reasons["statement_timeout"] == "does not enter planning"
    assert "ANALYZE" in reasons["default_statistics_target"]
    assert "elsewhere" in reasons["database:elsewhere/enable_hashjoin"]
    assert "not a setting" in reasons["no_such_setting"]
    assert "generic" in reasons["plan_cache_mode"]
    assert "storage" in reasons["public.t"] and "HypoPG 1.4" in reasons["public.old"]
    assert classify(changes, META, "app", can_hide=True).hide == [("public", "old")]


def test_precedence_role_in_database_then_role_then_database_then_server() -> None:
    server = [SessionSetting("work_mem", "64MB", None)]
    assert resolve("app", "db", {}, server) == {"work_mem": "64MB"}
    # A role with its own value keeps it: the server-wide change does not reach its statements.
    assert resolve("app", "db", {("app", None, "work_mem"): "8MB"}, server) == {}
    assert resolve("app", "db", {(None, "db", "work_mem"): "8MB"}, server) == {}
    # The role's level removed: the database's level applies, then the server's.
    drop = [SessionSetting("work_mem", None, "role", "app")]
    live = {("app", None, "work_mem"): "8MB", (None, "db", "work_mem"): "16MB"}
    assert resolve("app", "db", live, drop) == {"work_mem": "16MB"}
    assert resolve("app", "db", {("app", None, "work_mem"): "8MB"}, drop) == {"work_mem": None}
    # A role's setting reaches that role only; role-in-database beats it.
    mine = [SessionSetting("enable_hashjoin", "off", "role", "report")]
    assert resolve("report", "db", {}, mine) == {"enable_hashjoin": "off"}
    assert resolve("app", "db", {}, mine) == {}
    assert resolve("report", "db", {("report", "db", "enable_hashjoin"): "on"}, mine) == {}


def _plan(*nodes: dict, cost: float = 100.0) -> dict:
    return {"Node Type": "Aggregate", "Strategy": "Hashed", "Total Cost": cost, "Plans": list(nodes)}


def test_plans_compare_by_nodes_and_costs_only_when_the_model_stays() -> None:
    seq = _plan({"Node Type": "Seq Scan", "Relation Name": "t", "Schema": "public"}, cost=100.0)
    idx = _plan({"Node Type": "Index Scan", "Relation Name": "t", "Schema": "public", "Index Name": "<1>btree_t_a"})
    before, after = shape(seq), shape(idx, {"<1>btree_t_a": "ix_t_a"})
    assert before.nodes == ("HashAggregate", "Seq Scan on public.t")
    assert after.nodes[1] == "Index Scan using ix_t_a on public.t"
    assert movement(before, after) == "Seq Scan on public.t → Index Scan using ix_t_a on public.t"
    assert movement(before, before) == "same plan"
    assert verdict(before, Shape(50.0, after.nodes), True) == ("improves", -0.5)
    assert verdict(before, Shape(150.0, after.nodes), True) == ("regresses", 0.5)
    assert verdict(before, Shape(100.5, before.nodes), True)[0] == "same"
    assert verdict(before, Shape(10.0, after.nodes), False) == (None, None)


def test_a_plan_from_the_server_is_read_boundedly() -> None:
    deep: dict = {"Node Type": "Result", "Total Cost": 1.0}
    for _ in range(5000):
        deep = {"Node Type": "Materialize", "Total Cost": 1.0, "Plans": [deep]}
    assert len(shape(deep).nodes) <= MAX_NODES
    wide = {"Node Type": "Append", "Total Cost": 1.0, "Plans": [{"Node Type": "Seq Scan"}] * 10_000}
    assert len(shape(wide).nodes) == MAX_NODES
    assert shape({"Node Type": 5, "Plans": "nonsense"}).nodes == ("5",)


def _impact(text: str, role: str = "r") -> Impact:
    s = StatementImpact(1, text, role, 3, 1.0, 0.5, Shape(1, ("A",)), Shape(2, ("B",)), (), True, "regresses", 1.0)
    return Impact("db", statements=[s])


@given(st.text(max_size=300), st.text(max_size=40))
def test_statement_texts_cannot_forge_lines_or_leave_their_cell(text: str, role: str) -> None:
    plain = _impact("SELECT 1")
    assert len(render_impact_text(_impact(text, role), 0.1).splitlines()) == len(
        render_impact_text(plain, 0.1).splitlines()
    )
    markdown = render_impact_markdown(_impact(text, role), 0.1).splitlines()
    assert len(markdown) == len(render_impact_markdown(plain, 0.1).splitlines())
    row = next(line for line in markdown if line.startswith("| 50.0%"))
    assert row.replace("\\|", "").count("|") == 8  # seven cells, whatever the statement and role hold
