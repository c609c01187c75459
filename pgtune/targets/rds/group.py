"""Server-wide settings against an RDS parameter group (pure): values translated to the group's
units, formulas compared as text and evaluated per instance class, the apply method derived.

The rules, each from the behaviour it avoids (docs/managed.md has the sources):
- a value is sent in the server's unit (`shared_buffers: 4GB` -> `524288`, 8 kB pages), booleans
  as `1`/`0`, lists comma-joined: what RDS stores and what `pg_settings` reads back;
- the apply method follows the parameter (`pending-reboot` for static, `immediate` for dynamic)
  and is never compared: AWS ignores a method-only change, so a diff on it would never converge;
- only `Source=user` rows are the group's settings; an engine default is not drift, and a value
  equal to the engine default needs no row;
- a user-set key the profile does not declare is reset, that key alone (the profile owns the group).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field

from pgtune.base.errors import ProfileError
from pgtune.base.guc import Canonical, GucSpec, InvalidValue
from pgtune.integrations.rds import classes
from pgtune.integrations.rds.api import Group, GroupParameter, Instance
from pgtune.integrations.rds.formula import FormulaError, Number, looks_like_formula, parse, same, type_problem
from pgtune.kinds import KindResult
from pgtune.kinds.settings.model import KIND, SESSION_SOURCES, DesiredSetting, SettingsCatalog, TypedSetting
from pgtune.plan.model import Address, Change, GroupEdit, Notice, Statement
from pgtune.profile.model import FormulaValue

SCOPE = "parameter-group"
CLUSTER_SCOPE = "cluster-parameter-group"
STATIC, DYNAMIC = "pending-reboot", "immediate"


@dataclass(frozen=True)
class GroupState:
    """What the RDS API holds for one group: the group, its rows by lower-case name, the instances
    that use it with each one's apply status for it, which of them are readers, and the instance
    `--dsn` reaches (None when pgtune cannot tell). `cluster`: an Aurora cluster parameter group."""

    group: Group
    rows: dict[str, GroupParameter]
    instances: tuple[Instance, ...]
    statuses: dict[str, str]  # instance -> ParameterApplyStatus (DBClusterParameterGroupStatus) of this group
    readers: frozenset[str] = frozenset()
    here: Instance | None = None
    cluster: bool = False
    notices: tuple[Notice, ...] = field(default_factory=tuple)

    @property
    def has_metadata(self) -> bool:
        """Real RDS lists every parameter (engine defaults carry the types); moto only the user's."""
        return any(r.source == "engine-default" for r in self.rows.values())

    @property
    def scope(self) -> str:
        return CLUSTER_SCOPE if self.cluster else SCOPE

    @property
    def label(self) -> str:
        return f"cluster parameter group {self.group.name}" if self.cluster else self.group.name


def group_text(spec: GucSpec, value: Canonical) -> str:
    """A canonical value as the group stores it: the server's unit, 1/0, comma lists."""
    if isinstance(value, bool):
        return "1" if value else "0"
    if isinstance(value, tuple):
        return ",".join(value)
    return str(value)


def unit_note(spec: GucSpec) -> str:
    return f" ({spec.unit} units)" if spec.unit else ""


def _static(spec: GucSpec, row: GroupParameter | None) -> bool:
    if row is not None and row.apply_type in ("static", "dynamic"):
        return row.apply_type == "static"
    return spec.restart_required


def statement(group: str, name: str, value: str | None, method: str, cluster: bool = False) -> Statement:
    """One parameter of a Modify (or, with no value, a Reset) call: how it reads, and the typed action."""
    parameter: dict[str, str] = {"ParameterName": name}
    if value is not None:
        parameter["ParameterValue"] = value
    parameter["ApplyMethod"] = method
    kind = "DBClusterParameterGroup" if cluster else "DBParameterGroup"
    operation = f"Modify{kind}" if value is not None else f"Reset{kind}"
    body = json.dumps({f"{kind}Name": group, "Parameters": [parameter]})
    action = GroupEdit(group, name, value, method, cluster)
    return Statement(f"{operation} {body}", False, target="rds", action=action)


def _allowed_problem(row: GroupParameter | None, text: str, spec: GucSpec) -> str | None:
    """RDS's AllowedValues: a range `lo-hi` for numbers, a comma list for words."""
    if row is None or not row.allowed:
        return None
    allowed = row.allowed.strip()
    if spec.vartype in ("integer", "real") and "-" in allowed[1:]:
        lo_text, _, hi_text = allowed.rpartition("-") if allowed.startswith("-") else allowed.partition("-")
        try:
            lo, hi, value = float(lo_text), float(hi_text), float(text)
        except ValueError:
            return None
        if not lo <= value <= hi:
            return f"{spec.name} = {text}{unit_note(spec)} is outside what RDS allows ({allowed})"
        return None
    if spec.vartype in ("enum", "bool"):
        words = {w.strip().lower() for w in allowed.split(",")}
        if text.lower() not in words:
            return f"{spec.name} = {text}: RDS allows {allowed}"
    return None


