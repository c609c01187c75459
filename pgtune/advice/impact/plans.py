"""Query plans compared (pure): what a plan is made of, whether two plans differ, and the verdict
when their costs may be compared at all.

A cost is a number in the planner's cost model: when a change moves the model itself (a page or
CPU cost constant, `effective_cache_size`, the parallel costs), a plan's cost before and after are
in different units, so only *what* changed is reported — node types, indexes, join methods — never
better or worse. Where the model stays (an index, `work_mem`, `enable_*`, `jit`), costs compare."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

COST_MODEL = frozenset(
    {
        "seq_page_cost",
        "random_page_cost",
        "cpu_tuple_cost",
        "cpu_index_tuple_cost",
        "cpu_operator_cost",
        "effective_cache_size",
        "parallel_setup_cost",
        "parallel_tuple_cost",
    }
)
"""Settings that change what a unit of cost means: costs before and after do not compare."""
SAME_WITHIN = 0.01
"""A cost that moves by less than this fraction is the same."""
MAX_NODES = 200
"""Nodes read from one plan: a plan is an answer from the server, bounded like every other."""
MAX_DEPTH = 100

IMPROVES, REGRESSES, SAME = "improves", "regresses", "same"


@dataclass(frozen=True)
class Shape:
    """One plan as compared: its total cost and its nodes in plan order, each a short description."""

    cost: float
    nodes: tuple[str, ...]

    def text(self) -> str:
        return " > ".join(self.nodes)

    def to_dict(self) -> dict[str, Any]:
        return {"cost": round(self.cost, 2), "plan": self.text()}


def shape(plan: Mapping[str, Any], names: Mapping[str, str] | None = None) -> Shape:
    """A plan's shape from EXPLAIN (FORMAT JSON)'s `Plan`; hypothetical indexes shown by the names
    the profile gives them (`names`: HypoPG's name -> declared name)."""
    nodes = [_node(n, names or {}) for n in _walk(plan)]
    return Shape(float(plan.get("Total Cost", 0.0)), tuple(nodes))


def _walk(plan: Mapping[str, Any]) -> Iterator[Mapping[str, Any]]:
    stack: list[tuple[Mapping[str, Any], int]] = [(plan, 0)]
    seen = 0
    while stack and seen < MAX_NODES:
        node, depth = stack.pop()
        seen += 1
        yield node
        children = node.get("Plans") if depth < MAX_DEPTH else None
        if isinstance(children, list):
            stack.extend((c, depth + 1) for c in reversed(children) if isinstance(c, Mapping))


def _node(node: Mapping[str, Any], names: Mapping[str, str]) -> str:
    kind = str(node.get("Node Type", "?"))
    strategy = node.get("Strategy")
    if kind == "Aggregate" and strategy in ("Hashed", "Sorted", "Mixed"):
        kind = {"Hashed": "HashAggregate", "Sorted": "GroupAggregate", "Mixed": "MixedAggregate"}[strategy]
    index = node.get("Index Name")
    if isinstance(index, str):
        kind += f" using {names.get(index, index)}"
    relation = node.get("Relation Name")
    if isinstance(relation, str):
        schema = node.get("Schema")
        kind += f" on {schema}.{relation}" if isinstance(schema, str) else f" on {relation}"
    if node.get("Disabled") is True:  # PostgreSQL 18 counts disabled nodes instead of adding a huge cost
        kind += " (disabled)"
    return kind


def changed(before: Shape, after: Shape) -> bool:
    return before.nodes != after.nodes


def movement(before: Shape, after: Shape) -> str:
    """The plan change in one line: the nodes that left, then the nodes that came."""
    if not changed(before, after):
        return "same plan"
    gone = Counter(before.nodes) - Counter(after.nodes)
    came = Counter(after.nodes) - Counter(before.nodes)
    if not gone and not came:
        return "same nodes, in another order"
    return f"{_listed(gone) or 'nothing'} → {_listed(came) or 'nothing'}"


def _listed(nodes: Counter[str]) -> str:
    return ", ".join(f"{n} (x{k})" if k > 1 else n for n, k in nodes.items())


def verdict(before: Shape, after: Shape, comparable: bool) -> tuple[str | None, float | None]:
    """(improves | regresses | same, the cost's relative change); (None, None) when the costs are
    in different units (the change moves the cost model)."""
    if not comparable:
        return None, None
    grown = after.cost - before.cost
    ratio = grown / before.cost if before.cost > 0 else (1.0 if grown > 0 else 0.0)
    if abs(ratio) < SAME_WITHIN:
        return SAME, ratio
    return (IMPROVES if ratio < 0 else REGRESSES), ratio
