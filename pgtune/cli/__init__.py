"""The command line: the only place that prints and picks exit codes.

Data (plans, SQL, JSON) goes to stdout; errors and progress to stderr. Every `PgtuneError` is
caught once here and printed as its lines (`path:line:col: message` for profile problems).
"""

from __future__ import annotations

import contextlib
import gc
import os
import re
import shlex
import sys
from collections.abc import Callable, Iterator, Sequence
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from pgtune import __version__
from pgtune.base.errors import ApplyFailed, ApplyRefused, PgtuneError
from pgtune.base.redact import (
    distinctive,
    mask_connection_strings,
    mask_values,
    passwords_in,
    remember_dsn,
    remember_environment,
    scrub_known,
)
from pgtune.cli.terminal import UI, colorize_error, colorize_plan

if TYPE_CHECKING:  # the heavy modules (psycopg, pydantic, pglast) load only when a command needs them
    import psycopg

    from pgtune.plan import cluster as clusterplan
    from pgtune.plan.model import Plan, Statement
    from pgtune.plan.record import SavedPlan
    from pgtune.profile.loader import LoadedProfile
    from pgtune.targets import Where, workflow
    from pgtune.targets.executor import ExecOptions

app = typer.Typer(
    name="pgtune",
    help="PostgreSQL performance configuration as code: validate, plan, apply.",
    no_args_is_help=True,
    pretty_exceptions_show_locals=False,  # tracebacks must never dump a DSN or password
    add_completion=True,
    rich_markup_mode=None,  # click's own help: typer's rich help imports rich.markdown and markdown-it (50 ms a start)
)


class CheckFormat(StrEnum):
    text = "text"
    markdown = "markdown"
    json = "json"
    openmetrics = "openmetrics"


class RdsFamily(StrEnum):
    postgres = "postgres"
    aurora_postgresql = "aurora-postgresql"


class Format(StrEnum):
    text = "text"
    markdown = "markdown"
    json = "json"


DsnOption = Annotated[
    str | None,
    typer.Option(
        "--dsn",
        metavar="DSN",
        help="Connection string. Else $PGTUNE_DSN, $DATABASE_URL, then libpq's PG* variables. Keep the password "
        "out of it (PGPASSWORD, ~/.pgpass): arguments are visible to other local users.",
    ),
]
PatroniOption = Annotated[
    str | None,
    typer.Option(
        "--patroni",
        metavar="URL",
        help="A Patroni cluster's REST API, http://host:8008 (its credentials in $PGTUNE_PATRONI_USER and "
        "$PGTUNE_PATRONI_PASSWORD: a password in the URL is visible to other local users and warns): members and "
        "leader from Patroni, "
        "settings through its DCS. --dsn then gives the SQL credentials for the members (host and port from Patroni).",
    ),
]
RdsGroupOption = Annotated[
    str | None,
    typer.Option(
        "--rds-parameter-group",
        metavar="NAME",
        help="Plan server-wide settings against this RDS DB parameter group (ModifyDBParameterGroup), the other "
        "kinds over SQL on --dsn (the writer's endpoint). Region and credentials from boto3's chain (AWS_PROFILE, "
        "AWS_REGION, AWS_ENDPOINT_URL).",
    ),
]
RdsClusterGroupOption = Annotated[
    str | None,
    typer.Option(
        "--rds-cluster-parameter-group",
        metavar="NAME",
        help="Aurora: also plan against this DB cluster parameter group; a key goes there when only it offers the key.",
    ),
]
RdsRegionOption = Annotated[
    str | None, typer.Option("--rds-region", metavar="REGION", help="The group's region (else boto3's chain).")
]
RdsInstanceOption = Annotated[
    str | None,
    typer.Option(
        "--rds-instance",
        metavar="ID",
        help="The RDS instance --dsn reaches, when its endpoint is not the DSN's host (a proxy, a CNAME).",
    ),
]


def one_line(text: str) -> str:
    """Catalog text made safe to print on one line (the escaper loads when something is printed)."""
    from pgtune.base.escape import line

    return line(text)


def _render() -> Any:
    """The renderers, loaded when a command prints a plan (not for --help or version)."""
    import pgtune.render

    return pgtune.render


