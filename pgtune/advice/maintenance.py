"""Autovacuum and work_mem advice from observed rates: storage values for the write-heavy tables
whose own triggers fire too rarely, a per-role work_mem where queries spill to disk."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from pgtune.advice.catalog import Session, Statement
from pgtune.advice.model import Advice
from pgtune.base.names import qualified_text

MIN_ROWS = 10_000
"""Smaller tables are left alone: vacuuming them is cheap whenever it comes, and the default threshold
of 50 rows dominates their trigger anyway."""
MIN_CHANGES = 1_000
"""Rows written in the window below which a rate is not evidence."""
MAX_WORK_MEM_MB = 1024
BLOCK = 8192

TRIGGERS = (
    # (what, rate of, threshold setting, scale factor setting)
    ("vacuum", "dead", "autovacuum_vacuum_threshold", "autovacuum_vacuum_scale_factor"),
    ("analyze", "changed", "autovacuum_analyze_threshold", "autovacuum_analyze_scale_factor"),
    ("insert vacuum", "inserted", "autovacuum_vacuum_insert_threshold", "autovacuum_vacuum_insert_scale_factor"),
)

RATES_SQL = """
SELECT c.oid::int8, n.nspname, c.relname, greatest(c.reltuples, s.n_live_tup, 0)::float8,
       s.n_tup_ins, s.n_tup_upd, s.n_tup_del, coalesce(c.reloptions, '{}')
FROM pg_stat_user_tables s
JOIN pg_class c ON c.oid = s.relid
JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE greatest(c.reltuples, s.n_live_tup) >= %s AND c.relkind = 'r'
ORDER BY s.n_tup_ins + s.n_tup_upd + s.n_tup_del DESC
LIMIT 1000
"""


@dataclass(frozen=True)
class Rates:
    oid: int
    schema: str
    name: str
    rows: float
    inserted: int
    updated: int
    deleted: int
    reloptions: dict[str, str]

    def per_hour(self, what: str, hours: float) -> float:
        count = {"dead": self.updated + self.deleted, "changed": self.inserted + self.updated + self.deleted}.get(
            what, self.inserted
        )
        return count / hours


def read_rates(session: Session) -> dict[int, Rates]:
    out = {}
    for oid, schema, name, rows, ins, upd, dele, reloptions in session.rows(RATES_SQL, (MIN_ROWS,)):
        options = dict(item.partition("=")[::2] for item in reloptions)
        out[oid] = Rates(oid, schema, name, rows, ins, upd, dele, options)
    return out


def window_rates(before: dict[int, Rates], after: dict[int, Rates]) -> dict[int, Rates]:
    """What was written between two readings (a sampling window)."""
    out = {}
    for oid, now in after.items():
        then = before.get(oid)
        if then is None:
            continue
        out[oid] = Rates(
            oid,
            now.schema,
            now.name,
            now.rows,
            now.inserted - then.inserted,
            now.updated - then.updated,
            now.deleted - then.deleted,
            now.reloptions,
        )
    return out


def _significant(value: float) -> float:
    """Two significant digits, never below 0.001: what a DBA would write."""
    if value <= 0.001:
        return 0.001
    digits = 1 - math.floor(math.log10(value))
    return round(value, digits)


def vacuum_advice(
    rates: dict[int, Rates],
    hours: float,
    globals_: dict[str, float],
    target_hours: float,
    profile_key: Any,
    version_num: int,
) -> list[Advice]:
    out = []
    for r in rates.values():
        if r.inserted + r.updated + r.deleted < MIN_CHANGES or hours <= 0:
            continue
        values: dict[str, str] = {}
        evidence: dict[str, Any] = {"rows": round(r.rows), "hours_observed": round(hours, 3), "triggers": {}}
        for what, rate_of, threshold_name, scale_name in TRIGGERS:
            if what == "insert vacuum" and version_num < 130000:
                continue
            rate = r.per_hour(rate_of, hours)
            if rate <= 0:
                continue
            threshold = float(r.reloptions.get(threshold_name, globals_[threshold_name]))
            scale = float(r.reloptions.get(scale_name, globals_[scale_name]))
            trigger = threshold + scale * r.rows
            interval = trigger / rate
            if interval <= target_hours:
                continue
            advised = _significant(max(0.0, (rate * target_hours - threshold) / r.rows))
            if advised >= scale:
                continue
            values[scale_name] = f"{advised:g}"
            evidence["triggers"][what] = {
                f"{rate_of}_rows_per_hour": round(rate),
                "trigger_rows": round(trigger),
                "interval_hours": round(interval, 2),
                "advised_trigger_rows": round(threshold + advised * r.rows),
                "advised_interval_hours": round((threshold + advised * r.rows) / rate, 2),
            }
        if not values:
            continue
        key = profile_key(r.schema, r.name)
        qualified = qualified_text(r.schema, r.name)
        worst = max(evidence["triggers"].values(), key=lambda t: t["interval_hours"])
        out.append(
            Advice(
                "storage",
                qualified,
                f"storage of {qualified}: {', '.join(f'{k} = {v}' for k, v in values.items())} — its trigger "
                f"fires every ~{worst['interval_hours']:g} h at the observed rates; advised every "
                f"~{worst['advised_interval_hours']:g} h (target {target_hours:g} h)",
                evidence,
                tuple((("tables", key, "storage", name), float(v)) for name, v in values.items()),
                values=values,
            )
        )
    return out


def work_mem_advice(
    statements: list[Statement], current_kb: dict[str, int], connections: dict[str, int], database_temp_bytes: int
) -> list[Advice]:
    """Per role: queries that wrote temp files → a work_mem that holds the largest spill per call."""
    spills: dict[str, list[Statement]] = {}
    for s in statements:
        if s.temp_blks_written > 0 and s.calls > 0 and s.query:
            spills.setdefault(s.role, []).append(s)
    out = []
    for role, mine in sorted(spills.items()):
        per_call = max(s.temp_blks_written * BLOCK / s.calls for s in mine)
        current = current_kb.get(role, 4096) * 1024
        needed_mb = (current + per_call) / (1024 * 1024)
        advised_mb = 2 ** math.ceil(math.log2(max(needed_mb, 1)))
        if advised_mb > MAX_WORK_MEM_MB or advised_mb * 1024 * 1024 <= current:
            continue
        conns = connections.get(role, 100)
        worst = sorted(mine, key=lambda s: s.temp_blks_written, reverse=True)[:5]
        evidence = {
            "role": role,
            "current_work_mem_kb": current // 1024,
            "largest_spill_per_call_bytes": round(per_call),
            "queries": [
                {"queryid": s.queryid, "calls": s.calls, "temp_blks_written": s.temp_blks_written} for s in worst
            ],
            "database_temp_bytes": database_temp_bytes,
            "connections": conns,
            "worst_case_memory_mb": advised_mb * conns,
        }
        out.append(
            Advice(
                "setting",
                "work_mem",
                f"work_mem = {advised_mb}MB for role {role!r} (not server-wide): its queries spill up to "
                f"{per_call / 1024 / 1024:.1f} MB a call to temp files; at {conns} connections each using one "
                f"sort or hash, up to {advised_mb * conns} MB",
                evidence,
                ((("roles", role, "settings", "work_mem"), f"{advised_mb}MB"),),
                values={"work_mem": f"{advised_mb}MB", "role": role},
            )
        )
    return out
