"""Targets: where a plan runs — one server, a primary with standbys, a Patroni cluster, an RDS
parameter group. Each is a `Target` whose session knows how to lock, derive, execute, restart and
re-read on its nodes; `sequence.apply` is the one apply sequence over any of
them (lock, derive, verify a saved record, show, gate, confirm, execute, restart, re-read), and
`sequence.preview` the one plan.

Adding a target: a package of its own under pgtune/targets/ with a `Target` and a chooser that
registers itself on import — found by looking, nothing else to edit (tests/test_targets.py registers
a toy target the same way).
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Generic, Protocol, TypeVar

from pgtune.base.errors import ApplyRefused

if TYPE_CHECKING:
    from pgtune.kinds.offline import ServiceCatalog
    from pgtune.plan.cluster import ClusterPlan, RestartStep
    from pgtune.plan.model import Address, Plan
    from pgtune.plan.report import ApplyReport, Outcome
    from pgtune.targets.executor import ExecOptions
    from pgtune.targets.workflow import Inputs

P = TypeVar("P", "Plan", "ClusterPlan")
DCS = "patroni"
"""The report key of changes made through Patroni's DCS (nodes' reports are keyed by node name)."""
GROUP = "parameter group"
"""The report key of changes made to an RDS parameter group."""


@dataclass
class RestartReport:
    steps: list[str] = field(default_factory=list)  # what was done, in order, for people
    done: list[str] = field(default_factory=list)  # nodes restarted

    def step(self, text: str, on_step: Callable[[str], None] | None = None) -> None:
        """Record a step, and show it as it happens when the caller watches."""
        self.steps.append(text)
        if on_step is not None:
            on_step(text)


def restart_walk(
    steps: Sequence[RestartStep],
    begin: Callable[[RestartStep], tuple[str, Callable[[], object]]],
    back: Callable[[RestartStep], str],
    on_step: Callable[[str], None] | None = None,
) -> RestartReport:
    """The one restart walk of every target: each node in the plan's order (pgtune.plan.cluster's
    restart-order rules), one at a time. `begin` says how a node restarts and gives the call that
    does it (said first, so a watcher sees what is under way); `back` waits (bounded) until it is
    back, raising when it is not, and says in what state — only then the next."""
    report = RestartReport()
    for step in steps:
        text, restart = begin(step)
        report.step(text, on_step)
        restart()
        state = back(step)
        report.done.append(step.node)
        report.step(f"{step.node} is back: {state}", on_step)
    return report


class Session(Protocol[P]):
    """An open target: its connections (and API clients) for one plan or apply."""

    def lock(self, wait: float) -> AbstractContextManager[None]:
        """pgtune's apply lock, where the target keeps it (the primary's database)."""
        ...

    def derive(self, inputs: Inputs) -> P:
        """The plan the target needs now, derived afresh from the profile and the live state."""
        ...

    def gated(self, plan: P) -> list[Plan]:
        """The plans whose gated hazards must be allowed before anything runs."""
        ...

    def execute(
        self, plan: P, inputs: Inputs, options: ExecOptions, on_outcome: Callable[[Outcome], None] | None
    ) -> dict[str, ApplyReport]:
        """Run the plan on its nodes in the target's order; stop at the first failure. Node -> report."""
        ...

    def restart(self, inputs: Inputs, on_step: Callable[[str], None] | None) -> RestartReport:
        """Restart what is pending, in the safe order (only targets with `restarts`)."""
        ...

    def reread(self, inputs: Inputs) -> P:
        """The plan the target needs after an apply (fresh connections: nodes may have restarted)."""
        ...


class Target(Protocol):
    @property
    def name(self) -> str:
        """For messages: "server", "primary with standbys", "Patroni cluster" ..."""
        ...

    @property
    def restarts(self) -> bool:
        """The target restarts its nodes itself (apply --restart)."""
        ...

    def open(self) -> AbstractContextManager[Session[Any]]:
        """Connect (and reach its APIs); the session lives until the block ends."""
        ...


@dataclass
class Applied(Generic[P]):
    """What an apply did: the plan that ran (empty: nothing to do), each node's report, what the
    target needs afterwards (None: not read again — `after_error` says why when it failed), restarts."""

    plan: P
    reports: dict[str, ApplyReport] = field(default_factory=dict)
    after: P | None = None
    after_error: str | None = None
    restarts: RestartReport | None = None

    @property
    def failed(self) -> bool:
        return any(r.failed for r in self.reports.values())

    def statuses(self, node: str) -> dict[Address, str]:
        """Each applied change on `node` as the re-read shows it (restart pending, unconverged)."""
        from pgtune.plan.cluster import ClusterPlan
        from pgtune.plan.report import statuses

        report, after = self.reports.get(node), self.after
        if report is None or after is None:
            return {}
        if not isinstance(after, ClusterPlan):
            return statuses(report, after)
        if node in (DCS, GROUP) and after.dcs is not None:
            return statuses(report, after.dcs)
        mine = next((p.plan for p in after.plans if p.node.name == node), None)
        return statuses(report, mine) if mine is not None else {}


