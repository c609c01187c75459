"""The one apply sequence (`targets.sequence.apply`), in the fast lane over an in-memory target: its
steps in order, every refusal before anything runs (gate, confirmation, a saved record that differs,
--restart where the target cannot restart), restarts outside the lock, the re-read — and a toy
target added the way a real one is, by a module's chooser in the registry, with nothing else."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from pgtune import targets
from pgtune.base.errors import ApplyRefused
from pgtune.plan import record as planfile
from pgtune.plan.model import Address, Change, Hazard, Plan, ServerInfo, Statement
from pgtune.plan.report import APPLIED, FAILED, ApplyReport, Outcome
from pgtune.profile.loader import load_profile
from pgtune.render.text import render_apply_report, render_text
from pgtune.targets import RestartReport, Where, sequence
from pgtune.targets.executor import ExecOptions
from pgtune.targets.workflow import Inputs

SERVER = ServerInfo("16.2", 160002)


def _change(name: str, hazards: tuple[Hazard, ...] = ()) -> Change:
    stmt = Statement(f"ALTER SYSTEM SET {name} = '1'", False)
    return Change(Address("setting", name), "update", "0", "1", (stmt,), reload_required=True, hazards=hazards)


@dataclass
class ToyTarget:
    """A target in memory: it records what the sequence asks of it."""

    plans: list[Plan]  # what each derive returns, in turn
    name: str = "toy"
    restarts: bool = True
    fail: bool = False
    steps: list[str] = field(default_factory=list)

    @contextmanager
    def open(self) -> Iterator[ToySession]:
        self.steps.append("open")
        try:
            yield ToySession(self)
        finally:
            self.steps.append("close")


@dataclass
class ToySession:
    target: ToyTarget

    @contextmanager
    def lock(self, wait: float) -> Iterator[None]:
        self.target.steps.append("lock")
        try:
            yield
        finally:
            self.target.steps.append("unlock")

    def derive(self, inputs: Inputs) -> Plan:
        self.target.steps.append("derive")
        return self.target.plans.pop(0)

    def gated(self, plan: Plan) -> list[Plan]:
        self.target.steps.append("gated")
        return [plan]

    def execute(
        self, plan: Plan, inputs: Inputs, options: ExecOptions, on_outcome: Callable[[Outcome], None] | None
    ) -> dict[str, ApplyReport]:
        self.target.steps.append("execute")
        status = FAILED if self.target.fail else APPLIED
        return {"toy": ApplyReport([Outcome(c, status) for c in plan.changes])}

    def restart(self, inputs: Inputs, on_step: Callable[[str], None] | None) -> RestartReport:
        self.target.steps.append("restart")
        return RestartReport(["restarted toy"], ["toy"])

    def reread(self, inputs: Inputs) -> Plan:
        self.target.steps.append("reread")
        return self.target.plans.pop(0)


@pytest.fixture
def inputs(tmp_path: Path) -> Inputs:
    path = tmp_path / "p.yaml"
    path.write_text("name: p\nsettings: {work_mem: 1MB}\n", encoding="utf-8")
    return Inputs(load_profile(path))


def _plan(*changes: Change) -> Plan:
    return Plan("p", SERVER, tuple(changes))


def test_the_sequence_in_order(inputs: Inputs) -> None:
    target = ToyTarget([_plan(_change("work_mem")), _plan()])
    seen: list[str] = []

    def show(plan: Plan) -> None:
        target.steps.append("show")
        seen.append(render_text(plan))

    def confirm(plan: Plan) -> bool:
        target.steps.append("confirm")
        return True

    done = sequence.apply(target, inputs, ExecOptions(), show=show, confirm=confirm, restart=True)
    assert target.steps == [
        "open", "lock", "derive", "show", "gated", "confirm", "execute", "unlock", "restart", "reread", "close",
    ]  # fmt: skip
    assert "~ setting work_mem: 0 -> 1" in seen[0]
    assert done.after is not None and done.after.empty and not done.failed
    assert done.restarts is not None and done.restarts.done == ["toy"]
    assert "applied: setting work_mem" in render_apply_report(done.reports["toy"], done.statuses("toy"))


def test_an_empty_plan_runs_nothing_and_reads_nothing_again(inputs: Inputs) -> None:
    target = ToyTarget([_plan()])
    done = sequence.apply(target, inputs, ExecOptions(), confirm=lambda _p: pytest.fail("asked to confirm nothing"))
    assert target.steps == ["open", "lock", "derive", "unlock", "close"]
    assert done.reports == {} and done.after is None


def test_refusals_run_nothing(inputs: Inputs) -> None:
    gated = _change("work_mem", (Hazard("DELETES_DATA", "drops rows"),))
    target = ToyTarget([_plan(gated)])
    with pytest.raises(ApplyRefused, match="gated hazards DELETES_DATA"):
        sequence.apply(target, inputs, ExecOptions(), confirm=lambda _p: pytest.fail("asked before the gate"))
    assert "execute" not in target.steps and target.steps[-2:] == ["unlock", "close"]

    allowed = ToyTarget([_plan(gated), _plan()])
    sequence.apply(allowed, inputs, ExecOptions(), allowed={"DELETES_DATA"})
    assert "execute" in allowed.steps

    declined = ToyTarget([_plan(_change("work_mem"))])
    with pytest.raises(ApplyRefused, match="apply cancelled"):
        sequence.apply(declined, inputs, ExecOptions(), confirm=lambda _p: False)
    assert "execute" not in declined.steps

    cannot = ToyTarget([_plan(_change("work_mem"))], restarts=False)
    with pytest.raises(ApplyRefused, match="--restart: pgtune does not restart a toy"):
        sequence.apply(cannot, inputs, ExecOptions(), restart=True)
    assert cannot.steps == []  # refused before connecting


def test_a_saved_record_that_differs_is_refused_under_the_lock(inputs: Inputs, tmp_path: Path) -> None:
    reviewed = _plan(_change("work_mem"))
    path = tmp_path / "plan.json"
    planfile.save(reviewed, inputs.loaded, None, path)
    saved = planfile.load(path)
    moved = ToyTarget([_plan(_change("work_mem"), _change("random_page_cost"))])
    with pytest.raises(planfile.PlanFileError):
        sequence.apply(moved, inputs, ExecOptions(), saved=saved)
    assert moved.steps == ["open", "lock", "derive", "unlock", "close"]
    same = ToyTarget([_plan(_change("work_mem")), _plan()])
    sequence.apply(same, inputs, ExecOptions(), saved=saved)
    assert "execute" in same.steps


def test_a_failure_stops_before_restarts_but_is_read_again(inputs: Inputs) -> None:
    target = ToyTarget([_plan(_change("work_mem")), _plan(_change("work_mem"))], fail=True)
    done = sequence.apply(target, inputs, ExecOptions(), restart=True)
    assert done.failed and "restart" not in target.steps and "reread" in target.steps


def test_a_target_is_its_module_and_the_registry(inputs: Inputs) -> None:
    """What a new target touches: a chooser registered by its module; `choose`, the sequence, the
    renderers and the reports need nothing else."""
    toy = ToyTarget([_plan(_change("work_mem")), _plan()])
    targets.choose(Where())  # the built-in targets are registered first
    chooser = lambda where: toy if where.options.get("toy") else None  # noqa: E731
    targets.register(chooser, first=True)
    try:
        assert targets.choose(Where(("host=a",), options={"toy": "yes"})) is toy
        assert type(targets.choose(Where(("host=a",)))).__name__ == "Server"
        assert type(targets.choose(Where(("host=a", "host=b")))).__name__ == "Replicas"
        assert type(targets.choose(Where(("",), "http://p:8008"))).__name__ == "PatroniCluster"
        done = sequence.apply(targets.choose(Where(options={"toy": "yes"})), inputs, ExecOptions())
        assert [o.status for o in done.reports["toy"].outcomes] == [APPLIED]
        assert sequence.preview(ToyTarget([_plan()]), inputs).empty
    finally:
        targets._CHOOSERS.remove(chooser)


def test_a_target_written_as_a_package_is_found_without_being_listed() -> None:
    """A new target is its package: the registry looks for the packages under pgtune.targets."""
    found = targets.target_packages()
    assert {"pgtune.targets.azure", "pgtune.targets.cloudsql", "pgtune.targets.operators"} <= set(found)
    assert not set(found) & set(targets.TARGET_MODULES)
    flags = {o.flag for o in targets.declared_options()}
    assert {"--azure-server", "--cloudsql-instance", "--cnpg-cluster", "--rds-parameter-group"} <= flags


def test_two_targets_options_together_are_refused_and_a_target_loads_only_when_chosen() -> None:
    """Each target package declares its options in its __init__ and imports the target only when it
    takes the arguments; two targets' options at once are refused, naming both."""
    import subprocess
    import sys

    code = (
        "import sys\n"
        "from pgtune import targets\n"
        "from pgtune.base.errors import ApplyRefused\n"
        "flags = {o.flag for o in targets.declared_options()}\n"
        "assert {'--azure-server', '--cloudsql-instance', '--patroni', '--rds-parameter-group'} <= flags, flags\n"
        "assert not [m for m in sys.modules if m.startswith('pgtune.targets.') and m.endswith('.target')]\n"
        "chosen = targets.choose(targets.Where(('host=a',), options={'azure_server': '/subscriptions/s'}))\n"
        "assert type(chosen).__name__ == 'AzureServer'\n"
        "assert [m for m in sys.modules if m.endswith('.target')] == ['pgtune.targets.azure.target']\n"
        "try:\n"
        "    targets.choose(targets.Where(('host=a',), 'http://p:8008', {'cloudsql_instance': 'p:i'}))\n"
        "except ApplyRefused as exc:\n"
        "    assert 'options of two targets given' in str(exc) and 'Cloud SQL' in str(exc), exc\n"
        "else:\n"
        "    raise AssertionError('two targets were accepted')\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stderr
