"""Every hazard code pgtune can attach to a change, in one table.

`gated` hazards make `apply` refuse unless the user passes `--allow-hazards CODE`; the others are
shown in plans as warnings for reviewers. The README's hazard table is generated from this.
"""

from __future__ import annotations

from dataclasses import dataclass

from pgtune.plan.model import Hazard, Plan


@dataclass(frozen=True)
class HazardKind:
    code: str
    gated: bool
    meaning: str


HAZARDS: dict[str, HazardKind] = {
    h.code: h
    for h in (
        HazardKind(
            "STARTUP_RISK",
            False,
            "A library list (shared_preload_libraries ...) takes effect at the next restart (or new session): "
            "pgtune checked that each library is installed, but not that it starts cleanly with this server.",
        ),
        HazardKind(
            "UNVERIFIED_LIBRARY",
            True,
            "A preload library pgtune could not look for (the role may not read the server's files) and the "
            "server does not run now: if it is not installed, the next restart (or every new session) fails.",
        ),
        HazardKind(
            "ACQUIRES_ACCESS_EXCLUSIVE_LOCK",
            False,
            "Takes an ACCESS EXCLUSIVE lock on the table: reads and writes wait while it runs "
            "(bounded by lock_timeout while it waits for the lock).",
        ),
        HazardKind(
            "LOCKS_OTHER_TABLES",
            False,
            "Also locks tables the profile does not mention (the other end of a foreign key): writers to them "
            "queue behind pgtune while it waits for its lock, at most lock_timeout per attempt.",
        ),
        HazardKind(
            "INDEX_BUILD",
            False,
            "Builds an index with CREATE INDEX CONCURRENTLY: no write is blocked, but the build costs CPU "
            "and I/O for as long as it scans the table, and waits for running transactions to finish.",
        ),
        HazardKind(
            "RESTARTS_NOW",
            True,
            "The service restarts the instance as soon as the change is sent (Cloud SQL: a flag that requires a "
            "restart, in the one patch that carries every flag): connections drop, without a window of your own.",
        ),
        HazardKind(
            "INDEX_DROPPED",
            False,
            "Drops an index (or replaces its definition): queries that used it may get slower.",
        ),
        HazardKind(
            "INVALID_INDEX",
            False,
            "The index exists but is INVALID (e.g. left by an interrupted concurrent build): queries "
            "cannot use it and it still slows writes; it is dropped and built again.",
        ),
        HazardKind(
            "UNIQUE_INDEX",
            False,
            "A UNIQUE index: the build fails if the table holds duplicates, leaving an invalid index "
            "that the next plan replaces.",
        ),
        HazardKind(
            "DATA_MOVE",
            True,
            "Moves rows between partitions (out of the default partition) inside one transaction: the rows are "
            "locked while it runs.",
        ),
        HazardKind(
            "HIDES_DATA",
            True,
            "Detaches a partition that holds rows (retention): queries on the parent no longer see them. The "
            "table is kept, and a later plan that wants its range back attaches it again.",
        ),
        HazardKind(
            "DELETES_DATA",
            True,
            "Drops a table (a retired partition) and every row in it.",
        ),
        HazardKind(
            "NOT_PERSISTED",
            False,
            "Changes PgBouncer with SET only (no pool.pgbouncer.config_file): the next RELOAD or restart "
            "of PgBouncer reverts it to what pgbouncer.ini says.",
        ),
        HazardKind(
            "UNVERIFIED_SETTING",
            False,
            "A dotted custom setting the server does not know yet (its extension is not loaded): "
            "its value cannot be checked before it is written.",
        ),
    )
}


def hazard(code: str, message: str | None = None) -> Hazard:
    """A Hazard for a registered code; the registry's meaning is the default message."""
    return Hazard(code, message or HAZARDS[code].meaning)


def gated_codes(plan: Plan) -> list[str]:
    """The gated hazard codes a plan carries, sorted: what `apply --allow-hazards` must name."""
    return sorted({h.code for c in plan.changes for h in c.hazards if h.code in HAZARDS and HAZARDS[h.code].gated})