@dataclass(frozen=True)
class Where:
    """What the user named: connection strings (one, or one per node), and the options the targets
    declare (a Patroni REST API, a parameter group, a region ...), by key."""

    dsns: tuple[str, ...] = ()
    patroni: str | None = None  # the Patroni target's option, also given on its own
    options: Mapping[str, str] = field(default_factory=dict)

    @property
    def base_dsn(self) -> str:
        return self.dsns[0] if self.dsns else ""

    def option(self, key: str) -> str | None:
        if key == "patroni" and self.patroni is not None:
            return self.patroni
        return self.options.get(key)


@dataclass(frozen=True)
class TargetOption:
    """A command-line option a target declares: the CLI offers it on plan and apply (or apply only),
    and passes its value in `Where.options[key]` — "yes" for a switch."""

    key: str
    flag: str  # --rds-parameter-group
    help: str
    metavar: str | None = None  # None: a switch
    apply_only: bool = False


@dataclass(frozen=True)
class OfflineService:
    """A managed service whose published parameter list `pgtune validate --service KEY` checks a
    profile against, with no account and no network (the target's package bundles the list)."""

    key: str  # azure
    about: str  # what the list is, for `pgtune version --verbose`
    catalog: Callable[[], ServiceCatalog]


Chooser = Callable[[Where], "Target | None"]
TARGET_MODULES = ("pgtune.targets.replicas", "pgtune.targets.server")
"""The general targets, written as one module each and tried in this order after every target that
declares options. A target with options is a package of its own (`azure/`, `cloudsql/`, `operators/`,
`patroni/`, `rds/`), found by looking: its `__init__` declares (options, services, a chooser that
imports the target when it takes the arguments) and its modules hold the rest — a new target is its
package and nothing else, and a command line loads no target to learn the options."""
_CHOOSERS: list[Chooser] = []
_OPTIONS: list[TargetOption] = []
_ABOUT: list[tuple[str, ...] | Callable[[], tuple[str, ...]]] = []
_SERVICES: dict[str, OfflineService] = {}
_SPECIFIC: list[Chooser] = []  # the choosers of targets that declare options: one may take them
_declared = False
_loaded = False


def register(
    chooser: Chooser,
    *,
    first: bool = False,
    options: tuple[TargetOption, ...] = (),
    about: tuple[str, ...] | Callable[[], tuple[str, ...]] = (),
    services: tuple[OfflineService, ...] = (),
) -> None:
    """A target's chooser, the options it declares, what it rests on (`pgtune version --verbose`; a
    function when saying so means importing what the target is built on) and the managed services
    whose parameter lists it bundles for `validate --service`."""
    _ABOUT.append(about)
    _ABOUT.append(tuple(f"validate --service {s.key}: {s.about}" for s in services))
    _SERVICES.update((s.key, s) for s in services)
    if options:
        _SPECIFIC.append(chooser)
    if first:
        _CHOOSERS.insert(0, chooser)
    elif chooser not in _CHOOSERS:
        _CHOOSERS.append(chooser)
    _OPTIONS.extend(o for o in options if o not in _OPTIONS)


def target_packages() -> list[str]:
    """Every subpackage of pgtune.targets, in name order: the targets that are packages register on import."""
    import pkgutil

    return sorted(f"{__name__}.{m.name}" for m in pkgutil.iter_modules(__path__) if m.ispkg)


def _declare() -> None:
    """Import the target packages: their __init__ declares (options, services, a chooser) and holds
    nothing else, so a command line learns every option without loading any target."""
    global _declared
    if not _declared:
        for module in target_packages():
            importlib.import_module(module)
        _declared = True


def _load() -> None:
    global _loaded
    if not _loaded:
        _declare()
        for module in TARGET_MODULES:
            importlib.import_module(module)
        _loaded = True


def declared_options() -> list[TargetOption]:
    """Every option the targets declare (for the CLI to offer)."""
    _declare()
    return list(_OPTIONS)


def declared_about() -> list[str]:
    """What the targets' rules rest on (an operator's release, ...), for `pgtune version --verbose`."""
    _load()
    lines: list[str] = []
    for about in _ABOUT:
        lines.extend(line for line in (about() if callable(about) else about) if line not in lines)
    return lines


def declared_services() -> dict[str, OfflineService]:
    """The services `validate --service` can check against, by key."""
    _declare()
    return dict(sorted(_SERVICES.items()))


def choose(where: Where) -> Target:
    """The target the arguments name. The targets that declare options are asked first, and only one
    may take what was given (two targets' options together are refused, whichever was found first);
    then the others (one server, replicas) in order."""
    _load()
    taken = [target for chooser in _SPECIFIC if (target := chooser(where)) is not None]
    if len(taken) > 1:
        raise ApplyRefused(f"options of two targets given: {taken[0].name} and {taken[1].name}; give one")
    if taken:
        return taken[0]
    for chooser in _CHOOSERS:
        if chooser not in _SPECIFIC and (target := chooser(where)) is not None:
            return target
    raise ApplyRefused(
        "no target: give --dsn (once per node for a cluster), --patroni URL or --rds-parameter-group NAME"
    )
