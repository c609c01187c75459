"""The plan of an operator-managed cluster: the profile's server-wide settings against the
manifest's parameters (typed by the server's pg_settings over --dsn, else by the bundled description
of the manifest's PostgreSQL version), the operator's rules applied offline, what runs compared with
what is declared; every other kind over SQL on --dsn, as for one server."""

from __future__ import annotations

import re
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

import pgtune.targets.operators.rules as rules
from pgtune.base.errors import ProfileError, raise_if_any
from pgtune.base.guc import Canonical, GucSpec, InvalidValue
from pgtune.kinds.value_rules import checked_value
from pgtune.plan import cluster as clusterplan
from pgtune.plan.model import Address, Change, ManifestEdit, Notice, Plan, ServerInfo, Statement
from pgtune.targets.operators.manifest import Manifest
from pgtune.targets.parameters import same

if TYPE_CHECKING:
    import psycopg

    from pgtune.kinds.settings.model import DesiredSetting, Running
    from pgtune.targets.workflow import Inputs

STORE = "manifest"
KIND = "setting"


@dataclass(frozen=True)
class Typing:
    """What the values are judged by: a live server's pg_settings, or a bundled description."""

    specs: dict[str, GucSpec]
    running: dict[str, Running]  # empty offline
    server: ServerInfo
    live: bool
    config_hash: str | None = None  # CloudNativePG's running configuration (cnpg.config_sha256)


def major(manifest: Manifest) -> int | None:
    """The PostgreSQL major version the manifest asks for (image tag, postgresVersion, version)."""
    spec = manifest.data.get("spec") or {}
    candidates = [
        spec.get("postgresVersion"),
        (spec.get("postgresql") or {}).get("version") if isinstance(spec.get("postgresql"), dict) else None,
    ]
    image = str(spec.get("imageName") or "")
    found = re.search(r":(\d{2})(?:[.\-]|$)", image)
    if found:
        candidates.append(found.group(1))
    for raw in candidates:
        if raw is not None and str(raw).isdigit():
            return int(str(raw))
    return None


def _typing(manifest: Manifest, conn: psycopg.Connection | None, desired: list[DesiredSetting]) -> Typing:
    if conn is not None:
        from pgtune.kinds import settings
        from pgtune.kinds.engine import server_info

        catalog = settings.read(conn, desired)
        row = conn.execute("SELECT current_setting('cnpg.config_sha256', true)").fetchone()
        config_hash = str(row[0]) if row and row[0] else None
        return Typing(catalog.specs, catalog.running, server_info(conn), True, config_hash)
    from pgtune.kinds.offline import description

    desc = description(major(manifest))
    return Typing(desc.specs, {}, ServerInfo(f"{desc.version} (bundled description)", desc.version * 10000), False)


