"""Offline validation: check a profile's settings against a bundled description of a PostgreSQL
version's settings, with no server — what a pull-request check without a database can know.

The descriptions (`pgtune/data/settings-pgN.json`) are `pg_settings` as real servers of each tested
version report it (names, types, units, bounds, enum words, contexts), written by
`scripts/gen_settings_catalog.py` and held to the live servers by the test suite; they are never
typed by hand. Values are parsed by the same `GucSpec` code the plan uses, so `work_mem: 32mb` is
refused offline exactly as the server would refuse it. What needs the server (custom settings of
extensions, privileges, tables, indexes) is left to `plan`.
"""

from __future__ import annotations

import bisect
import difflib
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import cache
from importlib import resources

from pgtune.base.errors import ProfileError
from pgtune.base.guc import GucSpec, InvalidValue
from pgtune.kinds.reloptions import lookup, unknown_message
from pgtune.kinds.value_rules import checked_value
from pgtune.profile.loader import LoadedProfile

BUNDLED = (15, 16, 18)
"""Versions with a bundled description (the versions the suite runs servers of)."""


@dataclass(frozen=True)
class ServiceCatalog:
    """A managed service's parameter names, from the list it publishes: what `validate --service`
    holds a profile's server-wide settings to, offline. Each target that is a service declares its
    own (targets.declared_services); the rules for using one are here, once."""

    label: str  # "Azure Database for PostgreSQL flexible server"
    source: str  # where the list comes from, for messages
    own: Mapping[str, str]  # the names the service adds -> "dynamic" | "static" | "read-only" | ""
    closed: frozenset[str] = frozenset()  # namespaces (before the dot) `own` lists completely; "*": all
    fixed: Mapping[str, str] = field(default_factory=dict)  # PostgreSQL's names it keeps -> why

    def verdict(self, name: str) -> str | bool:
        """A problem with setting `name` on the service; True: the service's own name (nothing more
        to check); False: PostgreSQL's rules decide."""
        low = name.lower()
        why = self.fixed.get(low)
        if why is not None:
            return f"{name} cannot be set on {self.label}: {why}"
        kind = self.own.get(low)
        if kind == "read-only":
            return f"{name} is read-only on {self.label} ({self.source})"
        if kind is not None:
            return True
        space = low.split(".", 1)[0] if "." in low else None
        if space is not None and ("*" in self.closed or space in self.closed):
            settable = sorted(n for n, k in self.own.items() if k != "read-only")
            close = difflib.get_close_matches(low, settable, n=3, cutoff=0.6)
            hint = f"; did you mean {', '.join(repr(c) for c in close)}?" if close else ""
            return f"unknown parameter {name!r} on {self.label} (not in {self.source}){hint}"
        return False


@dataclass(frozen=True)
class Description:
    version: int  # the bundled version used
    asked: int  # the version asked for
    specs: dict[str, GucSpec]
    rds_family: str | None = None  # rds.* names checked against this family (None: any)
    service: ServiceCatalog | None = None  # a managed service's names, when validating for one

    @property
    def label(self) -> str:
        used = f"PostgreSQL {self.version}'s settings"
        used = used if self.version == self.asked else f"{used} (the nearest bundled to {self.asked})"
        return used if self.service is None else f"{used} and {self.service.label}'s parameters"


@cache
def _load(version: int) -> dict[str, GucSpec]:
    text = resources.files("pgtune").joinpath("data", f"settings-pg{version}.json").read_text(encoding="utf-8")
    return {
        row["name"].lower(): GucSpec(
            row["name"],
            row["vartype"],
            row["unit"],
            row["context"],
            row["min_val"],
            row["max_val"],
            tuple(row["enumvals"] or ()),
            row["boot_val"],
        )
        for row in json.loads(text)["settings"]
    }


def description(
    version: int | None = None, rds_family: str | None = None, service: ServiceCatalog | None = None
) -> Description:
    """The bundled description for `version` (default: the newest), or the nearest older one."""
    asked = version or BUNDLED[-1]
    at = bisect.bisect_right(BUNDLED, asked)
    used = BUNDLED[max(at - 1, 0)]
    return Description(used, asked, _load(used), rds_family, service)


def validate(loaded: LoadedProfile, desc: Description) -> list[ProfileError]:
    """Every problem with the profile's settings and storage parameters that needs no server."""
    errors: list[ProfileError] = []
    profile = loaded.profile
    scoped = [
        ("settings",),
        *[("databases", d, "settings") for d in profile.databases],
        *[("roles", r, "settings") for r in profile.roles],
    ]
    for prefix in scoped:
        values = (
            profile.settings
            if prefix == ("settings",)
            else (
                profile.databases[prefix[1]].settings if prefix[0] == "databases" else profile.roles[prefix[1]].settings
            )
        )
        for name, raw in values.items():
            errors += _setting(loaded, desc, (*prefix, name), name, raw, system=prefix == ("settings",))
    version_num = desc.asked * 10000
    for key, table in profile.tables.items():
        for name, raw in table.storage.items():
            path = ("tables", key, "storage", name)
            option = lookup(name, version_num)
            if option is None:
                errors.append(ProfileError(loaded.location(path, key=True), unknown_message(name, version_num)))
                continue
            if raw is not None:
                try:
                    option.spec.canonical(raw)
                except InvalidValue as exc:
                    errors.append(ProfileError(loaded.location(path), str(exc)))
    return errors


def _setting(
    loaded: LoadedProfile, desc: Description, path: tuple[str, ...], name: str, raw: object, system: bool
) -> list[ProfileError]:
    if system and desc.service is not None:
        verdict = desc.service.verdict(name)
        if isinstance(verdict, str):
            return [ProfileError(loaded.location(path, key=True), verdict)]
        if verdict:
            return []
    if name.lower().startswith("rds."):
        from pgtune.integrations.rds.names import problem as rds_problem

        found = (
            rds_problem(name, desc.rds_family) if system else f"{name} is a parameter-group setting: server-wide only"
        )
        return [ProfileError(loaded.location(path, key=True), found)] if found else []
    if "." in name:
        return []  # an extension's setting: known only to a server that loaded it
    spec = desc.specs.get(name.lower())
    if spec is None:
        close = difflib.get_close_matches(name.lower(), list(desc.specs), n=3, cutoff=0.6)
        hint = f"; did you mean {', '.join(repr(c) for c in close)}?" if close else ""
        return [ProfileError(loaded.location(path, key=True), f"unknown setting {name!r} in {desc.label}{hint}")]
    try:  # the same rules as against a server; offline a formula may be meant for a parameter group
        checked_value(spec, raw, system=system, formulas=True)  # type: ignore[arg-type]
    except InvalidValue as exc:
        return [ProfileError(loaded.location(path), str(exc))]
    return []
