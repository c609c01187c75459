"""Commands about profiles themselves: `validate` (offline), `render` (resolved), `schema` (for
editors) and `inspect` (a profile of what a server runs, or live values pulled into one)."""

from __future__ import annotations

import os
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Literal

import typer

from pgtune.base.errors import PgtuneError
from pgtune.base.redact import scrub_known
from pgtune.cli.app import _err, _out
from pgtune.cli.flags import argument, flag
from pgtune.cli.options import AsOfOption, DsnOption, SandboxOption, SchemaOption, SetOption, _target

if TYPE_CHECKING:
    import psycopg

    from pgtune.kinds import offline


class RdsFamily(StrEnum):
    postgres = "postgres"
    aurora_postgresql = "aurora-postgresql"


def validate(
    profiles: Annotated[list[Path], argument("profiles")],
    set_: SetOption = None,
    pg_version: Annotated[int | None, flag("validate.pg_version")] = None,
    rds_family: Annotated[RdsFamily | None, flag("rds_family")] = None,
    service: Annotated[str | None, flag("validate.service")] = None,
) -> None:
    """Check profiles offline, without a database.

    The schema, and setting names, types, units, enum words and ranges against a bundled
    description of a PostgreSQL version's settings. Errors are file:line:col.

    Example:

    \b
      pgtune validate profiles/*.yaml --pg-version 15
    """
    from pgtune.base.errors import raise_if_any
    from pgtune.kinds import offline
    from pgtune.profile.loader import load_profile

    catalog = _service_catalog(service) if service is not None else None
    desc = offline.description(pg_version, rds_family.value if rds_family is not None else None, catalog)
    failed = False
    for path in profiles:
        try:
            loaded = load_profile(path, set_ or ())
            raise_if_any(offline.validate(loaded, desc))
            _out(f"{loaded.path}: ok (profile {loaded.profile.name!r}; checked against {desc.label})\n")
        except PgtuneError as exc:
            failed = True
            for line in exc.lines():
                _err(line, always=True)
    if failed:
        raise typer.Exit(1)


def _service_catalog(key: str) -> offline.ServiceCatalog:
    """The parameter list of a managed service a target declares (`validate --service KEY`)."""
    from pgtune.targets import declared_services

    offered = declared_services()
    if key not in offered:
        _err(f"--service: no service {key!r}; one of: {', '.join(offered)}", always=True)
        raise typer.Exit(2)
    return offered[key].catalog()


def inspect(
    dsn: DsnOption = None,
    tables: Annotated[list[str] | None, flag("tables")] = None,
    settings_mode: Annotated[Literal["changed", "all", "none"], flag("settings_mode")] = "changed",
    name: Annotated[str, flag("name")] = "adopted",
    out: Annotated[Path | None, flag("inspect.out")] = None,
    into: Annotated[Path | None, flag("inspect.into")] = None,
    sandbox: SandboxOption = False,
    schema: SchemaOption = None,
    as_of: AsOfOption = None,
) -> None:
    """Write a profile of what a server runs.

    Adopts a server's live state as a profile, or pulls live values into an existing one (--into).

    Example:

    \b
      pgtune inspect --dsn postgresql://ro@db/letta --tables letta.* > adopted.yaml
    """
    from pgtune.advice.live_profile import inspect as read_live
    from pgtune.advice.live_profile import to_yaml
    from pgtune.integrations.postgres import connect, redact

    if into is not None:
        _inspect_into(into, dsn, sandbox, schema)
        return
    with _target(dsn, sandbox, schema) as target, connect(target) as conn:
        found = read_live(conn, name=name, settings_mode=settings_mode, table_patterns=tables, as_of=as_of)
        header = _schema_modeline(out) + f"# adopted from {redact(target)} by pgtune inspect\n"
        text = to_yaml(found.document, header)
        for warning in found.warnings:
            _err(f"inspect: {warning}")
        remaining = _replan(text, conn, target, as_of)
    if remaining:
        _err(f"inspect: planning the adopted profile still shows {len(remaining)} change(s): {'; '.join(remaining)}")
    if out is None:
        _out(text)
    else:
        out.write_text(scrub_known(text), encoding="utf-8")
        _err(f"Wrote {out}.")


SCHEMA_FILE = Path("schema") / "pgtune-profile.schema.json"


def _schema_modeline(out: Path | None) -> str:
    """The editor's schema line, pointing at the project's shipped schema relative to where the
    profile is written (found walking up from there); none when there is no such file to point at."""
    start = (out.parent if out is not None else Path(".")).resolve()
    for directory in (start, *start.parents):
        if (directory / SCHEMA_FILE).is_file():
            relative = os.path.relpath(directory / SCHEMA_FILE, start)
            return f"# yaml-language-server: $schema={relative}\n"
    return ""


def _replan(text: str, conn: psycopg.Connection, target: str, as_of: str | None) -> list[str]:
    """Plan an adopted profile against the server it came from: what would still change."""
    import tempfile

    from pgtune.profile.loader import load_profile
    from pgtune.targets import workflow

    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "adopted.yaml"
        path.write_text(text, encoding="utf-8")
        result = workflow.derive(conn, workflow.Inputs(load_profile(path, env={}), as_of), target)
    return [f"{c.kind} {c.object}" for c in result.changes]


def _inspect_into(path: Path, dsn: str | None, sandbox: bool, schema: Path | None) -> None:
    from pgtune.advice.adopt import pull_live_values
    from pgtune.integrations.postgres import connect
    from pgtune.profile.loader import load_profile

    loaded = load_profile(path)
    with _target(dsn, sandbox, schema) as target, connect(target) as conn:
        report, edited = pull_live_values(conn, loaded, path)
    for line in report:
        _err(f"  {line}")
    _err(f"Updated {path}: {edited} value(s) now match the server." if edited else f"{path}: nothing to update.")


def render(profile: Annotated[Path, argument("render.profile")], set_: SetOption = None) -> None:
    """Print the fully resolved profile.

    extends merged, ${VAR} expanded, --set applied (passwords masked).

    Example:

    \b
      pgtune render profiles/letta.yaml --set settings.work_mem=64MB
    """
    from pgtune.profile.resolved import render_profile

    _out(render_profile(profile, set_ or ()))


def schema() -> None:
    """Print the JSON Schema of profiles.

    For editors: yaml-language-server, VS Code.

    Example:

    \b
      pgtune schema > pgtune.schema.json
    """
    from pgtune.profile.resolved import profile_json_schema

    _out(profile_json_schema())
