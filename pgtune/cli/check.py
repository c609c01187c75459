"""`pgtune check` and `pgtune alerts`: health checks against the profile's thresholds, and the
Prometheus alert rules made from the same thresholds."""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer

from pgtune.cli.app import _err, _out
from pgtune.cli.flags import argument, flag
from pgtune.cli.options import DsnOption, SandboxOption, SchemaOption, _target


class FailOn(StrEnum):
    warn = "warn"
    critical = "critical"
    never = "never"


class CheckFormat(StrEnum):
    text = "text"
    markdown = "markdown"
    json = "json"
    openmetrics = "openmetrics"


def check(
    profile: Annotated[Path | None, argument("check.profile")] = None,
    dsn: DsnOption = None,
    fmt: Annotated[CheckFormat, flag("check.fmt")] = CheckFormat.text,
    fail_on: Annotated[FailOn, flag("fail_on")] = FailOn.critical,
    sandbox: SandboxOption = False,
    schema: SchemaOption = None,
) -> None:
    """Run health checks against the profile's thresholds.

    Cache hit rate, bloat, vacuum, locks, wraparound, indexes ... Read-only. Exit 0 when nothing
    reaches --fail-on, 3 when something does, 1 on error.

    Example:

    \b
      pgtune check profiles/letta.yaml --format openmetrics
    """
    from pgtune.checks import health
    from pgtune.integrations.postgres import connect
    from pgtune.profile.loader import load_profile
    from pgtune.render import health as render_health

    loaded = load_profile(profile) if profile is not None else None
    if loaded is not None:
        health.resolve_limits(loaded)  # threshold errors before connecting
    with _target(dsn, sandbox, schema) as target, connect(target) as conn:
        results = health.run(conn, loaded)
        dbname = conn.info.dbname
        database = f"{dbname} on PostgreSQL {conn.info.server_version // 10000}.{conn.info.server_version % 10000}"
    if fmt == CheckFormat.openmetrics:
        from pgtune.render.metrics import render_openmetrics, units_of

        _out(render_openmetrics(results, dbname, units_of(), loaded.profile.name if loaded else None))
    else:
        _out(render_health.FORMATS[fmt.value](results, database))
    if health.breached(results, fail_on.value):
        raise typer.Exit(3)


def alerts(
    profile: Annotated[Path, argument("alerts.profile")],
    out: Annotated[Path | None, flag("alerts.out")] = None,
    for_: Annotated[str | None, flag("for")] = None,
) -> None:
    """Write Prometheus alerting rules from the profile's checks.

    Thresholds are the profile's (warn -> warning, critical -> critical), over postgres_exporter's
    metrics and `pgtune check --format openmetrics`.

    Example:

    \b
      pgtune alerts profiles/letta.yaml > pgtune-rules.yml
    """
    from pgtune.checks import alerts as generate
    from pgtune.profile.loader import load_profile

    loaded = load_profile(profile)
    text = generate.render(loaded, str(profile), for_)
    if out is None:
        _out(text)
    else:
        out.write_text(text, encoding="utf-8")
        _err(f"Wrote {out}: check it with `promtool check rules {out}`")
