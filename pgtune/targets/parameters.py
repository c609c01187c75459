"""The settings-against-a-store loop of the managed services that keep parameters by name (Azure's
configurations, Cloud SQL's flags): each declared server-wide setting, typed by the server's
pg_settings, compared with what the service holds, by value, in the service's own form. A target
gives what its service holds (`Stored`), how it writes a value (`form`) and the statement of a write;
the loop decides what changes, what needs a restart, and what the service refuses."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

from pgtune.base.errors import ProfileError
from pgtune.base.guc import Canonical, GucSpec, InvalidValue
from pgtune.plan.model import Address, Change, Plan, Statement

if TYPE_CHECKING:
    import psycopg

    from pgtune.kinds.settings.model import SettingsCatalog, TypedSetting
    from pgtune.targets.workflow import Inputs


@dataclass(frozen=True)
class Stored:
    """One parameter as the service holds it."""

    name: str
    value: str | None  # what the service holds now (its default when not user-set)
    default: str | None
    user_set: bool  # the user set it (else the service's default)
    dynamic: bool  # takes effect on reload (else at the next restart)
    read_only: bool = False
    pending_restart: bool = False
    allowed: str | None = None  # the service's allowed values, as it writes them ("25-5000", "on,off", "a,b,c")
    sorted_list: bool = False  # the service returns list values sorted: compared as sets


def store_text(spec: GucSpec, value: Canonical) -> str:
    """A value in a service's form: numbers in the setting's own unit (as pg_settings counts it),
    booleans on/off, lists comma-joined, words lower-case."""
    if isinstance(value, bool):
        return "on" if value else "off"
    if isinstance(value, tuple):
        return ",".join(value)
    if isinstance(value, float) and value.is_integer() and spec.vartype == "integer":
        return str(int(value))
    if isinstance(value, int | float):
        return f"{value:g}" if isinstance(value, float) else str(value)
    return str(value)


def same(spec: GucSpec, want: Canonical, held: str | None, *, as_set: bool = False) -> bool:
    """The service holds the value wanted (read with the server's grammar; a sorted list as a set)."""
    if held is None:
        return False
    try:
        have = spec.canonical(held, check_range=False)
    except InvalidValue:
        return False
    if as_set and isinstance(want, tuple) and isinstance(have, tuple):
        return sorted(want) == sorted(have)
    return spec.equal(want, have)


def allowed_problem(stored: Stored, spec: GucSpec, text: str) -> str | None:
    """The service's own bounds: a range "lo-hi" or a list of words; None when the value is allowed."""
    allowed = (stored.allowed or "").strip()
    if not allowed:
        return None
    if "-" in allowed and "," not in allowed and allowed.replace("-", "").replace(".", "").isdigit():
        lo_text, hi_text = allowed.split("-", 1)
        try:
            number = float(text)
            lo, hi = float(lo_text), float(hi_text)
        except ValueError:
            return None
        if not lo <= number <= hi:
            return f"{spec.name}: {text} is outside the service's allowed {allowed}"
        return None
    words = {w.strip().lower() for w in allowed.split(",") if w.strip()}
    if spec.is_list:
        bad = [item for item in text.split(",") if item and item.lower() not in words]
        return f"{spec.name}: {', '.join(bad)} not among the service's allowed values ({allowed})" if bad else None
    if spec.vartype in ("enum", "bool") and text.lower() not in words:
        return f"{spec.name}: {text} is not among the service's allowed values ({allowed})"
    return None


def typed_settings(
    conn: psycopg.Connection, inputs: Inputs, dsn: str, service: str
) -> tuple[Plan, list[TypedSetting], SettingsCatalog]:
    """The SQL kinds' plan on the server (no ALTER SYSTEM: the service is the way), and the
    profile's server-wide settings typed by its pg_settings and validated as going to `service`."""
    from pgtune.kinds import PlanContext, settings
    from pgtune.kinds.engine import server_info
    from pgtune.targets import workflow

    loaded = inputs.loaded
    sql_plan = workflow.derive(conn, replace(inputs, server_settings=False), dsn)
    ctx = PlanContext(conn, loaded, server_info(conn), {})
    desired = [d for d in settings.desired_settings(loaded, settings.workload_settings(ctx)) if d.scope == "system"]
    catalog = settings.read(conn, desired)
    return sql_plan, settings.validate(settings.adapt(desired, catalog), catalog, through=service), catalog


@dataclass
class Compared:
    changes: list[Change]
    errors: list[ProfileError]


def against_store(
    typed: list[TypedSetting],
    stored: dict[str, Stored],
    *,
    service: str,
    scope: str,
    statement: Callable[[str, str | None], Statement],
) -> Compared:
    """What the profile's server-wide settings change in the service: only what differs by value;
    a `null` in the profile returns a user-set value to the service's default."""
    out = Compared([], [])
    for t in typed:
        d, spec = t.desired, t.spec
        held = stored.get(d.key)
        if held is None:
            out.errors.append(ProfileError(d.key_location, f"{d.name}: not a parameter {service} lets users set"))
            continue
        if held.read_only:
            out.errors.append(ProfileError(d.key_location, f"{d.name}: read-only in {service}"))
            continue
        address = Address("setting", d.key, scope=scope)
        restart = not held.dynamic
        if t.value is None:
            if not held.user_set:
                continue
            out.changes.append(  # the service's default written back, or the parameter removed (no default given)
                Change(
                    address,
                    "delete",
                    held.value,
                    held.default,
                    (statement(held.name, held.default),),
                    restart_required=restart,
                    source=d.source,
                    reset=True,
                    note=f"back to {service}'s default",
                )
            )
            continue
        if same(spec, t.value, held.value, as_set=held.sorted_list):
            continue
        text = store_text(spec, t.value)
        problem = allowed_problem(held, spec, text)
        if problem is not None:
            out.errors.append(ProfileError(d.location, problem))
            continue
        out.changes.append(
            Change(
                address,
                "update",
                held.value if held.user_set else f"{held.value} (default)",
                text,
                (statement(held.name, text),),
                restart_required=restart,
                source=d.source,
            )
        )
    return out
