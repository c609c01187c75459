"""`pgtune advise` and `pgtune recommend`: profile changes from the live workload, and settings from
PGTune's formulas for a machine and a workload."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Literal

import typer

from pgtune.base.errors import ApplyRefused
from pgtune.cli.app import Format, _err, _out
from pgtune.cli.flags import argument, flag
from pgtune.cli.options import DsnOption


def advise(
    profile: Annotated[Path, argument("advise.profile")],
    dsn: DsnOption = None,
    fmt: Annotated[Format, flag("advise.fmt")] = Format.text,
    into: Annotated[bool, flag("advise.into")] = False,
    min_saving: Annotated[float, flag("min_saving")] = 0.02,
    vacuum_interval: Annotated[str, flag("vacuum_interval")] = "1h",
    window: Annotated[str, flag("window")] = "0",
    deadline: Annotated[float, flag("deadline")] = 60.0,
    trust_functions: Annotated[bool, flag("trust_functions")] = False,
) -> None:
    """Propose profile changes from the live workload.

    Indexes (costed with HypoPG over every query of a table), autovacuum storage values, per-role
    work_mem. Executes no DDL. Exit 0 with the advice (or none), 3 when some advice could not be
    given (HypoPG or pg_stat_statements missing: said, never guessed), 1 on error.

    Example:

    \b
      pgtune advise profiles/letta.yaml --into
    """
    from pgtune.advice import Options
    from pgtune.advice import advise as run_advice
    from pgtune.base.units import UnitError, parse_seconds
    from pgtune.integrations.postgres import connect, resolve_dsn
    from pgtune.profile.loader import load_profile
    from pgtune.render.advice import FORMATS as ADVICE_FORMATS

    loaded = load_profile(profile)
    parsed: dict[str, float] = {}
    for option, text in (("--vacuum-interval", vacuum_interval), ("--window", window)):
        try:
            parsed[option] = parse_seconds(text)
        except UnitError as exc:
            raise ApplyRefused(f"{option}: {exc}") from None
    interval, sampled = parsed["--vacuum-interval"], parsed["--window"]
    for refused, message in (
        (not 0 <= min_saving < 1, f"--min-saving wants a fraction from 0 (no threshold) to below 1, not {min_saving}"),
        (interval <= 0, f"--vacuum-interval wants a positive duration, not {vacuum_interval!r}"),
        (not 0 <= sampled <= 3600, f"--window wants a duration from 0 to 1h, not {window!r}"),
        (not 0 < deadline <= 86400, f"--deadline wants seconds from above 0 to 86400, not {deadline:g}"),
    ):
        if refused:
            raise ApplyRefused(message)
    options = Options(
        min_saving=min_saving,
        vacuum_interval_hours=interval / 3600,
        window_seconds=sampled,
        deadline=deadline,
        trust_functions=trust_functions,
        trusted_extensions=tuple(loaded.profile.trusted_extensions),
    )
    with connect(resolve_dsn(dsn)) as conn:
        report = run_advice(conn, loaded, options)
    _out(ADVICE_FORMATS[fmt.value](report))
    if into and report.advice:
        from pgtune.advice.writeback import write_into

        written = write_into(profile, report)
        _err(f"Wrote {written} advised value(s) into {profile}: review with `pgtune plan {profile}`")
    if report.missing:
        raise typer.Exit(3)


def recommend(
    type_: Annotated[str, flag("type")],
    memory: Annotated[str, flag("memory")],
    cpus: Annotated[str | None, flag("cpus")] = None,
    storage: Annotated[str, flag("storage")] = "ssd",
    connections: Annotated[int | None, flag("connections")] = None,
    pg_version: Annotated[int | None, flag("recommend.pg_version")] = None,
    db_size: Annotated[str, flag("db_size")] = "around_ram",
    fmt: Annotated[Literal["yaml", "conf", "json"], flag("recommend.fmt")] = "yaml",
) -> None:
    """Print PGTune's settings for a machine and workload.

    le0pard's PGTune formulas, with a reason beside each setting.

    Example:

    \b
      pgtune recommend --memory 16GB --cpus 4 --type web --format yaml
    """
    from pydantic import ValidationError

    from pgtune.profile import workload as wl
    from pgtune.profile.model import WorkloadSpec

    try:
        spec = WorkloadSpec.model_validate(
            {
                "type": type_,
                "memory": memory,
                "cpus": cpus,
                "storage": storage,
                "connections": connections,
                "pg_version": pg_version,
                "db_size": db_size,
            }
        )
    except ValidationError as exc:
        first = exc.errors()[0]
        field = "--" + str(first["loc"][0]).replace("_", "-") if first["loc"] else "input"
        raise ApplyRefused(f"{field}: {first['msg'].removeprefix('Value error, ')}") from None
    w = wl.from_spec(spec, wl.NEWEST_PG)
    result = wl.recommend(w)
    gib = w.memory_bytes / 2**30
    title = (
        f"pgtune recommend: {w.type}, {gib:g}GB RAM, {w.cpus or 'unknown'} CPUs, {w.storage}, "
        f"PostgreSQL {w.pg_version} (le0pard's PGTune formulas)"
    )
    if fmt == "json":
        import json

        _out(json.dumps({"settings": result.settings, "reasons": result.reasons}, indent=2) + "\n")
    elif fmt == "conf":
        width = max(len(f"{k} = {v}") for k, v in result.settings.items())
        lines = [f"# {title}"]
        lines += [f"{f'{k} = {v}':<{width}}  # {result.reasons[k]}" for k, v in result.settings.items()]
        _out("\n".join(lines) + "\n")
    else:
        _out(wl.as_profile_fragment(result, title))