def _where(
    dsn: list[str] | None,
    patroni_url: str | None,
    group: str | None,
    cluster_group: str | None,
    region: str | None,
    instance: str | None,
    failover: bool = False,
) -> Where | None:
    """The cluster target the options name (None: one server)."""
    from pgtune.targets import Where

    if group is not None or cluster_group is not None:
        if patroni_url is not None or (dsn and len(dsn) > 1):
            raise ApplyRefused("--rds-parameter-group takes one --dsn (the writer's endpoint) and no --patroni")
        named = (
            ("rds_parameter_group", group),
            ("rds_cluster_parameter_group", cluster_group),
            ("rds_region", region),
            ("rds_instance", instance),
        )
        options = {"rds_failover": "yes" if failover else "no"} | {k: v for k, v in named if v is not None}
        return Where(tuple(dsn or ()), None, options)
    if region is not None or instance is not None or failover:
        raise ApplyRefused(
            "--rds-region, --rds-instance and --rds-failover go with --rds-parameter-group "
            "(or --rds-cluster-parameter-group)"
        )
    if (dsn and len(dsn) > 1) or patroni_url:
        return Where(tuple(dsn or ()), patroni_url)
    return None


NodesOption = Annotated[
    list[str] | None,
    typer.Option(
        "--dsn",
        metavar="DSN",
        help="Connection string. Else $PGTUNE_DSN, $DATABASE_URL, then libpq's PG* variables. Repeat it once per "
        "node for a primary with standbys (any order): one plan for the cluster. Keep the password out of it "
        "(PGPASSWORD, ~/.pgpass): arguments are visible to other local users.",
    ),
]
SandboxOption = Annotated[
    bool, typer.Option("--sandbox", help="Run against a throwaway embedded PostgreSQL 16 (pgserver), removed after.")
]
AsOfOption = Annotated[
    str | None,
    typer.Option(
        "--as-of",
        metavar="WHEN",
        envvar="PGTUNE_AS_OF",
        help="Plan time partitions as if now were this date/time (e.g. 2026-11-23). Default: the server's now().",
    ),
]
SetOption = Annotated[
    list[str] | None,
    typer.Option(
        "--set",
        metavar="PATH=VALUE",
        help="Override a profile value, e.g. --set settings.work_mem=64MB (repeatable; beats every file).",
    ),
]
ExcludeOption = Annotated[
    list[str] | None,
    typer.Option(
        "--exclude",
        metavar="GLOB",
        help="Glob of schema.name (table, index, partition) never to touch, on top of the profile's exclude: "
        "(repeatable).",
    ),
]
SchemaOption = Annotated[
    Path | None,
    typer.Option("--schema", metavar="FILE", help="With --sandbox: a SQL file loaded into the sandbox first."),
]


CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")
"""Control characters other than tab and newline."""


def _out(text: str) -> None:
    sys.stdout.write(scrub_known(text))
    sys.stdout.flush()


def _out_plan(text: str) -> None:
    """A text plan on stdout, coloured for a person at a terminal."""
    _out(colorize_plan(text) if UI.color(sys.stdout) else text)


def _err(text: str, *, always: bool = False) -> None:
    """Progress and chatter on stderr (silenced by --quiet); errors pass always=True."""
    if UI.quiet and not always:
        return
    text = scrub_known(text)
    sys.stderr.write(text if text.endswith("\n") else text + "\n")
    sys.stderr.flush()


@app.callback()
def _options(
    quiet: Annotated[
        bool, typer.Option("--quiet", "-q", help="Only results and errors: no progress or notes.")
    ] = False,
    verbose: Annotated[
        bool, typer.Option("--verbose", "-v", help="Also print each statement apply runs, with its duration.")
    ] = False,
    no_color: Annotated[bool, typer.Option("--no-color", help="No colour (also: NO_COLOR=1).")] = False,
) -> None:
    """PostgreSQL performance configuration as code: validate, plan, apply."""
    UI.quiet, UI.verbose, UI.no_color = quiet, verbose and not quiet, no_color


@contextlib.contextmanager
def _target(dsn: str | None, sandbox: bool, schema: Path | None) -> Iterator[str]:
    """The DSN to work on: the user's, or a sandbox started for this command."""
    from pgtune.integrations.postgres import resolve_dsn

    if schema is not None and not sandbox:
        raise ApplyRefused("--schema is only used with --sandbox")
    if not sandbox:
        yield resolve_dsn(dsn)
        return
    from pgtune.integrations.sandbox import sandbox as start_sandbox

    _err("Starting a throwaway PostgreSQL 16 (pgserver) ...")
    with start_sandbox(schema) as cluster:
        yield cluster.dsn()


def _confirmer(given: bool, question: str) -> Callable[[object], bool]:
    """Ask before applying, unless --yes (or a saved plan, reviewed already); never without a terminal."""

    def confirm(_plan: object) -> bool:
        if given:
            return True
        if not sys.stdin.isatty():
            raise ApplyRefused("refusing to apply: stdin is not a terminal; pass --yes to apply without a prompt")
        return typer.confirm(question, default=False, err=True)

    return confirm


def _one(dsns: list[str] | None) -> str | None:
    return dsns[0] if dsns else None


