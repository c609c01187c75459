"""`pgtune plan`, `pgtune apply` and `pgtune show`: parse, call the one plan or the one apply sequence
over whichever target the options name (pgtune.targets: one server, a primary with standbys, a
Patroni cluster, an RDS parameter group ...), render, exit. Nothing here knows a target: their options
come from their declarations, their plans are printed by the plan's type."""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from pgtune.base.errors import ApplyFailed, ApplyRefused
from pgtune.cli.app import CONTROL, Format, _confirmer, _err, _out, _out_plan, _render, one_line
from pgtune.cli.flags import argument, flag
from pgtune.cli.options import (
    AsOfOption,
    ExcludeOption,
    NodesOption,
    SandboxOption,
    SchemaOption,
    SetOption,
    _target,
    target_values,
    with_target_options,
)
from pgtune.cli.terminal import UI

if TYPE_CHECKING:
    from pgtune.advice.impact.model import Impact
    from pgtune.plan.model import Plan, Statement
    from pgtune.profile.loader import LoadedProfile
    from pgtune.targets import Target, Where


@contextlib.contextmanager
def _where(dsns: list[str] | None, sandbox: bool, schema: Path | None, given: dict[str, Any]) -> Iterator[Where]:
    """What the user named: their connection strings (one resolved as libpq would, or a sandbox
    started for this command) and the targets' options."""
    from pgtune.targets import Where

    options = target_values(given)
    if sandbox and (options or (dsns and len(dsns) > 1)):
        raise ApplyRefused("--sandbox is one server; give a cluster's nodes without it")
    if (dsns and len(dsns) > 1) or options:
        if schema is not None:
            raise ApplyRefused("--schema is only used with --sandbox")
        yield Where(tuple(dsns or ()), options=options)
        return
    with _target(dsns[0] if dsns else None, sandbox, schema) as dsn:
        yield Where((dsn,))


def _cluster(result: object) -> bool:
    from pgtune.plan.cluster import ClusterPlan

    return isinstance(result, ClusterPlan)


def _print(result: Any, fmt: Format, impact: Impact | None = None, limit: float | None = None) -> None:
    """A plan of any target, in the format asked; the workload impact after it when measured."""
    if fmt == Format.json and impact is not None:
        import json

        from pgtune.plan.codec import cluster_to_dict, plan_to_dict

        doc = cluster_to_dict(result) if _cluster(result) else plan_to_dict(result)
        _out(json.dumps({**doc, "impact": impact.to_dict()}, indent=2) + "\n")
        return
    if _cluster(result):
        from pgtune.render.cluster import render_cluster_json, render_cluster_markdown, render_cluster_text

        renderers = {Format.text: render_cluster_text, Format.markdown: render_cluster_markdown}
        text = renderers.get(fmt, render_cluster_json)(result)
    else:
        text = _render().FORMATS[fmt.value](result)
    if impact is not None:
        from pgtune.render.impact import render_impact_markdown, render_impact_text

        text += (render_impact_markdown if fmt == Format.markdown else render_impact_text)(impact, limit)
    if fmt == Format.text:
        _out_plan(text)
    else:
        _out(text)


def _measure_impact(result: Any, dsn: str, loaded: LoadedProfile, top: int) -> Impact:
    """The workload impact of a plan's changes (a cluster's: the primary's and its store's), on the
    database the plan was made for."""
    from pgtune.advice.impact import Impact, Options, measure
    from pgtune.integrations.postgres import connect

    if not dsn:  # an operator's manifest planned offline: no server to plan the workload on
        return Impact("", missing=["the workload impact needs --dsn to the database the workload runs on"])

    if _cluster(result):
        changes = [*result.plans[0].plan.changes, *(result.dcs.changes if result.dcs is not None else ())]
    else:
        changes = list(result.changes)
    options = Options(top=top, trusted_extensions=tuple(loaded.profile.trusted_extensions))
    with connect(dsn) as conn:
        return measure(conn, changes, options)


