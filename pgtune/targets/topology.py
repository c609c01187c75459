"""Clusters: a primary with its standbys, planned as one, restarted in a safe order.

What pgtune knows about replication (verified, docs/clusters.md):
- ALTER SYSTEM writes one node's postgresql.auto.conf and is not replicated, so server-wide
  settings are compared and written on every node; per-database and per-role settings live in a
  replicated catalog, and tables, indexes and partitions are the primary's: those kinds run on the
  primary only.
- A hot standby must run `max_connections`, `max_worker_processes`, `max_wal_senders`,
  `max_prepared_transactions` and `max_locks_per_transaction` at least as high as its primary, or
  replay pauses (stale reads) and a resumed standby aborts and will not start again. So a raise is
  restarted on the standbys first, a cut on the primary first, and a plan whose restarts would
  pass through a state that breaks the rule is refused before anything runs.

Nodes are told apart by `pg_is_in_recovery()`; they are one cluster when they share the system
identifier (`pg_control_system()`) and every standby streams from a node of the set.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass

import psycopg
from psycopg.conninfo import conninfo_to_dict

from pgtune.base.poll import PollTimeout, poll
from pgtune.integrations.postgres import connect, redact, replayed
from pgtune.kinds.settings import SettingsCatalog, configured_running
from pgtune.plan.cluster import HOT_STANDBY_MINIMUMS, ClusterError, Node, Topology

TOPOLOGY_SQL = """
SELECT pg_is_in_recovery(),
       (SELECT system_identifier FROM pg_control_system()),
       current_setting('port')::int,
       inet_server_addr()::text,
       current_setting('listen_addresses'),
       (SELECT sender_host FROM pg_stat_wal_receiver),
       (SELECT sender_port FROM pg_stat_wal_receiver),
       (SELECT status FROM pg_stat_wal_receiver),
       (SELECT setting FROM pg_settings WHERE name = 'primary_conninfo'),
       pg_postmaster_start_time()::text,
       (SELECT pid FROM pg_stat_activity WHERE backend_type = 'checkpointer')