def _variables(instance: Instance, cls: classes.InstanceClass, reader: bool) -> dict[str, Number]:
    return {
        "DBInstanceClassMemory": cls.memory,
        "DBInstanceVCPU": cls.vcpus,
        "AllocatedStorage": instance.allocated_storage * classes.GIB,
        "EndPointPort": (instance.endpoint.port if instance.endpoint and instance.endpoint.port else 5432),
        "TrueIfReplica": 1 if reader else 0,
        "DBInstanceClassHugePagesDefault": 0,
    }


def evaluate(
    text: str, spec: GucSpec, instances: Sequence[Instance], readers: frozenset[str] = frozenset()
) -> tuple[list[str], list[str]]:
    """What a formula runs as on each instance class of the group: (lines for the plan, problems)."""
    formula = parse(text)
    shown, problems = [], []
    seen: set[tuple[str, bool]] = set()
    for inst in instances:
        reader = inst.identifier in readers
        key = (inst.instance_class, reader)
        if key in seen:
            continue
        seen.add(key)
        cls = classes.lookup(inst.instance_class)
        if cls is None:
            shown.append(f"{inst.instance_class}: not evaluated (a class pgtune cannot size)")
            continue
        try:
            number = formula.evaluate(_variables(inst, cls, reader))
        except FormulaError as exc:
            problems.append(str(exc))
            continue
        value = int(number) if spec.vartype == "integer" else number
        try:
            canonical = spec.canonical(str(value))
        except InvalidValue as exc:
            hint = (
                f" (a formula gives {spec.unit} units, not bytes)" if spec.base and spec.base.family == "memory" else ""
            )
            problems.append(f"{text} on {inst.instance_class} is {value}{unit_note(spec)}: {exc}{hint}")
            continue
        role = "reader" if reader else "writer"
        shown.append(f"{inst.instance_class} ({role}): about {spec.display(canonical)} ({value}{unit_note(spec)})")
    return shown, problems


def _same_text(spec: GucSpec, want: Canonical, stored: str | None) -> bool:
    if stored is None or looks_like_formula(stored):
        return False
    try:
        return spec.equal(want, spec.canonical(stored, check_range=False))
    except InvalidValue:
        return False


def _running(spec: GucSpec, catalog: SettingsCatalog) -> Canonical | None:
    row = catalog.running.get(spec.name.lower())
    if row is None or row.setting is None or row.source in SESSION_SOURCES:
        return None  # a per-database/role value shows this session's, not the server's
    try:
        return spec.canonical(row.setting, check_range=False)
    except InvalidValue:
        return None


def diff(
    typed: list[TypedSetting], state: GroupState, catalog: SettingsCatalog, declared: set[str] | None = None
) -> tuple[KindResult, list[ProfileError]]:
    """One change per parameter that differs from the group's user-set rows; resets for user rows
    the profile does not declare (`declared`: keys the profile sets in any group; default: `typed`'s);
    problems RDS would refuse (at the profile's position)."""
    result, errors = KindResult(), []
    group = state.group.name
    if declared is None:
        declared = {t.desired.key for t in typed if t.desired.scope == "system"}
    for t in sorted((t for t in typed if t.desired.scope == "system"), key=lambda t: t.desired.key):
        d, spec = t.desired, t.spec
        row = state.rows.get(d.key)
        if row is not None and not row.modifiable:
            errors.append(ProfileError(d.key_location, f"{spec.name} is not modifiable in RDS {state.label}"))
            continue
        if row is None and state.has_metadata:
            errors.append(
                ProfileError(
                    d.key_location,
                    f"{spec.name}: RDS parameter group family {state.group.family} has no such parameter",
                )
            )
            continue
        stored = row.value if row is not None and row.user else None
        static = _static(spec, row)
        method = STATIC if static else DYNAMIC
        address = Address(KIND, d.key, scope=state.scope, target=group)
        if d.raw is None:
            if stored is not None:
                result.changes.append(_reset(address, spec, row, state, d))
            continue
        if isinstance(d.raw, FormulaValue):
            change, problems = _formula_change(d, d.raw.formula, spec, row, stored, state, address, method)
            errors += [ProfileError(d.location, p) for p in problems]
            if change is not None:
                result.changes.append(change)
            continue
        assert t.value is not None
        text = group_text(spec, t.value)
        problem = _allowed_problem(row, text, spec)
        if problem:
            errors.append(ProfileError(d.location, problem))
            continue
        if stored is not None and _same_text(spec, t.value, stored):
            continue
        default = row.value if row is not None and not row.user else None
        if stored is None and default is not None and _same_text(spec, t.value, default):
            continue  # the engine default is the profile's value: nothing to set
        running = _running(spec, catalog)
        if stored is not None:
            shown_before = _show(spec, stored)
        else:
            shown_before = f"{_show(spec, default)} (engine default)" if default else "(engine default)"
        result.changes.append(
            Change(
                address,
                "update",
                shown_before,
                spec.display(t.value),
                (statement(group, spec.name, text, method, state.cluster),),
                restart_required=static and (running is None or not spec.equal(t.value, running)),
                source=d.source,
                note=f"sent as {text}{unit_note(spec)}, ApplyMethod {method}"
                + (" (static: runs after a reboot)" if static else ""),
            )
        )
    for key, row in sorted(state.rows.items()):
        if row.user and key not in declared:
            spec = catalog.specs.get(key) or GucSpec(row.name, "string", None)
            undeclared = DesiredSetting("system", None, row.name, None, None, None)
            address = Address(KIND, key, scope=state.scope, target=group)
            result.changes.append(_reset(address, spec, row, state, undeclared))
    result.changes.sort(key=lambda c: (c.action == "delete", c.address.name))  # one call for the sets, one for resets
    return result, errors


