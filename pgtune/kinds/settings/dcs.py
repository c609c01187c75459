"""Server-wide settings through Patroni's DCS: one PATCH per key that differs; values set behind Patroni."""

from __future__ import annotations

import json
from typing import Any

from pgtune.kinds import KindResult
from pgtune.kinds.settings.comparison import _hazards, _same, _show, configured_running
from pgtune.kinds.settings.model import KIND, SettingsCatalog, TypedSetting, Unparsable
from pgtune.kinds.settings.validation import _try_canonical
from pgtune.plan.model import Address, Change, Notice, PatroniPatch, Statement

# --- through Patroni's DCS ------------------------------------------------------------------


def patroni_diff(typed: list[TypedSetting], dcs: dict[str, Any], members: dict[str, SettingsCatalog]) -> KindResult:
    """Server-wide settings through Patroni's DCS (pure): one change per key that differs, each a
    PATCH of exactly that key. What the DCS holds is the configured value; a key it does not hold
    is compared with what every member runs."""
    result = KindResult()
    stored_keys = {k.lower(): k for k in dcs}
    for t in sorted((t for t in typed if t.desired.scope == "system"), key=lambda t: t.desired.key):
        spec, key = t.spec, t.desired.key
        stored_key = stored_keys.get(key)
        runs = {m: configured_running(spec, cat, key)[1] for m, cat in members.items() if key in cat.specs}
        address = Address(KIND, key, scope="patroni")
        stored = None if stored_key is None else _try_canonical(spec, str(dcs[stored_key]))
        if t.value is None:
            if stored_key is None:
                continue
            result.changes.append(
                Change(
                    address,
                    "delete",
                    _show(spec, stored),
                    None,
                    (patch_statement(stored_key, None),),
                    restart_required=spec.restart_required,
                    hazards=_hazards(t),
                    source=t.desired.source,
                    reset=True,
                    note="removed from Patroni's configuration: members fall back to their local or built-in value",
                )
            )
            continue
        if stored is not None and not isinstance(stored, Unparsable) and _same(spec, t.value, stored):
            continue
        if stored is None and runs and all(_same(spec, t.value, r) for r in runs.values()):
            continue
        note = None
        if stored is None:
            running = sorted({_show(spec, r) for r in runs.values()})
            note = f"not in Patroni's configuration; the members run {', '.join(running)}"
        result.changes.append(
            Change(
                address,
                "update",
                None if stored is None else _show(spec, stored),
                spec.display(t.value),
                (patch_statement(stored_key or spec.name, spec.display(t.value)),),
                restart_required=spec.restart_required and any(not _same(spec, t.value, r) for r in runs.values()),
                hazards=_hazards(t),
                source=t.desired.source,
                note=note,
            )
        )
    return result


def behind_patroni(member: str, catalog: SettingsCatalog) -> list[Notice]:
    """Values a member's postgresql.auto.conf sets (ALTER SYSTEM behind Patroni's back): they beat
    Patroni's configuration on that member alone."""
    out = []
    for key, rows in sorted((catalog.files or {}).items()):
        auto = [r for r in rows if r.auto]
        if auto:
            out.append(
                Notice(
                    KIND,
                    f"{member}/{key}",
                    "SET_BEHIND_PATRONI",
                    f"postgresql.auto.conf on {member} sets {key} = {auto[-1].setting} (ALTER SYSTEM behind "
                    "Patroni's back): it overrides the cluster's configuration on that member; "
                    f"ALTER SYSTEM RESET {key} there, and let the profile set it",
                )
            )
    return out


def patch_statement(name: str, value: str | None) -> Statement:
    """PATCH /config of one key, exactly the one that changes: the body as the plan shows it, and the
    typed action the executor sends (it never decodes the text back)."""
    body = json.dumps({"postgresql": {"parameters": {name: value}}}, sort_keys=True)
    return Statement(body, False, target="patroni", action=PatroniPatch(name, value))