"""
"""Identity (docs/clusters.md): the system identifier, the postmaster's start time (microseconds) and
its checkpointer's pid name one running server however it is reached — a host name, an address, a
socket; the addresses a server reports depend on the spelling used to reach it, so they cannot."""


@dataclass(frozen=True)
class _Seen:
    dsn: str
    name: str
    in_recovery: bool
    system_identifier: int
    port: int
    addresses: frozenset[str]  # how others may name this node: the address reached, listen_addresses
    sender: tuple[str, int] | None
    receiver_status: str | None
    identity: tuple[int, str, int | None]  # system identifier, postmaster start, checkpointer pid


def _node_name(conn: psycopg.Connection) -> str:
    host = conn.info.host or ""
    return f"{host}:{conn.info.port}"


def _configured_sender(conninfo: str | None) -> tuple[str, int] | None:
    """Where a standby whose WAL receiver is down right now (its primary restarting, say) is set to
    stream from: host and port of primary_conninfo (which may hold a password: never shown)."""
    if not conninfo:
        return None
    try:
        parts = conninfo_to_dict(conninfo)
    except psycopg.Error:
        return None
    host = str(parts.get("host") or parts.get("hostaddr") or "").split(",")[0]
    port = str(parts.get("port") or "5432").split(",")[0]
    return (host, int(port)) if host and port.isdigit() else None


def _see(conn: psycopg.Connection, dsn: str) -> _Seen:
    row = conn.execute(TOPOLOGY_SQL).fetchone()
    assert row is not None
    in_recovery, sysid, port, server_addr, listen, sender_host, sender_port, status, conninfo, *identity = row
    started, checkpointer = identity
    addresses = {conn.info.host or "", server_addr or ""} | {a.strip() for a in (listen or "").split(",")}
    if conn.info.host in ("localhost", "127.0.0.1", "::1") or (conn.info.host or "").startswith("/"):
        addresses |= {"localhost", "127.0.0.1", "::1"}
    sender = (sender_host, int(sender_port)) if sender_host and sender_port else _configured_sender(conninfo)
    return _Seen(
        dsn,
        _node_name(conn),
        in_recovery,
        int(sysid),
        port,
        frozenset(a for a in addresses if a),
        sender,
        status,
        (int(sysid), str(started), checkpointer),
    )


def _names(seen: _Seen, sender: tuple[str, int]) -> bool:
    host, port = sender
    if port != seen.port:
        return False
    return host in seen.addresses or (host.startswith("/") and ("localhost" in seen.addresses))


def _refuse_twice(seen: list[_Seen]) -> None:
    """Two DSNs that reach one server (127.0.0.1 and localhost, a socket and an address) are one
    node: planned twice it would be written twice and listed twice in the restart order."""
    first: dict[tuple[int, str, int | None], _Seen] = {}
    problems = []
    for s in seen:
        other = first.setdefault(s.identity, s)
        if other is not s:
            problems.append(
                f"{redact(other.dsn)!r} and {redact(s.dsn)!r} reach the same server (system identifier "
                f"{s.identity[0]}, started {s.identity[1]})"
            )
    if problems:
        raise ClusterError("the same node was given twice: " + "; ".join(problems) + ": give each node once")


def discover(dsns: Sequence[str]) -> Topology:
    """Connect to every node, tell the primary from the standbys, and refuse a set of nodes that
    is not one cluster (two primaries, none, another system identifier, a standby streaming from
    outside the set, the same node twice)."""
    seen: list[_Seen] = []
    for dsn in dsns:
        try:
            with connect(dsn) as conn:
                seen.append(_see(conn, dsn))
        except psycopg.Error as exc:
            raise ClusterError(f"{redact(dsn)}: {exc}".strip()) from None
    _refuse_twice(seen)
    primaries = [s for s in seen if not s.in_recovery]
    if len(primaries) != 1:
        listed = ", ".join(s.name for s in primaries) or "none"
        raise ClusterError(
            f"a cluster has exactly one primary (a node not in recovery); among the nodes given: {listed}"
        )
    primary = primaries[0]
    strangers = [s for s in seen if s.system_identifier != primary.system_identifier]
    if strangers:
        raise ClusterError(
            "not one cluster: "
            + ", ".join(f"{s.name} has system identifier {s.system_identifier}" for s in strangers)
            + f", the primary {primary.name} {primary.system_identifier}"
        )
    nodes = [Node(primary.name, primary.dsn, "primary", primary.system_identifier)]
    for s in seen:
        if s is primary:
            continue
        if s.sender is None:
            raise ClusterError(
                f"standby {s.name} streams from nowhere (no WAL receiver, no primary_conninfo pgtune may read): "
                "fix replication, or leave it out"
            )
        upstream = next((o for o in seen if o is not s and _names(o, s.sender)), None)
        if upstream is None:
            raise ClusterError(
                f"standby {s.name} streams from {s.sender[0]}:{s.sender[1]}, which is none of the nodes given "
                f"(primary {primary.name}): give every node of one cluster"
            )
        nodes.append(
            Node(s.name, s.dsn, "standby", s.system_identifier, upstream.name, s.receiver_status == "streaming")
        )
    return Topology(tuple(nodes))


@contextmanager
def connections(topology: Topology) -> Iterator[dict[str, psycopg.Connection]]:
    with ExitStack() as stack:
        yield {n.name: stack.enter_context(connect(n.dsn)) for n in topology.nodes}


def minimum_values(catalog: SettingsCatalog) -> dict[str, tuple[int, int]]:
    """Running and configured values of the hot-standby minimums on one node, as the settings kind
    judges them (`settings.configured_running`: the last file row wins, a pending one included)."""
    out = {}
    for name in HOT_STANDBY_MINIMUMS:
        spec = catalog.specs.get(name)
        if spec is None:
            continue
        configured, running = configured_running(spec, catalog, name)
        if isinstance(running, int):
            out[name] = (running, configured if isinstance(configured, int) else running)
    return out


def caught_up(topology: Topology) -> bool:
    """Every standby streams and has replayed all the primary had written when asked."""
    return replayed(topology.primary.dsn, [node.dsn for node in topology.standbys])


def wait_replicated(dsns: Sequence[str], timeout: float = 120) -> Topology:
    """After a restart: wait (bounded, polling) until the nodes are one cluster again with every
    standby streaming and caught up — what must hold before the next node restarts."""

    def settled() -> Topology:
        topology = discover(dsns)
        if not caught_up(topology):
            raise ClusterError("a standby is not streaming or has not caught up")
        return topology

    try:
        return poll(settled, timeout, tolerate=(ClusterError, psycopg.Error))
    except PollTimeout as exc:
        raise ClusterError(f"the cluster did not settle within {timeout:g}s: {exc.last or 'not checked'}") from None
