"""Health check results as OpenMetrics / Prometheus text: for node_exporter's textfile collector,
or any scraper (`pgtune check --format openmetrics`).

Names follow Prometheus's conventions: a `pgtune_` prefix, base units in the name (`_seconds`,
`_bytes`, `_ratio` for 0..1), gauges throughout (a check is a reading, not a counter). Every check
exports its headline value (`pgtune_<check>_<unit>`), its status (`pgtune_check_status`, 0 ok,
1 warn, 2 critical) and its thresholds (`pgtune_check_threshold`, by severity), so alert rules
(`pgtune alerts`) and dashboards read what the profile says. Checks with objects (tables, indexes,
standbys) add one sample per object. Skipped checks export nothing but `pgtune_check_skipped`.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

from pgtune.checks.metrics import UNITS, metric_name, units_of

if TYPE_CHECKING:
    from pgtune.checks.health import Result

__all__ = ["UNITS", "metric_name", "render_openmetrics", "units_of"]

STATUS_VALUES = {"ok": 0, "warn": 1, "critical": 2}
SEVERITIES = {"warn": "warning", "critical": "critical"}
OBJECT_LABELS = ("table", "index", "standby", "application_name")
OBJECT_VALUES = ("ratio", "seconds", "bytes", "value", "lag_seconds")


def _escape(value: object) -> str:
    return str(value).replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


def _labels(labels: dict[str, object]) -> str:
    return "{" + ",".join(f'{k}="{_escape(v)}"' for k, v in labels.items()) + "}"


def _number(value: object) -> str | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    if isinstance(value, float) and (math.isnan(value) or math.isinf(value)):
        return None
    return repr(float(value)) if isinstance(value, float) else str(value)


def render_openmetrics(results: list[Result], database: str, units: dict[str, str], profile: str | None) -> str:
    """`units`: check name -> its unit (health.DEFINITIONS), so names carry base units."""
    base: dict[str, object] = {"database": database}
    if profile:
        base["profile"] = profile
    lines: list[str] = []

    def family(name: str, help_text: str) -> None:
        lines.extend([f"# HELP {name} {help_text}", f"# TYPE {name} gauge"])

    family("pgtune_check_status", "Status of each pgtune check: 0 ok, 1 warn, 2 critical.")
    for r in results:
        if r.status in STATUS_VALUES:
            lines.append(f"pgtune_check_status{_labels({**base, 'check': r.name})} {STATUS_VALUES[r.status]}")
    family("pgtune_check_skipped", "1 when a check could not judge (too little activity, privileges, disabled).")
    for r in results:
        lines.append(f"pgtune_check_skipped{_labels({**base, 'check': r.name})} {int(r.status == 'skipped')}")
    family("pgtune_check_threshold", "The profile's threshold of each check, by severity, in the check's unit.")
    for r in results:
        for key, severity in SEVERITIES.items():
            value = _number(r.threshold.get(key))
            if value is not None:
                lines.append(
                    f"pgtune_check_threshold{_labels({**base, 'check': r.name, 'severity': severity})} {value}"
                )
    for r in results:
        unit = units.get(r.name, "count")
        name = metric_name(r.name, unit)
        value = _number(r.value)
        samples = []
        if r.status != "skipped" and value is not None:
            samples.append(f"{name}{_labels(base)} {value}")
        for o in r.objects:
            labels = {k: o[k] for k in OBJECT_LABELS if o.get(k) is not None}
            number = next((n for k in OBJECT_VALUES if (n := _number(o.get(k))) is not None), None)
            if labels and number is not None and r.status != "skipped":
                samples.append(f"{name}{_labels({**base, **labels})} {number}")
        if samples:
            family(name, f"pgtune check {r.name} ({unit}); per object where the check has objects.")
            lines.extend(dict.fromkeys(samples))
    lines.append("# EOF")
    return "\n".join(lines) + "\n"
