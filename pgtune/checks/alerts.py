"""Prometheus alerting rules from a profile's `checks:` thresholds (`pgtune alerts PROFILE`).

The thresholds are the profile's — the same numbers `pgtune check` judges by — so alerts cannot
drift from the reviewed file: change a threshold there, regenerate, and the rule changes. Each check
alerts over the standard postgres_exporter's metrics where it has them (cache hit and rollback
ratios, deadlocks, connections, transaction age) and over pgtune's own metrics
(`pgtune check --format openmetrics`, e.g. through node_exporter's textfile collector) where it
does not. Severities are the check's `warn` (warning) and `critical` (critical); every rule carries
`profile` and `check` labels and a summary saying what to change in which file.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from pgtune.checks.health import DEFINITIONS, Limits, resolve_limits
from pgtune.checks.metrics import metric_name
from pgtune.profile.loader import LoadedProfile

SEVERITIES = (("warn", "warning"), ("critical", "critical"))


@dataclass(frozen=True)
class Exporter:
    """A check postgres_exporter measures: the PromQL of its value (in the check's unit)."""

    expr: str
    labels: str  # what `{{ $labels.x }}` names the object by


EXPORTER = {
    "cache_hit_ratio": Exporter(
        "sum by (instance, datname) (rate(pg_stat_database_blks_hit[5m])) / "
        "(sum by (instance, datname) (rate(pg_stat_database_blks_hit[5m])) "
        "+ sum by (instance, datname) (rate(pg_stat_database_blks_read[5m])))",
        "datname",
    ),
    "rollback_ratio": Exporter(
        "sum by (instance, datname) (rate(pg_stat_database_xact_rollback[5m])) / "
        "(sum by (instance, datname) (rate(pg_stat_database_xact_commit[5m])) "
        "+ sum by (instance, datname) (rate(pg_stat_database_xact_rollback[5m])))",
        "datname",
    ),
    "deadlocks": Exporter("sum by (instance, datname) (increase(pg_stat_database_deadlocks[5m]))", "datname"),
    "connections_used": Exporter(
        "sum by (instance) (pg_stat_activity_count) / on (instance) (max by (instance) "
        "(pg_settings_max_connections) - max by (instance) (pg_settings_superuser_reserved_connections))",
        "instance",
    ),
    "long_transactions": Exporter("max by (instance, datname) (pg_stat_activity_max_tx_duration)", "datname"),
}
"""Checks the standard postgres_exporter (0.11+, default collectors) has the metrics for."""

FOR = {
    "cache_hit_ratio": "10m",
    "table_cache_hit_ratio": "30m",
    "index_cache_hit_ratio": "30m",
    "table_bloat": "1h",
    "index_bloat": "1h",
    "dead_tuples": "30m",
    "autovacuum_recency": "1h",
    "long_transactions": "2m",
    "idle_in_transaction": "2m",
    "lock_waits": "1m",
    "deadlocks": "0m",
    "rollback_ratio": "10m",
    "connections_used": "5m",
    "connection_churn": "10m",
    "xid_age": "15m",
    "replication_lag": "5m",
    "invalid_indexes": "15m",
    "unused_indexes": "1h",
    "duplicate_indexes": "1h",
    "fk_without_index": "1h",
    "pending_restart": "1h",
    "file_settings_errors": "5m",
}
"""How long a breach must last before it pages (as the postgres mixins write them: rates over 5m
windows, 10m for ratios; structural findings an hour; a deadlock at once)."""

WORDS = {
    "ratio": lambda v: f"{v * 100:g}%",
    "duration": lambda v: f"{v:g}s",
    "count": lambda v: f"{v:g}",
    "rate": lambda v: f"{v:g} a second",
    "size": lambda v: f"{v:g} bytes",
}


def _camel(name: str, unit: str, worse: str) -> str:
    """PostgresCacheHitRatioLow, PostgresLongTransactionsHigh, PostgresDeadlocks (mixin style)."""
    words = "".join(part.capitalize() for part in name.split("_"))
    return "Postgres" + words + ({"low": "Low", "high": "High"}[worse] if unit in ("ratio", "duration") else "")


def _value_format(unit: str) -> str:
    return {"ratio": "humanizePercentage", "duration": "humanizeDuration", "size": "humanize1024"}.get(unit, "humanize")


def rules(loaded: LoadedProfile, source: str, for_override: str | None = None) -> dict[str, Any]:
    """The rules file as data (groups -> rules), thresholds from the profile (defaults where unset)."""
    limits, disabled = resolve_limits(loaded)
    profile = loaded.profile.name
    out = []
    for name, d in DEFINITIONS.items():
        if name in disabled or name == "top_queries":
            continue
        lim: Limits = limits[name]
        op = "<" if d.worse == "low" else ">="
        exporter = EXPORTER.get(name)
        value_expr = exporter.expr if exporter else metric_name(name, d.unit)
        where = (
            f"on {{{{ $labels.{exporter.labels} }}}}"
            if exporter
            else "on {{ $labels.database }}{{ with $labels.table }} ({{ . }}){{ end }}"
            "{{ with $labels.index }} ({{ . }}){{ end }}"
        )
        source_text = "postgres_exporter" if exporter else "pgtune check --format openmetrics"
        for key, severity in SEVERITIES:
            threshold = getattr(lim, key)
            if threshold is None:
                continue
            expr = f"({value_expr}) {op} {threshold:g}"
            if not exporter:
                expr = f"{value_expr} {op} {threshold:g}"
            shown = WORDS[d.unit](threshold)
            out.append(
                {
                    "alert": _camel(name, d.unit, d.worse),
                    "expr": expr,
                    "for": for_override or FOR.get(name, "5m"),
                    "labels": {"severity": severity, "profile": profile, "check": name},
                    "annotations": {
                        "summary": f"{d.doc}: {{{{ $value | {_value_format(d.unit)} }}}} {where} "
                        f"({'below' if d.worse == 'low' else 'at or above'} {shown})",
                        "description": f"Threshold checks.{name}.{key} = {shown} from profile {profile!r} "
                        f"({source}); measured by {source_text}. To change when this fires, change the "
                        f"profile and regenerate with `pgtune alerts` — never this file.",
                    },
                }
            )
    return {"groups": [{"name": f"pgtune-{profile}", "rules": out}]}


def render(loaded: LoadedProfile, source: str, for_override: str | None = None) -> str:
    """The rules file as YAML, with a header saying where it came from."""
    from io import StringIO

    from ruamel.yaml import YAML

    yaml = YAML()
    yaml.default_flow_style = False
    yaml.width = 4096
    buffer = StringIO()
    buffer.write(
        f"# Generated by `pgtune alerts {source}` from profile {loaded.profile.name!r}: do not edit; change\n"
        "# the profile's checks: thresholds and regenerate. Metrics: postgres_exporter, and\n"
        "# pgtune check --format openmetrics (node_exporter's textfile collector, or any scraper).\n"
    )
    yaml.dump(rules(loaded, source, for_override), buffer)
    return buffer.getvalue()
