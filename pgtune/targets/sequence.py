"""The one plan and the one apply sequence, over any target.

The rules every caller gets (the CLI, the Ansible module, tests):
- what runs is a plan derived afresh under the apply lock, never a plan read from a file;
- a saved plan only decides *whether* to run: the fresh plan must equal it in every field;
- gated hazards are read from the plan that runs, every node's, after the locked re-plan;
- nothing runs on a refusal (gate, confirmation) — and --restart is refused up front where the
  target cannot restart.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from pgtune.base.errors import ApplyRefused, PgtuneError
from pgtune.plan import record as planfile
from pgtune.targets import Applied, Target
from pgtune.targets.workflow import Inputs, gate

if TYPE_CHECKING:
    from pgtune.plan.report import Outcome
    from pgtune.targets.executor import ExecOptions


def preview(target: Target, inputs: Inputs) -> Any:
    """The plan (plan, apply --dry-run): derived on the target, nothing locked or run."""
    with target.open() as session:
        return session.derive(inputs)


def apply(
    target: Target,
    inputs: Inputs,
    options: ExecOptions,
    *,
    wait: float = 0,
    allowed: set[str] | None = None,
    saved: planfile.SavedPlan | None = None,
    show: Callable[[Any], None] | None = None,
    confirm: Callable[[Any], bool] | None = None,
    on_outcome: Callable[[Outcome], None] | None = None,
    restart: bool = False,
    on_step: Callable[[str], None] | None = None,
) -> Applied[Any]:
    """Lock → derive → verify the saved record → show → gate → confirm → execute; then restart
    (with `restart`, outside the lock: restarts take minutes) and re-read what the target needs."""
    if restart and not target.restarts:
        finish = getattr(target, "finish", "") or (
            "restart the nodes in the plan's order yourself (or with the Ansible example)"
        )
        raise ApplyRefused(f"--restart: pgtune does not restart a {target.name}; {finish}")
    with target.open() as session:
        with session.lock(wait):
            plan = session.derive(inputs)
            if saved is not None:
                planfile.verify(saved, plan)
            if show is not None:
                show(plan)
            result: Applied[Any] = Applied(plan)
            if not plan.empty:
                for p in session.gated(plan):
                    if not p.empty:
                        gate(p, allowed or set())
                if confirm is not None and not confirm(plan):
                    raise ApplyRefused("apply cancelled; nothing was executed")
                result.reports = session.execute(plan, inputs, options, on_outcome)
        if restart and not result.failed:
            result.restarts = session.restart(inputs, on_step)
        if result.reports or result.restarts is not None:
            try:
                result.after = session.reread(inputs)
            except PgtuneError as exc:  # e.g. a node restarted or went away: the reports still stand
                result.after_error = str(exc)
    return result
