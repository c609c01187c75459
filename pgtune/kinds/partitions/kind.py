"""The partition kind as the engine runs it (desired, read, diff, export, adopt), and how a live
partitioned table is adopted into a profile (its interval and naming recognised)."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from typing import Any

from pgtune.base.errors import ProfileError, raise_if_any
from pgtune.kinds import Adoption, DiffEnv, ExportOptions, KindResult, PlanContext
from pgtune.kinds.early import Read
from pgtune.kinds.partitioning import default_naming, parse_interval, partition_name
from pgtune.kinds.partitions.diff import ServerFacts, diff
from pgtune.kinds.partitions.model import (
    KIND,
    Child,
    Layout,
    PartitionLive,
    Wanted,
    _declared,
    _validate,
    display,
    int_ranges,
    layouts_read,
    read_layouts,
    time_ranges,
)
from pgtune.kinds.storage import creation_options
from pgtune.kinds.tables import Table
from pgtune.plan.model import Change
from pgtune.profile.loader import LoadedProfile


class PartitionKind:
    name = KIND
    runs_on = "primary"  # tables live in the replicated catalog

    def desired(self, ctx: PlanContext) -> Wanted | None:
        declared, errors = _declared(ctx)
        if not declared:
            raise_if_any(errors)
            return None
        return Wanted(
            declared,
            errors,
            {d.key: creation_options(ctx, d.key) for d in declared},
            ctx.tables.values(),
            ctx.loaded.location,
        )

    def early(self, ctx: PlanContext) -> list[Read]:
        """The layouts of the tables declaring partitioning, known once the tables are resolved: sent
        with the other kinds' reads, before this kind's turn (a declaration refused on the way is left
        out of `read`'s, which is then sent again: the rows always match what the kind asks)."""
        tables = [t for key, t in ctx.tables.items() if ctx.loaded.profile.tables[key].partitioning is not None]
        return [layouts_read(tables, ctx.server.version_num), ctx.columns_read()] if tables else []

    def read(self, ctx: PlanContext, wants: Wanted) -> PartitionLive:
        layouts = read_layouts(ctx.conn, [d.table for d in wants.declared], ctx.server.version_num, ctx.fetch)
        errors = list(wants.errors)
        valid = []
        for d in wants.declared:
            problem = _validate(d, layouts.get(d.table.oid))
            if problem:
                errors.append(ProfileError(d.location, problem))
            else:
                valid.append(d)
        raise_if_any(errors)
        t_ranges, t_cutoffs, _now = time_ranges(ctx.conn, valid, layouts, ctx.as_of)
        i_ranges, i_cutoffs = int_ranges(ctx.conn, valid)
        return PartitionLive(
            valid, layouts, t_ranges | i_ranges, t_cutoffs | i_cutoffs, ctx.columns(), ServerFacts(ctx.conn)
        )

    def diff(self, wants: Wanted, live: PartitionLive, env: DiffEnv) -> KindResult:
        return diff(wants, live, env)

    def export(self, ctx: PlanContext, options: ExportOptions) -> dict[str, Any]:
        partitioned = [t for t in ctx.tables.values() if t.partitioned]
        if not partitioned:
            return {}
        layouts = read_layouts(ctx.conn, partitioned, ctx.server.version_num)
        out: dict[str, Any] = {}
        for table in partitioned:
            layout = layouts.get(table.oid)
            spec = None if layout is None else _export_one(table, layout, options.now, options.warnings)
            if spec:
                out[table.qualified] = {"partitioning": spec}
        return {"tables": out} if out else {}

    def adopt(self, change: Change, loaded: LoadedProfile) -> Adoption:
        return {}, "partition changes are not pulled into a profile"


resource = PartitionKind()


NAMING_CANDIDATES = (
    "{table}_{year}_{month}",
    "{table}_{year}{month}",
    "{table}_y{year}m{month}",
    "{table}_p{year}{month}",
    "{table}_{year}_{month}_{day}",
    "{table}_p{year}{month}{day}",
    "{table}_{year}{month}{day}",
    "{table}_{year}",
    "{table}_{lower}",
)
"""Naming schemes tried when pgtune's (pg_partman 4.x) default does not reproduce the names."""


TIME_INTERVALS = ("1 hour", "1 day", "1 week", "1 month", "3 months", "1 year")


def _month_add(value: date, months: int) -> date:
    month = value.month - 1 + months
    return value.replace(year=value.year + month // 12, month=month % 12 + 1)


def _fits(interval: str, lower: Any, upper: Any) -> bool:
    if not isinstance(lower, date) or not isinstance(upper, date):
        return False
    if interval in ("1 hour", "1 day", "1 week"):
        step = {"1 hour": timedelta(hours=1), "1 day": timedelta(days=1), "1 week": timedelta(weeks=1)}[interval]
        if isinstance(lower, datetime):
            return upper - lower == step
        return interval != "1 hour" and upper - lower == step
    if lower.day != 1 or (isinstance(lower, datetime) and (lower.hour, lower.minute) != (0, 0)):
        return False
    months = {"1 month": 1, "3 months": 3, "1 year": 12}[interval]
    return _month_add(lower, months) == upper


def _export_one(table: Table, layout: Layout, now: datetime, warnings: list[str]) -> dict[str, Any] | None:
    """A partitioned table's layout as a declaration: interval, start, premake and naming inferred."""
    where = table.qualified
    if layout.key_count != 1 or layout.key_is_expression or layout.strategy not in ("range", "list"):
        warnings.append(f"{where}: {layout.strategy} partitioning on this key is not something pgtune manages")
        return None
    spec: dict[str, Any] = {"strategy": layout.strategy, "key": layout.key_column}
    if layout.strategy == "list":
        lists = [c for c in layout.children if c.kind == "list"]
        spec["partitions"] = {c.name: sorted(c.values) for c in sorted(lists, key=lambda c: c.name)}
    else:
        ranges = sorted((c for c in layout.children if c.kind == "range"), key=lambda c: c.lower)  # type: ignore[arg-type, return-value]
        if not ranges:
            warnings.append(f"{where}: no range partitions to infer an interval from; partitioning not adopted")
            return None
        interval = _interval(ranges)
        if interval is None:
            warnings.append(f"{where}: its partitions do not share one supported interval; partitioning not adopted")
            return None
        spec["interval"] = interval
        step = parse_interval(interval)
        current = now.date() if layout.key_type == "date" else now
        if isinstance(ranges[0].lower, int):
            spec["start"] = str(ranges[0].lower)
            spec["premake"] = 0
        else:
            if layout.key_type == "timestamp without time zone":
                current = now.replace(tzinfo=None)
            spec["start"] = display(ranges[0].lower)
            ahead = [c for c in ranges if c.lower is not None and c.lower > current]  # type: ignore[operator]
            spec["premake"] = len(ahead)
        naming = _naming(table.name, ranges, default_naming(step))
        if naming is None:
            warnings.append(f"{where}: partition names follow no known scheme; new ones get pgtune's default names")
        elif naming != default_naming(step):
            spec["naming"] = naming
    if layout.default is not None:
        spec["default_partition"] = True
    return spec


def _interval(ranges: list[Child]) -> str | None:
    if all(isinstance(c.lower, int) and isinstance(c.upper, int) for c in ranges):
        widths = {c.upper - c.lower for c in ranges}  # type: ignore[operator]
        return str(widths.pop()) if len(widths) == 1 else None
    for interval in TIME_INTERVALS:
        if all(_fits(interval, c.lower, c.upper) for c in ranges):
            return interval
    return None


def _naming(table: str, ranges: list[Child], default: str) -> str | None:
    for template in (default, *NAMING_CANDIDATES):
        try:
            if all(partition_name(template, table, c.lower) == c.name for c in ranges):  # type: ignore[arg-type]
                return template
        except (KeyError, ValueError):
            continue
    return None
