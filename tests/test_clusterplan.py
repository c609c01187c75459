"""The restart-order rules, as data: which order each plan gets, and which plans are refused."""

from __future__ import annotations

import pytest

from pgtune.plan.cluster import ClusterError, Node, Topology, check_running, restart_order

TOPOLOGY = Topology(
    (
        Node("p:5432", "", "primary", 1),
        Node("s1:5432", "", "standby", 1, "p:5432", True),
        Node("s2:5432", "", "standby", 1, "p:5432", False),
    )
)
ALL = {"p:5432", "s1:5432", "s2:5432"}


def _values(primary: tuple[int, int], *standbys: tuple[int, int], name: str = "max_connections") -> dict:
    out = {"p:5432": {name: primary}}
    for node, value in zip(("s1:5432", "s2:5432"), standbys, strict=True):
        out[node] = {name: value}
    return out


CASES = [
    ("raise: standbys first", _values((100, 150), (100, 150), (100, 150)), ALL, ["s1:5432", "s2:5432", "p:5432"]),
    ("cut: the primary first", _values((150, 100), (150, 100), (150, 100)), ALL, ["p:5432", "s1:5432", "s2:5432"]),
    (
        "no minimum changes: the primary last",
        _values((100, 100), (100, 100), (100, 100)),
        ALL,
        ["s1:5432", "s2:5432", "p:5432"],
    ),
    ("only the standbys pending", _values((100, 100), (80, 100), (100, 100)), {"s1:5432"}, ["s1:5432"]),
    ("nothing pending", _values((100, 150), (100, 150), (100, 150)), set(), []),
]


@pytest.mark.parametrize(("values", "pending", "order"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_restart_order(values: dict, pending: set[str], order: list[str]) -> None:
    steps, reason = restart_order(TOPOLOGY, values, pending)
    assert [s.node for s in steps] == order
    assert bool(reason) == bool(order)


def test_a_raise_and_a_cut_together_are_refused() -> None:
    values = {
        node: {"max_connections": (100, 150), "max_locks_per_transaction": (64, 32)}
        for node in ("p:5432", "s1:5432", "s2:5432")
    }
    with pytest.raises(ClusterError, match="raises max_connections and cuts max_locks_per_transaction"):
        restart_order(TOPOLOGY, values, ALL)


def test_a_standby_left_lower_than_its_primary_is_refused() -> None:
    # s2 cannot follow (its value does not move: set on its command line, say): the end state breaks the rule.
    values = _values((100, 150), (100, 150), (100, 100))
    with pytest.raises(ClusterError, match="s2:5432 max_connections 100 < primary 150"):
        restart_order(TOPOLOGY, values, ALL)


def test_running_state_and_streaming_are_checked() -> None:
    checks = {c.code: c for c in check_running(TOPOLOGY, _values((150, 150), (100, 150), (150, 150)))}
    assert checks["HOT_STANDBY_MINIMUMS"].status == "warn"
    assert "s1:5432 max_connections 100 < primary 150" in checks["HOT_STANDBY_MINIMUMS"].message
    assert checks["STANDBY_STREAMING"].message.endswith("s2:5432")
    fine = {c.code: c.status for c in check_running(TOPOLOGY, _values((100, 100), (100, 100), (100, 100)))}
    assert fine["HOT_STANDBY_MINIMUMS"] == "ok"


def test_a_cascade_restarts_hop_by_hop() -> None:
    # s2 streams from s1, which streams from the primary: a raise goes s2, s1, p; a cut p, s1, s2.
    cascade = Topology(
        (
            Node("p:5432", "", "primary", 1),
            Node("s2:5432", "", "standby", 1, "s1:5432", True),
            Node("s1:5432", "", "standby", 1, "p:5432", True),
        )
    )
    raise_ = {n: {"max_connections": (100, 150)} for n in ("p:5432", "s1:5432", "s2:5432")}
    steps, _ = restart_order(cascade, raise_, ALL)
    assert [s.node for s in steps] == ["s2:5432", "s1:5432", "p:5432"]
    cut = {n: {"max_connections": (150, 100)} for n in ("p:5432", "s1:5432", "s2:5432")}
    steps, _ = restart_order(cascade, cut, ALL)
    assert [s.node for s in steps] == ["p:5432", "s1:5432", "s2:5432"]
