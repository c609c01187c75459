"""Saved plans: `plan --out` writes one, `apply --plan` executes exactly it or refuses as stale.

pgtune keeps no state file: the catalog is the state. So a plan is bound to the state it was
computed from by a **fingerprint** — the digest of the canonical plan that state produced (server
version, every change with its before/after values and statements, every notice). Everything
the profile manages feeds that plan: a managed value that moves changes a before-value or adds
or removes a change. At apply pgtune re-reads the catalog under its apply lock, recomputes the
plan from the same profile, and refuses unless the fingerprints match, naming what moved (a
structured diff of the two plans, never of rendered text). A digest of the resolved profile
binds the plan to its profile too.

The file is the JSON plan (format_version 1) plus a `saved` block; it never holds a password
(plans carry no DSN).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from pgtune import __version__
from pgtune.errors import PgtuneError
from pgtune.plan import Change, Check, Hazard, Notice, Plan, ServerInfo, Statement
from pgtune.profile.loader import LoadedProfile
from pgtune.render.jsonplan import FORMAT_VERSION, plan_to_dict

SAVED_FORMAT = 1


class PlanFileError(PgtuneError):
    """A saved plan that cannot be read, or no longer applies (stale, other profile)."""


@dataclass(frozen=True)
class SavedPlan:
    plan: Plan
    profile_path: str
    profile_digest: str
    fingerprint: str
    as_of: str | None
    exclude: tuple[str, ...]
    created_at: str
    pgtune_version: str


def _canonical(value: Any) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), default=str)


def profile_digest(loaded: LoadedProfile) -> str:
    """Digest of the resolved profile (after extends and interpolation), not of its text."""
    data = loaded.profile.model_dump(mode="json", by_alias=True)
    return "sha256:" + hashlib.sha256(_canonical(data).encode()).hexdigest()


def _state(plan: Plan) -> dict[str, Any]:
    doc = plan_to_dict(plan)
    return {"server": doc["server"], "changes": doc["changes"], "notices": doc["notices"]}


def fingerprint(plan: Plan) -> str:
    return "sha256:" + hashlib.sha256(_canonical(_state(plan)).encode()).hexdigest()


def save(plan: Plan, loaded: LoadedProfile, as_of: str | None, path: Path, exclude: Sequence[str] = ()) -> None:
    doc = plan_to_dict(plan)
    doc["saved"] = {
        "format": SAVED_FORMAT,
        "profile_path": loaded.path,
        "profile_digest": profile_digest(loaded),
        "fingerprint": fingerprint(plan),
        "as_of": as_of,
        "exclude": list(exclude),
        "created_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "pgtune_version": __version__,
    }
    path.write_text(json.dumps(doc, indent=2) + "\n", encoding="utf-8")


def load(path: Path) -> SavedPlan:
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise PlanFileError(f"cannot read saved plan {path}: {exc.strerror}") from None
    except json.JSONDecodeError as exc:
        raise PlanFileError(f"{path}:{exc.lineno}:{exc.colno}: not a saved plan (invalid JSON: {exc.msg})") from None
    if not isinstance(doc, dict) or "saved" not in doc:
        raise PlanFileError(f"{path}: not a saved plan (write one with `pgtune plan PROFILE --out FILE`)")
    if doc.get("format_version") != FORMAT_VERSION or doc["saved"].get("format") != SAVED_FORMAT:
        raise PlanFileError(f"{path}: saved plan format {doc.get('format_version')} is not supported by this pgtune")
    try:
        saved = doc["saved"]
        return SavedPlan(
            plan_from_dict(doc),
            saved["profile_path"],
            saved["profile_digest"],
            saved["fingerprint"],
            saved.get("as_of"),
            tuple(saved.get("exclude", ())),
            saved.get("created_at", ""),
            saved.get("pgtune_version", ""),
        )
    except (KeyError, TypeError, ValueError) as exc:
        raise PlanFileError(f"{path}: damaged saved plan ({type(exc).__name__}: {exc})") from None


def plan_from_dict(doc: dict[str, Any]) -> Plan:
    """The Plan a JSON plan describes (the inverse of render.jsonplan.plan_to_dict)."""
    changes = []
    for c in doc["changes"]:
        statements = tuple(
            Statement(
                s["sql"],
                s["transactional"],
                s.get("lock", "none"),
                s.get("retryable", True),
                s.get("progress"),
                s.get("target", "postgres"),
                s.get("file"),
            )
            for s in c["statements"]
        )
        changes.append(
            Change(
                c["kind"],
                c["object"],
                c["action"],
                c["before"],
                c["after"],
                statements,
                restart_required=c["restart_required"],
                reload_required=c["reload_required"],
                hazards=tuple(Hazard(h["code"], h["message"]) for h in c["hazards"]),
                note=c.get("note"),
                source=c.get("source"),
            )
        )
    notices = tuple(Notice(n["kind"], n["object"], n["code"], n["message"]) for n in doc.get("notices", []))
    checks = tuple(Check(k["code"], k["status"], k["message"], k.get("numbers", {})) for k in doc.get("checks", []))
    server = ServerInfo(doc["server"]["version"], doc["server"]["version_num"])
    return Plan(doc["profile"], server, tuple(changes), notices, checks)


def _keyed(plan: Plan) -> dict[str, Any]:
    state = _state(plan)
    out: dict[str, Any] = {"server": state["server"]["version"]}
    for c in state["changes"]:
        out[f"{c['kind']} {c['object']}"] = {k: c[k] for k in ("action", "before", "after", "sql")}
    for n in state["notices"]:
        out[f"notice {n['code']} {n['object']}"] = n["message"]
    return out


def _describe_change(entry: dict[str, Any]) -> str:
    return f"{entry['action']} {entry['before']!r} -> {entry['after']!r}"


def stale_reasons(saved: Plan, fresh: Plan) -> list[str]:
    """What moved between the saved plan and the one the server produces now, one line each."""
    old, new = _keyed(saved), _keyed(fresh)
    lines = []
    for key in sorted(new.keys() - old.keys()):
        value = new[key]
        detail = _describe_change(value) if isinstance(value, dict) else value
        lines.append(f"{key}: now needed ({detail}), not in the saved plan")
    for key in sorted(old.keys() - new.keys()):
        lines.append(f"{key}: in the saved plan, no longer needed (the server changed)")
    from deepdiff import DeepDiff  # here, not at the top: every CLI run would pay ~60 ms to import it

    for key in sorted(old.keys() & new.keys()):
        if not isinstance(old[key], dict) or not isinstance(new[key], dict):
            if old[key] != new[key]:
                lines.append(f"{key}: was {old[key]!r} when planned, now {new[key]!r}")
            continue
        diff = DeepDiff(old[key], new[key], verbose_level=2)
        for path, change in {**diff.get("values_changed", {}), **diff.get("type_changes", {})}.items():
            field = path.removeprefix("root['").split("']")[0]
            lines.append(f"{key}: {field} was {change['old_value']!r} when planned, now {change['new_value']!r}")
        for kind in (
            "iterable_item_added",
            "iterable_item_removed",
            "dictionary_item_added",
            "dictionary_item_removed",
        ):
            for path in diff.get(kind, {}):
                field = path.removeprefix("root['").split("']")[0]
                lines.append(f"{key}: {field} differs from the saved plan")
    return list(dict.fromkeys(lines)) or ["the plan differs (no detail)"]