def _show(spec: GucSpec, stored: str) -> str:
    if looks_like_formula(stored):
        return stored
    try:
        return spec.display(spec.canonical(stored, check_range=False))
    except InvalidValue:
        return stored


def _reset(address: Address, spec: GucSpec, row: GroupParameter | None, state: GroupState, d: DesiredSetting) -> Change:
    static = _static(spec, row)
    method = STATIC if static else DYNAMIC
    why = "declared null" if d.location is not None else "set in the group, not in the profile"
    return Change(
        address,
        "delete",
        _show(spec, row.value) if row is not None and row.value is not None else None,
        None,
        (statement(state.group.name, row.name if row is not None else spec.name, None, method, state.cluster),),
        restart_required=static,
        reset=True,
        source=d.source,
        note=f"{why}: reset to the engine default (this key only)",
    )


def _formula_change(
    d: DesiredSetting,
    text: str,
    spec: GucSpec,
    row: GroupParameter | None,
    stored: str | None,
    state: GroupState,
    address: Address,
    method: str,
) -> tuple[Change | None, list[str]]:
    wrong = type_problem(spec.name, spec.vartype)
    if wrong:
        return None, [wrong]
    try:
        shown, problems = evaluate(text, spec, state.instances, state.readers)
    except FormulaError as exc:
        return None, [f"formula: {exc}"]
    if problems:
        return None, problems
    if stored is not None and same(text, stored):
        return None, []
    default = row.value if row is not None and not row.user else None
    if stored is None and default is not None and same(text, default):
        return None, []  # the engine default is this formula
    runs = "; ".join(shown) if shown else "no instance uses the group yet: evaluated on none"
    return (
        Change(
            address,
            "update",
            _show(spec, stored) if stored is not None else "(engine default)",
            text,
            (statement(state.group.name, spec.name, text, method, state.cluster),),
            restart_required=method == STATIC,
            source=d.source,
            note=f"formula, computed by RDS per instance class: {runs}",
        ),
        [],
    )


def notices(state: GroupState, catalog: SettingsCatalog | None) -> list[Notice]:
    """The second truth: what each instance reports (its apply status for the group), and where the
    instance --dsn reaches runs something else than the group holds."""
    out: list[Notice] = []
    label = state.label
    for inst in state.instances:
        status = state.statuses.get(inst.identifier)
        if status == "pending-reboot":
            out.append(
                Notice(
                    KIND, inst.identifier, "RESTART_PENDING", f"RDS reports {label} pending-reboot on {inst.identifier}"
                )
            )
        elif status not in (None, "in-sync"):
            out.append(
                Notice(KIND, inst.identifier, "GROUP_APPLYING", f"RDS reports {label} {status} on {inst.identifier}")
            )
    here = state.here
    if here is None or catalog is None:
        return out
    status = state.statuses.get(here.identifier)
    if status is None:
        names = ", ".join(g.name for g in here.groups) or "none"
        attached = f"parameter group {names}" if not state.cluster else f"cluster {here.cluster or 'none'}"
        out.append(
            Notice(
                KIND,
                here.identifier,
                "GROUP_NOT_ATTACHED",
                f"{here.identifier} (--dsn) uses {attached}, not {label}: the group's values do not run there",
            )
        )
        return out
    pending = status == "pending-reboot"
    for key, row in sorted(state.rows.items()):
        spec = catalog.specs.get(key)
        if not row.user or row.value is None or spec is None or looks_like_formula(row.value):
            continue
        running = _running(spec, catalog)
        if running is None or _same_text(spec, running, row.value):
            continue
        if _static(spec, row):
            if not pending:  # moto never reports pending-reboot; pg_settings tells
                out.append(
                    Notice(
                        KIND,
                        here.identifier,
                        "RESTART_PENDING",
                        f"{spec.name}: {label} holds {_show(spec, row.value)}, {here.identifier} runs "
                        f"{spec.display(running)} until it reboots",
                    )
                )
                pending = True
            continue
        out.append(
            Notice(
                KIND,
                f"{here.identifier}/{key}",
                "GROUP_DISAGREES",
                f"{label} holds {spec.name} = {_show(spec, row.value)} but {here.identifier} runs "
                f"{spec.display(running)} (a value set per database or role, another group, or a failed apply)",
            )
        )
    return out


def pending_instances(state: GroupState, catalog: SettingsCatalog | None) -> set[str]:
    return {n.object for n in notices(state, catalog) if n.code == "RESTART_PENDING"}