def _workload(inputs: Inputs, conn: psycopg.Connection | None, version_num: int) -> dict[str, str]:
    """What `workload:` derives, online as for every target, offline from the manifest's version."""
    loaded = inputs.loaded
    if conn is not None:
        from pgtune.kinds import PlanContext, settings
        from pgtune.kinds.engine import server_info

        return settings.workload_settings(PlanContext(conn, loaded, server_info(conn), {}))
    spec = loaded.profile.workload
    if spec is None:
        return {}
    if "auto" in (spec.memory, spec.cpus):
        raise ProfileError(loaded.location(("workload",)), "workload: auto reads the database host: plan with --dsn")
    from pgtune.profile import workload

    return workload.recommend(workload.from_spec(spec, version_num // 10000)).settings


def derive(manifest: Manifest, conn: psycopg.Connection | None, dsn: str, inputs: Inputs) -> clusterplan.ClusterPlan:
    """One plan: the SQL kinds on the server --dsn reaches (none offline), the settings against the manifest."""
    from pgtune.kinds import settings
    from pgtune.targets import workflow

    loaded = inputs.loaded
    sql_plan = workflow.derive(conn, replace(inputs, server_settings=False), dsn) if conn is not None else None
    desired_all = settings.desired_settings(loaded)
    typing = _typing(manifest, conn, [d for d in desired_all if d.scope == "system"])
    derived = _workload(inputs, conn, typing.server.version_num)
    desired = [d for d in settings.desired_settings(loaded, derived) if d.scope == "system"]
    changes, notices, errors = compare(manifest, desired, typing)
    raise_if_any(errors)
    if sql_plan is None:
        others = _offline_left_out(inputs)
        sql_plan = Plan(loaded.profile.name, typing.server, notices=tuple(others))
    store_plan = Plan(loaded.profile.name, typing.server, tuple(changes), tuple(notices))
    op = manifest.operator
    node_name = f"{conn.info.host}:{conn.info.port}" if conn is not None else f"{op.name} cluster {manifest.name}"
    node = clusterplan.Node(node_name, dsn, "primary", 0)
    restarting = any(c.restart_required for c in changes)
    return clusterplan.ClusterPlan(
        clusterplan.Topology((node,)),
        (clusterplan.NodePlan(node, sql_plan),),
        (),
        f"pgtune restarts nothing here: {op.restarts}" if restarting else "",
        dcs=store_plan,
        store=STORE,
        store_name=f"{op.name} manifest {manifest.path} ({'.'.join(op.parameters)}; rules of {op.name} {op.version})",
    )


def _offline_left_out(inputs: Inputs) -> list[Notice]:
    profile = inputs.loaded.profile
    left = [
        name
        for name, present in (
            ("tables", profile.tables),
            ("databases", profile.databases),
            ("roles", profile.roles),
            ("pool", profile.pool),
        )
        if present
    ]
    if not left:
        return []
    return [
        Notice(
            KIND,
            "*",
            "NOT_CONNECTED",
            f"no --dsn: only the manifest's parameters were planned; {', '.join(left)} run over SQL and need "
            "--dsn to the cluster (its -rw service)",
        )
    ]


def compare(
    manifest: Manifest, desired: list[DesiredSetting], typing: Typing
) -> tuple[list[Change], list[Notice], list[ProfileError]]:
    """Each declared server-wide setting against the manifest; the operator's rules refuse at the
    profile's position what it would refuse or override."""
    op = manifest.operator
    written = {k.lower(): k for k in manifest.parameters}
    changes: list[Change] = []
    notices: list[Notice] = []
    errors: list[ProfileError] = []
    after: dict[str, str] = {k.lower(): v for k, v in manifest.parameters.items()}
    for d in desired:
        why = rules.refusal(op, d.key)
        if why is not None:
            errors.append(ProfileError(d.key_location, f"{d.name}: {why}"))
            continue
        spec = typing.specs.get(d.key)
        try:
            want = _typed(d, spec, op)
        except InvalidValue as exc:
            errors.append(ProfileError(d.location, str(exc)))
            continue
        if spec is None and "." not in d.key:
            errors.append(ProfileError(d.key_location, f"unknown setting {d.name!r} ({_judged_by(typing)})"))
            continue
        key = written.get(d.key, d.name)
        have = manifest.parameters.get(key)
        change = _change(manifest, d, spec, want, key, have)
        if change is not None:
            changes.append(change)
            edit = change.statements[0].action
            assert isinstance(edit, ManifestEdit)
            if edit.value is None:
                after.pop(d.key, None)
            else:
                after[d.key] = edit.value
        notices += _running(d, spec, want, typing, change)
    changes = [_with_libraries(c, manifest, after) for c in changes]
    errors += _webhook(manifest, after, desired, typing)
    notices += [
        Notice(
            KIND,
            f"{op.key}/{k}",
            "NOT_A_STRING",
            f"{k}: written as a YAML number or boolean; {op.name} takes strings only (quote it)",
        )
        for k in sorted(manifest.unquoted)
        if k.lower() not in {c.address.name for c in changes}
    ]
    if typing.config_hash:
        notices.append(
            Notice(
                KIND,
                "cnpg.config_sha256",
                "OPERATOR_CONFIG",
                f"the server runs the configuration CloudNativePG rendered as {typing.config_hash[:12]}",
            )
        )
    return changes, notices, errors


def _judged_by(typing: Typing) -> str:
    return "the server's pg_settings" if typing.live else f"PostgreSQL {typing.server.version}'s settings"


def _typed(d: DesiredSetting, spec: GucSpec | None, op: rules.Operator) -> Canonical | None:
    if spec is None:  # an extension's setting the description does not know: taken as written
        if d.raw is None:
            return None
        if not isinstance(d.raw, str):
            raise InvalidValue(f"{d.name}: a single value, not a list")
        return d.raw
    value = checked_value(spec, d.raw, system=True, formulas=False)
    if op is rules.PGO and d.key == "wal_level" and value not in (None, "logical"):
        raise InvalidValue("wal_level: Crunchy PGO keeps wal_level logical (its CRD refuses anything else)")
    return value


def _text(spec: GucSpec | None, value: Canonical) -> str:
    """A value as the operator takes it: a string in PostgreSQL's syntax (1GB, 30s, on)."""
    return spec.display(value) if spec is not None else str(value)


def _same(spec: GucSpec | None, want: Canonical, have: str) -> bool:
    """Equal by value (pgtune.targets.parameters.same); an extension's setting no description knows, as text."""
    return str(want) == have if spec is None else same(spec, want, have)


def _statement(manifest: Manifest, key: str, value: str | None) -> Statement:
    where = ".".join(manifest.operator.parameters)
    shown = f'{where}.{key}: "{value}"' if value is not None else f"{where}.{key}: removed"
    return Statement(shown, False, target=STORE, file=str(manifest.path), action=ManifestEdit(key, value))


def _change(
    manifest: Manifest, d: DesiredSetting, spec: GucSpec | None, want: Canonical | None, key: str, have: str | None
) -> Change | None:
    op = manifest.operator
    address = Address(KIND, d.key, scope=op.key)
    restart = spec is not None and spec.restart_required

    def made(action: str, before: str | None, after: str | None, value: str | None, note: str | None) -> Change:
        statements = (_statement(manifest, key, value),)
        return Change(
            address,
            action,
            before,
            after,
            statements,
            restart_required=restart,
            note=note,
            source=d.source,
            reset=action == "delete",
        )

    if want is None:
        if have is None:
            return None
        removal = op.removal
        if op is rules.ZALANDO:
            removal += (
                f"; reset it in a pod: patronictl edit-config --force -s 'postgresql.parameters.{key}=null' "
                "(ALTER SYSTEM is not the way: Patroni owns the value)"
            )
        return made("delete", have, None, None, removal)
    text = _text(spec, want)
    if have is not None and _same(spec, want, have) and key not in manifest.unquoted:
        return None
    if have is None:
        default = op.defaults.get(d.key)
        if default is not None and _same(spec, want, default):
            return None  # the operator already runs it (its default, not PostgreSQL's)
    note: str | None = None
    if op is rules.ZALANDO and d.key in op.recreate_pods:
        note = "a Spilo-local setting: the Zalando operator recreates the pods to change it (a rolling update)"
    action = "update" if have is not None else "create"
    before = (
        have if have is not None else (f"{op.defaults[d.key]} ({op.name}'s default)" if d.key in op.defaults else None)
    )
    return made(action, before, text, text, note)


def _with_libraries(change: Change, manifest: Manifest, after: dict[str, str]) -> Change:
    """CloudNativePG preloads a managed extension's library while any of its settings is set: the
    first one added (or the last removed) changes shared_preload_libraries — a restart."""
    op = manifest.operator
    library = rules.library_of(op, change.address.name)
    if library is None:
        return change
    before = any(rules.library_of(op, k) == library for k in manifest.parameters)
    now = any(rules.library_of(op, k) == library for k in after)
    if before == now:
        return change
    said = "adds" if now else "removes"
    note = (
        f"{op.name} {said} {library} {'to' if now else 'from'} shared_preload_libraries by itself: a restart of "
        "every instance"
    )
    return replace(change, restart_required=True, note="; ".join(n for n in (change.note, note) if n))


def _running(
    d: DesiredSetting, spec: GucSpec | None, want: Canonical | None, typing: Typing, change: Change | None
) -> list[Notice]:
    """Declared and running, declared and waiting for the operator, or running something else."""
    if not typing.live or change is not None or want is None or spec is None:
        return []
    running = typing.running.get(d.key)
    if running is None or running.setting is None:
        return []
    try:
        now = spec.canonical(running.setting, check_range=False)
    except InvalidValue:
        return []
    if spec.equal(want, now):
        return []
    if running.pending_restart:
        message = (
            f"declared {spec.display(want)}; the server runs {spec.display(now)} until the operator "
            "restarts it (pending restart)"
        )
        return [Notice(KIND, d.key, "WAITING_FOR_RESTART", message)]
    message = (
        f"declared {spec.display(want)} in the manifest, but the server runs {spec.display(now)}: the "
        "operator has not rolled it out yet, or something else sets it"
    )
    return [Notice(KIND, d.key, "NOT_RUNNING", message)]


def _webhook(
    manifest: Manifest, after: dict[str, str], desired: list[DesiredSetting], typing: Typing
) -> list[ProfileError]:
    """The rules the operator's admission checks hold the resulting parameters to."""
    op = manifest.operator
    where = {d.key: d for d in desired}

    def at(key: str, message: str) -> ProfileError:
        d = where.get(key)
        return ProfileError(d.location if d is not None else manifest.location(key), message)

    errors: list[ProfileError] = []
    if op.max_parameters is not None and len(after) > op.max_parameters:
        errors.append(
            ProfileError(
                manifest.location(),
                f"{op.name} takes at most {op.max_parameters} parameters; the manifest would hold {len(after)}",
            )
        )
    if op is not rules.CNPG:
        return errors
    effective = {**op.defaults, **after}
    many = manifest.instances > 1
    if many and effective.get("wal_level") == "minimal":
        errors.append(at("wal_level", "wal_level: CloudNativePG refuses minimal with more than one instance"))
    if many and effective.get("wal_log_hints", "on").lower() not in ("on", "true", "1", "yes"):
        errors.append(at("wal_log_hints", "wal_log_hints: CloudNativePG requires on with more than one instance"))
    low, high = typing.specs.get("min_wal_size"), typing.specs.get("max_wal_size")
    if low is not None and high is not None:
        try:
            lo, hi = low.canonical(effective["min_wal_size"]), high.canonical(effective["max_wal_size"])
        except (InvalidValue, KeyError):
            return errors
        if isinstance(lo, int | float) and isinstance(hi, int | float) and not lo < hi:
            errors.append(
                at(
                    "min_wal_size" if "min_wal_size" in where else "max_wal_size",
                    "min_wal_size must be below max_wal_size (CloudNativePG's webhook)",
                )
            )
    return errors