def plan(
    profile: Annotated[Path, argument("plan.profile")],
    dsn: NodesOption = None,
    fmt: Annotated[Format, flag("plan.fmt")] = Format.text,
    detailed_exitcode: Annotated[bool, flag("detailed_exitcode")] = False,
    sandbox: SandboxOption = False,
    schema: SchemaOption = None,
    as_of: AsOfOption = None,
    out: Annotated[Path | None, flag("plan.out")] = None,
    set_: SetOption = None,
    exclude: ExcludeOption = None,
    privileges_of: Annotated[str | None, flag("privileges_of")] = None,
    impact: Annotated[bool, flag("plan.impact")] = False,
    impact_if_available: Annotated[bool, flag("plan.impact_if_available")] = False,
    impact_top: Annotated[int, flag("plan.impact_top")] = 200,
    max_regression: Annotated[float | None, flag("plan.max_regression")] = None,
    **target_options: Any,
) -> None:
    """Print the ordered change plan for a server.

    Compares the live server with the profile; nothing is changed.

    Example:

    \b
      pgtune plan profiles/letta.yaml --dsn postgresql://deploy@db/letta --format markdown
    """
    from pgtune.plan import record as planfile
    from pgtune.profile.loader import load_profile
    from pgtune.targets import choose, sequence, workflow

    loaded = load_profile(profile, set_ or ())
    if out is not None and sandbox:
        raise ApplyRefused("--out makes no sense with --sandbox: the server the plan was made for is gone")
    inputs = workflow.Inputs(loaded, as_of, tuple(exclude or ()), privileges_of=privileges_of)
    asked = impact or max_regression is not None
    measured = None
    with _where(dsn, sandbox, schema, target_options) as where:
        result = sequence.preview(choose(where), inputs)
        if asked or impact_if_available:
            measured = _measure_impact(result, where.base_dsn, loaded, impact_top)
    _print(result, fmt, measured, max_regression)
    if out is not None:
        planfile.save(result, loaded, as_of, out, exclude or ())
        if _cluster(result):
            _err(f"Saved the cluster's plan to {out}: apply it with the same nodes and --plan {out}")
        else:
            flags = (f" --as-of {as_of}" if as_of else "") + "".join(f" --exclude '{p}'" for p in exclude or ())
            flags += "".join(f" --set '{v}'" for v in set_ or ())
            _err(f"Saved the plan to {out}. To apply exactly these changes: pgtune apply {profile} --plan {out}{flags}")
    if measured is not None and measured.missing and asked:
        raise typer.Exit(3)
    regressed = measured.regressions(max_regression) if measured is not None and max_regression is not None else []
    if regressed:
        listed = ", ".join(f"queryid {s.queryid} as {s.role} ({s.ratio:+.0%})" for s in regressed)
        _err(f"{len(regressed)} statements regress by more than {max_regression:.0%} (--max-regression): {listed}")
        raise typer.Exit(4)
    if detailed_exitcode and not result.empty:
        raise typer.Exit(2)


def apply(
    profile: Annotated[Path | None, argument("apply.profile")] = None,
    dsn: NodesOption = None,
    saved_plan: Annotated[Path | None, flag("apply.plan")] = None,
    dry_run: Annotated[bool, flag("dry_run")] = False,
    yes: Annotated[bool, flag("yes")] = False,
    wait: Annotated[float, flag("wait")] = 0,
    lock_timeout: Annotated[str, flag("lock_timeout")] = "5s",
    statement_timeout: Annotated[str | None, flag("statement_timeout")] = None,
    retries: Annotated[int, flag("retries")] = 3,
    allow_hazards: Annotated[str, flag("allow_hazards")] = "",
    sandbox: SandboxOption = False,
    schema: SchemaOption = None,
    as_of: AsOfOption = None,
    set_: SetOption = None,
    exclude: ExcludeOption = None,
    restart: Annotated[bool, flag("restart")] = False,
    **target_options: Any,
) -> None:
    """Converge a server to a profile.

    Plans, then executes under pgtune's apply lock: one reload, then a verifying re-plan.
    With --plan FILE, the plan is still derived afresh from PROFILE and the server, and runs only if
    it equals the saved one in every change, statement, lock and hazard.

    Example:

    \b
      pgtune apply profiles/letta.yaml --plan plan.json --lock-timeout 2s
    """
    from pgtune.plan import record as planfile
    from pgtune.profile.loader import load_profile
    from pgtune.targets import choose, sequence, workflow
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
    with _where(dsn, sandbox, schema, target_options) as where:
        target = choose(where)
        if dry_run:
            result = sequence.preview(target, inputs)
            if saved is not None:
                planfile.verify(saved, result)
            _dry_run(result)
            return
        cluster = len(where.dsns) > 1 or bool(where.options)
        confirm = _confirmer(
            yes or saved is not None, "Apply these changes to the cluster?" if cluster else "Apply these changes?"
        )

        def show(fresh: Any) -> None:
            if not UI.quiet or fresh.empty:
                _print(fresh, Format.text)

        clear = "\r\x1b[K" if options.progress else ""  # erase a progress line
        # Live outcomes and restarts where someone watches (a terminal) or asked (-v, beside the
        # statements); otherwise the report lists each change, and the restarts, once.
        live = UI.verbose or (sys.stderr.isatty() and not UI.quiet)
        watching = sys.stderr.isatty() and not UI.quiet
        done = sequence.apply(
            target,
            inputs,
            options,
            wait=wait,
            allowed=allowed,
            restart=restart,
            saved=saved,
            show=show,
            confirm=confirm,
            on_outcome=(lambda o: _err(f"{clear}  {o.status}: {one_line(o.change.object)}"))
            if live and not cluster
            else None,
            on_step=(lambda text: _err(f"  {one_line(text)}")) if watching and cluster else None,
        )
        _report(done, target, where, watching)