def _derive_cluster(where: Where, inputs: workflow.Inputs) -> clusterplan.ClusterPlan:
    from pgtune.targets import choose, sequence

    plan: clusterplan.ClusterPlan = sequence.preview(choose(where), inputs)
    return plan


def _plan_cluster(target: Where, inputs: workflow.Inputs, fmt: Format, detailed: bool, out: Path | None = None) -> None:
    from pgtune.plan import record as planfile
    from pgtune.render.cluster import render_cluster_json, render_cluster_markdown, render_cluster_text

    result = _derive_cluster(target, inputs)
    if out is not None:
        planfile.save(result, inputs.loaded, inputs.as_of, out, inputs.exclude)
        _err(f"Saved the cluster's plan to {out}: apply it with the same nodes and --plan {out}")
    render = {
        Format.text: render_cluster_text,
        Format.markdown: render_cluster_markdown,
        Format.json: render_cluster_json,
    }
    if fmt == Format.text:
        _out_plan(render[fmt](result))
    else:
        _out(render[fmt](result))
    if detailed and not result.empty:
        raise typer.Exit(2)


def _apply_cluster(
    target: Where,
    inputs: workflow.Inputs,
    options: ExecOptions,
    wait: float,
    allowed: set[str],
    dry_run: bool,
    yes: bool,
    restart: bool,
    saved: SavedPlan | None = None,
) -> None:
    from pgtune.plan import record as planfile
    from pgtune.render.cluster import render_cluster_text, restart_lines
    from pgtune.targets import choose, sequence

    if dry_run:
        result = _derive_cluster(target, inputs)
        if saved is not None:
            planfile.verify(saved, result)
        _out_plan(render_cluster_text(result))
        for p in result.plans:
            if not p.plan.empty:
                _out(f"\n-- on {p.node.role} {p.node.name}\n" + _render().render_sql(p.plan))
        if result.dcs is not None and not result.dcs.empty:
            through = "Patroni" if result.store == "patroni" else f"RDS parameter group {result.store_name}"
            _out(f"\n-- through {through}\n" + _render().render_sql(result.dcs))
        return

    confirm = _confirmer(yes or saved is not None, "Apply these changes to the cluster?")

    def show(fresh: clusterplan.ClusterPlan) -> None:
        if not UI.quiet or fresh.empty:
            _out_plan(render_cluster_text(fresh))

    live = sys.stderr.isatty() and not UI.quiet  # restarts shown as they happen; else listed once at the end
    done = sequence.apply(
        choose(target),
        inputs,
        options,
        wait=wait,
        allowed=allowed,
        restart=restart,
        saved=saved,
        show=show,
        confirm=confirm,
        on_step=(lambda text: _err(f"  {one_line(text)}")) if live else None,
    )
    for name, report in done.reports.items():
        _out(f"\n== {name} ==" + _render().render_apply_report(report, done.statuses(name)).rstrip("\n") + "\n")
    if done.restarts is not None and done.restarts.steps and not live:
        _out("\nRestarts:\n" + "".join(f"  {line}\n" for line in done.restarts.steps))
    if done.after_error is not None:
        _err(f"Error: could not re-read the cluster after apply: {done.after_error}", always=True)
    if done.failed:
        raise ApplyFailed(
            "apply failed on a node; nothing after the failed change ran. Re-run `pgtune apply` to converge"
        )
    if done.after is not None and (done.reports or done.restarts):
        _out("\n" + "\n".join(restart_lines(done.after)) + "\n")
        if done.after.restart and target.patroni is not None:
            _out("Finish with: pgtune apply ... --patroni URL --restart (restarts through Patroni in this order).\n")
        elif done.after.restart and done.after.store == "parameter_group":
            _out("Finish with: pgtune apply ... --rds-parameter-group NAME --restart (reboots in this order).\n")


def _plan(
    loaded: LoadedProfile,
    dsn: str,
    as_of: str | None = None,
    exclude: Sequence[str] = (),
    privileges_of: str | None = None,
) -> Plan:
    from pgtune.integrations.postgres import connect

    with connect(dsn) as conn:
        return _plan_on(conn, loaded, dsn, as_of, exclude, privileges_of)


def _plan_on(
    conn: psycopg.Connection,
    loaded: LoadedProfile,
    dsn: str,
    as_of: str | None,
    exclude: Sequence[str] = (),
    privileges_of: str | None = None,
) -> Plan:
    from pgtune.targets import workflow

    return workflow.derive(conn, workflow.Inputs(loaded, as_of, tuple(exclude), privileges_of=privileges_of), dsn)


