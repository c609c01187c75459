"""Metric names of the health checks: one place for the names the OpenMetrics exporter
(pgtune.render.metrics) prints and the alert rules (pgtune.checks.alerts) select. Prometheus's
conventions: a `pgtune_` prefix, base units in the name (`_seconds`, `_bytes`, `_ratio` for 0..1)."""

from __future__ import annotations

UNITS = {"ratio": "_ratio", "duration": "_seconds", "size": "_bytes", "rate": "_per_second", "count": ""}


def metric_name(check: str, unit: str) -> str:
    """`pgtune_` + the check + its unit suffix, once (cache_hit_ratio stays cache_hit_ratio)."""
    suffix = UNITS.get(unit, "")
    base = f"pgtune_{check}"
    return base if not suffix or base.endswith(suffix) else base + suffix


def units_of() -> dict[str, str]:
    """Each check's unit, from its definition."""
    from pgtune.checks.health import DEFINITIONS

    return {name: d.unit for name, d in DEFINITIONS.items()}