def _dry_run(result: Any) -> None:
    """The plan and the exact SQL of each node (and of what goes through a cluster's store)."""
    _print(result, Format.text)
    if not _cluster(result):
        if not result.empty:
            _out("\n" + _render().render_sql(result))
        return
    for p in result.plans:
        if not p.plan.empty:
            _out(f"\n-- on {p.node.role} {p.node.name}\n" + _render().render_sql(p.plan))
    if result.dcs is not None and not result.dcs.empty:
        through = "Patroni" if result.store == "patroni" else f"RDS parameter group {result.store_name}"
        _out(f"\n-- through {through}\n" + _render().render_sql(result.dcs))


def _report(done: Any, target: Target, where: Where, watching: bool) -> None:
    """What apply did, node by node; the restarts; what remains; the exit code."""
    from pgtune.integrations.postgres import redact

    if not _cluster(done.plan):
        report = next(iter(done.reports.values()), None)
        if report is None:
            return
        if done.after_error is not None:
            _err(f"Error: could not re-read the server after apply: {done.after_error}", always=True)
        _out(_render().render_apply_report(report, done.statuses(next(iter(done.reports)))))
        dsn = redact(where.base_dsn)
        if done.after is None:
            raise ApplyFailed(
                "the outcome above is what pgtune executed; the server could not be read afterwards. "
                f"Run `pgtune plan` against {dsn} once it is back to see what remains"
            )
        if report.failed:
            raise ApplyFailed(
                f"apply failed; nothing after the failed change ran. Re-run `pgtune apply` to converge, or "
                f"`pgtune plan` against {dsn} to see what remains"
            )
        return
    from pgtune.render.cluster import restart_lines

    for name, report in done.reports.items():
        _out(f"\n== {name} ==" + _render().render_apply_report(report, done.statuses(name)).rstrip("\n") + "\n")
    if done.restarts is not None and done.restarts.steps and not watching:
        _out("\nRestarts:\n" + "".join(f"  {line}\n" for line in done.restarts.steps))
    if done.after_error is not None:
        _err(f"Error: could not re-read the cluster after apply: {done.after_error}", always=True)
    if done.failed:
        raise ApplyFailed(
            "apply failed on a node; nothing after the failed change ran. Re-run `pgtune apply` to converge"
        )
    if done.after is not None and (done.reports or done.restarts):
        _out("\n" + "\n".join(restart_lines(done.after)) + "\n")
        finish = getattr(target, "finish", "")
        if done.after.restart and finish:
            _out(f"Finish with: {finish}\n")


def show(
    saved_plan: Annotated[Path, argument("show.saved_plan")],
    fmt: Annotated[Format, flag("show.fmt")] = Format.text,
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


def register(app: typer.Typer) -> None:
    app.command()(with_target_options(apply=False)(plan))
    app.command()(with_target_options(apply=True)(apply))


__all__ = ["Plan", "apply", "plan", "register", "show"]