@app.command()
def validate(
    profiles: Annotated[list[Path], typer.Argument(help="Profile files.", exists=False)],
    set_: SetOption = None,
    pg_version: Annotated[
        int | None,
        typer.Option(
            "--pg-version",
            metavar="MAJOR",
            min=13,
            max=18,
            help="Check settings against this PostgreSQL version's bundled description (default: the newest, 18).",
        ),
    ] = None,
    rds_family: Annotated[
        RdsFamily | None,
        typer.Option("--rds-family", help="Check rds.* names against this engine family (default: either)."),
    ] = None,
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

    desc = offline.description(pg_version, rds_family.value if rds_family is not None else None)
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


@app.command()
def plan(
    profile: Annotated[Path, typer.Argument(help="Profile file.")],
    dsn: NodesOption = None,
    fmt: Annotated[Format, typer.Option("--format", "-f", help="Output format.")] = Format.text,
    detailed_exitcode: Annotated[
        bool, typer.Option("--detailed-exitcode", help="Exit 0 with no changes, 2 with changes, 1 on error.")
    ] = False,
    sandbox: SandboxOption = False,
    schema: SchemaOption = None,
    as_of: AsOfOption = None,
    out: Annotated[
        Path | None,
        typer.Option(
            "--out", "-o", metavar="FILE", help="Also save the plan (JSON + state fingerprint) for `apply --plan FILE`."
        ),
    ] = None,
    set_: SetOption = None,
    exclude: ExcludeOption = None,
    patroni_url: PatroniOption = None,
    rds_group: RdsGroupOption = None,
    rds_cluster_group: RdsClusterGroupOption = None,
    rds_region: RdsRegionOption = None,
    rds_instance: RdsInstanceOption = None,
    privileges_of: Annotated[
        str | None,
        typer.Option(
            "--privileges-of",
            metavar="ROLE",
            help="Judge what an apply needs (ownership, CREATE, ALTER SYSTEM, pg_reload_conf) for ROLE, e.g. the "
            "deploy role, while a read-only role plans.",
        ),
    ] = None,
) -> None:
    """Print the ordered change plan for a server.

    Compares the live server with the profile; nothing is changed.

    Example:

    \b
      pgtune plan profiles/letta.yaml --dsn postgresql://deploy@db/letta --format markdown
    """
    from pgtune.plan import record as planfile
    from pgtune.profile.loader import load_profile
    from pgtune.targets import workflow

    loaded = load_profile(profile, set_ or ())
    if out is not None and sandbox:
        raise ApplyRefused("--out makes no sense with --sandbox: the server the plan was made for is gone")
    where = _where(dsn, patroni_url, rds_group, rds_cluster_group, rds_region, rds_instance)
    if where is not None:
        if sandbox:
            raise ApplyRefused("--sandbox is one server; give a cluster's nodes without it")
        inputs = workflow.Inputs(loaded, as_of, tuple(exclude or ()), privileges_of=privileges_of)
        _plan_cluster(where, inputs, fmt, detailed_exitcode, out)
        return
    with _target(_one(dsn), sandbox, schema) as target:
        result = _plan(loaded, target, as_of, exclude or (), privileges_of)
    _show_plan(result, fmt)
    if out is not None:
        planfile.save(result, loaded, as_of, out, exclude or ())
        flags = (f" --as-of {as_of}" if as_of else "") + "".join(f" --exclude '{p}'" for p in exclude or ())
        flags += "".join(f" --set '{v}'" for v in set_ or ())
        _err(f"Saved the plan to {out}. To apply exactly these changes: pgtune apply {profile} --plan {out}{flags}")
    if detailed_exitcode and not result.empty:
        raise typer.Exit(2)


@app.command()
def apply(
    profile: Annotated[
        Path | None, typer.Argument(help="Profile file (with --plan too: the reviewed profile the plan was made from).")
    ] = None,
    dsn: NodesOption = None,
    saved_plan: Annotated[
        Path | None,
        typer.Option(
            "--plan",
            metavar="FILE",
            help="A saved plan (pgtune plan --out): apply only if what PROFILE needs now equals it in every field.",
        ),
    ] = None,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Print the exact SQL and execute nothing.")] = False,
    yes: Annotated[
        bool, typer.Option("--yes", "-y", help="Apply without asking (required without a terminal).")
    ] = False,
    wait: Annotated[
        float,
        typer.Option(
            "--wait",
            metavar="SECONDS",
            min=0,
            help="Seconds to wait for another pgtune apply on this database to finish (pgtune's own lock; "
            "not PostgreSQL's lock_timeout).",
        ),
    ] = 0,
    lock_timeout: Annotated[
        str, typer.Option("--lock-timeout", metavar="DURATION", help="PostgreSQL lock_timeout for each statement.")
    ] = "5s",
    statement_timeout: Annotated[
        str | None,
        typer.Option("--statement-timeout", metavar="DURATION", help="PostgreSQL statement_timeout (default: none)."),
    ] = None,
    retries: Annotated[
        int, typer.Option("--retries", metavar="N", min=0, max=20, help="Retries after a lock timeout.")
    ] = 3,
    allow_hazards: Annotated[
        str,
        typer.Option(
            "--allow-hazards",
            metavar="CODES",
            help="Comma-separated gated hazard codes to allow, e.g. DELETES_DATA,DATA_MOVE.",
        ),
    ] = "",
    sandbox: SandboxOption = False,
    schema: SchemaOption = None,
    as_of: AsOfOption = None,
    set_: SetOption = None,
    exclude: ExcludeOption = None,
    patroni_url: PatroniOption = None,
    rds_group: RdsGroupOption = None,
    rds_cluster_group: RdsClusterGroupOption = None,
    rds_region: RdsRegionOption = None,
    rds_instance: RdsInstanceOption = None,
    rds_failover: Annotated[
        bool,
        typer.Option("--rds-failover", help="With --restart: reboot a Multi-AZ writer with failover (ForceFailover)."),
    ] = False,
    restart: Annotated[
        bool,
        typer.Option(
            "--restart",
            help="Patroni or RDS: restart (reboot) what is pending through their API, in the safe order, and wait for "
            "each.",
        ),
    ] = False,
) -> None:
    """Converge a server to a profile.

    Plans, then executes under pgtune's apply lock: one reload, then a verifying re-plan.
    With --plan FILE, the plan is still derived afresh from PROFILE and the server, and runs only if
    it equals the saved one in every change, statement, lock and hazard.

    Example:

    \b
      pgtune apply profiles/letta.yaml --plan plan.json --lock-timeout 2s
    """
    from pgtune.integrations.postgres import connect, redact
    from pgtune.plan import record as planfile
    from pgtune.profile.loader import load_profile
    from pgtune.targets import workflow
    from pgtune.targets.executor import ExecOptions

    if saved_plan is not None and profile is None:
        raise ApplyRefused(
            "give the PROFILE with --plan FILE (the reviewed file from your checkout): pgtune derives the plan again "
            "from it and runs it only if it equals the saved one; a path written in the plan file is never used"
        )
    if profile is None:
        raise ApplyRefused("give a PROFILE, or a PROFILE and a saved plan with --plan FILE")
    saved = planfile.load(saved_plan) if saved_plan is not None else None
    loaded = load_profile(profile, set_ or ())
    inputs = workflow.Inputs(loaded, as_of, tuple(exclude or ()))
    if saved is not None:
        workflow.check_saved_inputs(saved, inputs)
    allowed = workflow.parse_allowed(allow_hazards)
    options = ExecOptions(
        lock_timeout=lock_timeout,
        statement_timeout=statement_timeout,
        retries=retries,
        progress=_show_progress if sys.stderr.isatty() and not UI.quiet else None,
        trace=_trace if UI.verbose else None,
    )
    where = _where(dsn, patroni_url, rds_group, rds_cluster_group, rds_region, rds_instance, rds_failover)
    if where is not None:
        if sandbox:
            raise ApplyRefused("--sandbox is one server; give a cluster's nodes without it")
        _apply_cluster(where, inputs, options, wait, allowed, dry_run, yes, restart, saved)
        return
    if restart:
        raise ApplyRefused("--restart is for Patroni clusters (--patroni URL) and RDS (--rds-parameter-group NAME)")
    with _target(_one(dsn), sandbox, schema) as target:
        if dry_run:
            with connect(target) as conn:
                result = workflow.derive(conn, inputs, target)
            if saved is not None:
                planfile.verify(saved, result)
            _out_plan(_render().render_text(result))
            if not result.empty:
                _out("\n" + _render().render_sql(result))
            return

        def show(fresh: Plan) -> None:
            if not UI.quiet or fresh.empty:
                _out_plan(_render().render_text(fresh))

        confirm = _confirmer(yes or saved is not None, "Apply these changes?")

        clear = "\r\x1b[K" if options.progress else ""  # erase a progress line
        # Live outcomes where someone watches (a terminal) or asked (-v, beside the statements);
        # otherwise the report lists each change once.
        live = UI.verbose or (sys.stderr.isatty() and not UI.quiet)
        done = workflow.apply(
            target,
            inputs,
            options,
            wait=wait,
            allowed=allowed,
            saved=saved,
            show=show,
            confirm=confirm,
            on_outcome=(lambda o: _err(f"{clear}  {o.status}: {one_line(o.change.object)}")) if live else None,
        )
        if done.report is None:
            return
        if done.after_error is not None:
            _err(f"Error: could not re-read the server after apply: {done.after_error}", always=True)
        _out(_render().render_apply_report(done.report, done.statuses))
        if done.after is None:
            raise ApplyFailed(
                "the outcome above is what pgtune executed; the server could not be read afterwards. "
                f"Run `pgtune plan` against {redact(target)} once it is back to see what remains"
            )
        if done.report.failed:
            raise ApplyFailed(
                f"apply failed; nothing after the failed change ran. Re-run `pgtune apply` to converge, or "
                f"`pgtune plan` against {redact(target)} to see what remains"
            )


class FailOn(StrEnum):
    warn = "warn"
    critical = "critical"
    never = "never"


@app.command()
def check(
    profile: Annotated[Path | None, typer.Argument(help="Profile whose checks: section sets thresholds.")] = None,
    dsn: DsnOption = None,
    fmt: Annotated[
        CheckFormat,
        typer.Option("--format", "-f", help="Output format (openmetrics: for Prometheus / the textfile collector)."),
    ] = CheckFormat.text,
    fail_on: Annotated[
        FailOn, typer.Option("--fail-on", help="Exit 3 when a check reaches this status.")
    ] = FailOn.critical,
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


@app.command()
def advise(
    profile: Annotated[Path, typer.Argument(help="Profile the advice is for (and, with --into, written into).")],
    dsn: DsnOption = None,
    fmt: Annotated[Format, typer.Option("--format", "-f", help="Output format.")] = Format.text,
    into: Annotated[
        bool, typer.Option("--into", help="Write the advice into PROFILE, comments and layout kept.")
    ] = False,
    min_saving: Annotated[
        float,
        typer.Option(
            "--min-saving", metavar="FRACTION", help="An index must save this fraction of the workload's time."
        ),
    ] = 0.02,
    vacuum_interval: Annotated[
        str,
        typer.Option(
            "--vacuum-interval", metavar="DURATION", help="How often autovacuum should fire on busy tables: 1h, 30min."
        ),
    ] = "1h",
    window: Annotated[
        str,
        typer.Option(
            "--window",
            metavar="DURATION",
            help="Sample write rates over this long (30s, 5min); 0: since the stats reset.",
        ),
    ] = "0",
    deadline: Annotated[
        float,
        typer.Option(
            "--deadline", metavar="SECONDS", help="Stop planning the workload after this long and say what it covered."
        ),
    ] = 60.0,
    trust_functions: Annotated[
        bool,
        typer.Option(
            "--trust-functions",
            help="Plan statements that reach functions pgtune does not trust (still as the roles that ran them).",
        ),
    ] = False,
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


@app.command()
def alerts(
    profile: Annotated[Path, typer.Argument(help="Profile whose checks: thresholds the alerts use.")],
    out: Annotated[
        Path | None, typer.Option("--out", "-o", metavar="FILE", help="Write the rules file here (else stdout).")
    ] = None,
    for_: Annotated[
        str | None,
        typer.Option(
            "--for",
            metavar="DURATION",
            help="One `for:` for every rule (e.g. 0s in tests); default: per check, as mixins do.",
        ),
    ] = None,
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


class RecommendFormat(StrEnum):
    yaml = "yaml"
    conf = "conf"
    json = "json"


@app.command()
def recommend(
    type_: Annotated[str, typer.Option("--type", metavar="WORKLOAD", help="web | oltp | dw | desktop | mixed.")],
    memory: Annotated[str, typer.Option("--memory", metavar="SIZE", help="RAM for PostgreSQL: 16GB, 512MB, or auto.")],
    cpus: Annotated[str | None, typer.Option("--cpus", metavar="N", help="CPUs for PostgreSQL, or auto.")] = None,
    storage: Annotated[str, typer.Option("--storage", metavar="KIND", help="ssd | nvme | hdd | san.")] = "ssd",
    connections: Annotated[
        int | None, typer.Option("--connections", metavar="N", min=1, help="max_connections.")
    ] = None,
    pg_version: Annotated[
        int | None,
        typer.Option("--pg-version", metavar="MAJOR", help="PostgreSQL major version (default: newest supported, 18)."),
    ] = None,
    db_size: Annotated[
        str, typer.Option("--db-size", metavar="SIZE", help="less_than_ram | around_ram | more_than_ram.")
    ] = "around_ram",
    fmt: Annotated[RecommendFormat, typer.Option("--format", "-f", help="Output format.")] = RecommendFormat.yaml,
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
    if fmt == RecommendFormat.json:
        import json

        _out(json.dumps({"settings": result.settings, "reasons": result.reasons}, indent=2) + "\n")
    elif fmt == RecommendFormat.conf:
        width = max(len(f"{k} = {v}") for k, v in result.settings.items())
        lines = [f"# {title}"]
        lines += [f"{f'{k} = {v}':<{width}}  # {result.reasons[k]}" for k, v in result.settings.items()]
        _out("\n".join(lines) + "\n")
    else:
        _out(wl.as_profile_fragment(result, title))


class SettingsMode(StrEnum):
    changed = "changed"
    all = "all"
    none = "none"


@app.command()
def inspect(
    dsn: DsnOption = None,
    tables: Annotated[
        list[str] | None,
        typer.Option("--tables", metavar="GLOB", help="Glob of schema.table to adopt (repeatable), e.g. 'letta.*'."),
    ] = None,
    settings_mode: Annotated[
        SettingsMode,
        typer.Option("--settings", help="changed: settings a configuration file sets; all: every settable one."),
    ] = SettingsMode.changed,
    name: Annotated[str, typer.Option("--name", metavar="NAME", help="The adopted profile's name.")] = "adopted",
    out: Annotated[
        Path | None, typer.Option("--out", "-o", metavar="FILE", help="Write the profile here instead of stdout.")
    ] = None,
    into: Annotated[
        Path | None,
        typer.Option(
            "--into", metavar="FILE", help="Update this profile in place to the live values of what it declares."
        ),
    ] = None,
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
        found = read_live(conn, name=name, settings_mode=settings_mode.value, table_patterns=tables, as_of=as_of)
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

    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "adopted.yaml"
        path.write_text(text, encoding="utf-8")
        result = _plan_on(conn, load_profile(path, env={}), target, as_of)
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


@app.command()
def render(profile: Annotated[Path, typer.Argument(help="Profile file.")], set_: SetOption = None) -> None:
    """Print the fully resolved profile.

    extends merged, ${VAR} expanded, --set applied (passwords masked).

    Example:

    \b
      pgtune render profiles/letta.yaml --set settings.work_mem=64MB
    """
    from pgtune.profile.resolved import render_profile

    _out(render_profile(profile, set_ or ()))


@app.command()
def schema() -> None:
    """Print the JSON Schema of profiles.

    For editors: yaml-language-server, VS Code.

    Example:

    \b
      pgtune schema > pgtune.schema.json
    """
    from pgtune.profile.resolved import profile_json_schema

    _out(profile_json_schema())


@app.command()
def show(
    saved_plan: Annotated[Path, typer.Argument(help="A saved plan (pgtune plan --out FILE).")],
    fmt: Annotated[Format, typer.Option("--format", "-f", help="Output format.")] = Format.text,
) -> None:
    """Render a saved plan without connecting.

    Display only: nothing in the file is run.

    Example:

    \b
      pgtune show plan.json --format markdown
    """
    from pgtune.plan import record as planfile

    saved = planfile.load(saved_plan)
    if saved.cluster:  # each node's plan, as recorded
        nodes = [n for n in saved.record.get("nodes") or [] if isinstance(n, dict)]
        parts = [(f"== {n.get('role')} {n.get('node')} ==\n", planfile.plan_from_dict(n)) for n in nodes]
        for key, title in (("patroni", "Patroni's configuration"), ("parameter_group", "RDS parameter group")):
            store = saved.record.get(key)
            if isinstance(store, dict):  # the changes through the cluster's store, as recorded
                parts.append((f"== {title} ==\n", planfile.plan_from_dict(store)))
        if fmt == Format.json:
            import json

            text = json.dumps(saved.record, indent=2) + "\n"
        else:
            text = "".join(head + _render().FORMATS[fmt.value](p) + "\n" for head, p in parts)
    else:
        text = _render().FORMATS[fmt.value](saved.plan)
    if fmt != Format.json:  # a file from elsewhere: its control characters (terminal escapes) are shown, not sent
        text = CONTROL.sub(lambda m: f"\\x{ord(m.group()):02x}", text)
    if saved.edited:
        _err(f"warning: {saved_plan} was edited after pgtune wrote it (its digest differs)", always=True)
    if fmt == Format.text:
        _out_plan(text)
    else:
        _out(text)


def _show_plan(result: Plan, fmt: Format) -> None:
    text = _render().FORMATS[fmt.value](result)
    if fmt == Format.text:
        _out_plan(text)
    else:
        _out(text)


def _trace(statement: Statement, seconds: float) -> None:
    """--verbose: each statement apply ran, where, and how long it took."""
    where = "" if statement.target == "postgres" else f" [{statement.target}]"
    _err(f"    {seconds * 1000:8.1f} ms{where}  {statement.sql}")


def _show_progress(statement: Statement, sample: dict[str, Any]) -> None:
    """One self-overwriting line per long statement (terminals only): phase and blocks/tuples done."""
    name = statement.sql.split(" ON ")[0].rsplit(" ", 1)[-1]
    done = ""
    for unit in ("blocks", "tuples"):
        total = sample.get(f"{unit}_total") or 0
        if total:
            done = f" {unit} {sample[f'{unit}_done']}/{total} ({100 * sample[f'{unit}_done'] // total}%)"
            break
    sys.stderr.write(f"\r\x1b[K  {name}: {sample['phase']}{done}")
    sys.stderr.flush()


@app.command()
def version() -> None:
    """Print pgtune's version.

    Example:

    \b
      pgtune version
    """
    _out(f"pgtune {__version__}\n")


def main() -> None:
    """Entry point: run the app; render domain errors once, scrubbed, with exit code 1.

    The cyclic garbage collector is off for the whole (short-lived) CLI process: loading a
    profile and planning allocate hundreds of thousands of small objects and keep most of them,
    and the collector walked that growing heap again and again — 5.7 s of a 13 s plan at 10,000
    tables (bench/plan_scale.py). Reference counting still frees everything; the few cycles made
    are left to process exit. Library callers (the Ansible module, tests) keep their collector."""
    gc.disable()
    remember_environment()
    for arg in sys.argv[1:]:  # --dsn 'postgresql://u:secret@...' and the like, before anything can fail
        remember_dsn(arg)
    guard_command_line(sys.argv[1:])
    sys.argv[1:] = global_flags_first(sys.argv[1:])
    _exit(_run())


PASSWORD_ON_COMMAND_LINE = (
    "warning: a password was given on the command line, where other local users can read it (ps, "
    "/proc/PID/cmdline); pgtune hides it from the process title once it starts, but not before. Give it in "
    "the environment instead: PGPASSWORD or a passfile (~/.pgpass, $PGPASSFILE) for --dsn, "
    "$PGTUNE_PATRONI_PASSWORD for --patroni."
)


def guard_command_line(args: list[str]) -> None:
    """A password in an argument: warn, and replace the process title (what ps and /proc/PID/cmdline
    show) with the arguments masked — setproctitle does that portably; the window between exec and
    this call remains, which is why the warning steers to the environment."""
    secrets = sorted({p for a in args for p in passwords_in(a)}, key=len, reverse=True)
    if not secrets:
        return
    # by its place in a connection string; elsewhere only when it cannot be a name (a profile path)
    masked = [mask_values(mask_connection_strings(a), [s for s in secrets if distinctive(s)]) for a in args]
    try:
        import setproctitle

        setproctitle.setproctitle(" ".join(["pgtune", *(shlex.quote(a) for a in masked)]))
    except ImportError:  # pragma: no cover - a dependency; the warning still stands
        pass
    _err(PASSWORD_ON_COMMAND_LINE, always=True)


GLOBAL_FLAGS = frozenset({"-q", "--quiet", "-v", "--verbose", "--no-color"})


def global_flags_first(args: list[str]) -> list[str]:
    """`pgtune plan p.yaml -q` means `pgtune -q plan p.yaml`: the global flags are accepted anywhere
    (before a `--`), as users write them."""
    if "--" in args:
        cut = args.index("--")
        head, tail = args[:cut], args[cut:]
    else:
        head, tail = args, []
    flags = [a for a in head if a in GLOBAL_FLAGS]
    return flags + [a for a in head if a not in GLOBAL_FLAGS] + tail


def _exit(code: int) -> None:
    """End the process without tearing the heap down object by object: after planning 10,000
    tables that alone took 0.25 s. Output is flushed first; pgtune registers no atexit work."""
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(OSError, ValueError):  # a closed pipe (`pgtune plan | head`) is no error
            stream.flush()
    os._exit(code)


def _run() -> int:
    try:
        code = app(standalone_mode=False)
    except PgtuneError as exc:
        color = UI.color(sys.stderr)
        for message in exc.lines():  # a multi-line message keeps its lines; nothing else breaks or hides one
            first, *rest = (one_line(part) for part in message.split("\n"))
            text = "\n".join([first if _has_location(first) else f"Error: {first}", *rest])
            _err(colorize_error(text) if color else text, always=True)
        return exc.exit_code
    except typer.Exit as exc:
        return exc.exit_code
    except typer.Abort:
        _err("Aborted.", always=True)
        return 1
    except Exception as exc:  # click usage errors and anything unexpected
        if callable(getattr(exc, "show", None)) and hasattr(exc, "exit_code"):  # a (vendored) ClickException
            exc.show()  # type: ignore[attr-defined]
            return exc.exit_code or 1
        message = scrub_known(str(exc))  # every secret of the environment and the command line
        _err(f"internal error: {type(exc).__name__}: {message}", always=True)
        return 1
    return code if isinstance(code, int) else 0


def _has_location(line: str) -> bool:
    head = line.split(": ", 1)[0]
    return head.count(":") >= 2 and head.rsplit(":", 2)[-1].isdigit()
