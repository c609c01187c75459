"""Saved plans: `plan --out` writes a record of what was reviewed; `apply --plan` runs it or nothing.

A saved plan is a **record, never a program**. pgtune never executes what the file says: at apply
it derives the plan afresh — from the profile named on the command line (never a path read from
the file), the live catalog under the apply lock, and the command line's `--as-of`/`--exclude` —
and executes that fresh plan only if it equals the saved record in every field: each change, its
before/after, every statement (SQL, target, file, locks, retry and transaction flags), hazards,
restart flags, notices and checks. Any difference is a refusal naming what differs, with nothing
executed. An edited file and a database that moved on look the same from here (the file differs
from what the server now needs); the file's own digest tells the two apart in the message.

What the file holds and how far each part is trusted:
- the plan (format_version 1 JSON): compared, never executed, never a source of hazards;
- `profile_path`: shown in messages only (the profile is the command line's argument);
- `profile_digest`: must equal the digest of the profile given — a plan of another profile (or of
  a changed one) is refused;
- `as_of`, `exclude`: must equal the command line's (so the deploy command states them: a file
  cannot move "now" or hide objects);
- `fingerprint`: digest of the record as pgtune wrote it; a mismatch says the file was edited.
The file never holds a password (plans carry no DSN).
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
from pgtune.base.errors import PgtuneError
from pgtune.plan.cluster import ClusterPlan
from pgtune.plan.codec import FORMAT_VERSION, plan_to_dict
from pgtune.plan.model import (
    Address,
    Analyze,
    Bound,
    Change,
    Check,
    Hazard,
    Notice,
    Parameters,
    Plan,
    ServerInfo,
    Statement,
    Value,
)
from pgtune.profile.loader import LoadedProfile

SAVED_FORMAT = 3
"""2: the fingerprint covers the whole record; 1 (fingerprint of changes and notices only) is refused."""
MAX_PLAN_BYTES = 64 * 2**20


class PlanFileError(PgtuneError):
    """A saved plan that cannot be read, or does not match what pgtune derives now. Nothing ran."""


@dataclass(frozen=True)
class SavedPlan:
    record: dict[str, Any]  # the plan as written (JSON), without the `saved` block: compared, never run
    profile_path: str
    profile_digest: str
    fingerprint: str
    as_of: str | None
    exclude: tuple[str, ...]
    created_at: str
    pgtune_version: str
    path: Path  # where it was read from (for messages)

    @property
    def plan(self) -> Plan:
        """The record as a Plan, for display (`pgtune show`) only."""
        return plan_from_dict(self.record)

    @property
    def cluster(self) -> bool:
        """A cluster's plan (`plan --dsn A --dsn B --out`, or --patroni): nodes, restart order, DCS."""
        return "cluster" in self.record

    @property
    def edited(self) -> bool:
        """The record is not what pgtune wrote (its digest differs from the recorded fingerprint)."""
        return _digest(self.record) != self.fingerprint


def _canonical(value: Any) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), default=str)


def _digest(value: Any) -> str:
    return "sha256:" + hashlib.sha256(_canonical(value).encode()).hexdigest()


def profile_digest(loaded: LoadedProfile) -> str:
    """Digest of the resolved profile (after extends and interpolation), not of its text."""
    return _digest(loaded.profile.model_dump(mode="json", by_alias=True))


def record(plan: Plan) -> dict[str, Any]:
    """The plan as its saved record: exactly the JSON `plan --format json` prints, as JSON values."""
    doc: dict[str, Any] = json.loads(_canonical(plan_to_dict(plan)))
    return doc


def cluster_record(plan: ClusterPlan) -> dict[str, Any]:
    """A cluster's plan as its saved record: exactly the JSON `plan --format json` prints for it."""
    from pgtune.plan.codec import cluster_to_dict

    doc: dict[str, Any] = json.loads(_canonical(cluster_to_dict(plan)))
    return doc


def record_of(plan: Plan | ClusterPlan) -> dict[str, Any]:
    return record(plan) if isinstance(plan, Plan) else cluster_record(plan)


def fingerprint(plan: Plan | ClusterPlan) -> str:
    return _digest(record_of(plan))


def save(
    plan: Plan | ClusterPlan, loaded: LoadedProfile, as_of: str | None, path: Path, exclude: Sequence[str] = ()
) -> None:
    doc = record_of(plan)
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


def _text(saved: dict[str, Any], key: str, path: Path, optional: bool = False) -> str | None:
    value = saved.get(key)
    if value is None and optional:
        return None
    if not isinstance(value, str):
        raise PlanFileError(f"{path}: damaged saved plan (saved.{key} is not a string)")
    return value


def load(path: Path) -> SavedPlan:
    """Read a saved plan as data: JSON only, bounded in size, every field type-checked."""
    try:
        if not path.is_file():
            raise PlanFileError(f"{path}: not a saved plan (not a regular file)")
        if path.stat().st_size > MAX_PLAN_BYTES:
            raise PlanFileError(f"{path}: not a saved plan (larger than {MAX_PLAN_BYTES // 2**20} MB)")
        doc = json.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise PlanFileError(f"cannot read saved plan {path}: {exc.strerror}") from None
    except UnicodeDecodeError:
        raise PlanFileError(f"{path}: not a saved plan (not UTF-8 text)") from None
    except json.JSONDecodeError as exc:
        raise PlanFileError(f"{path}:{exc.lineno}:{exc.colno}: not a saved plan (invalid JSON: {exc.msg})") from None
    except RecursionError:
        raise PlanFileError(f"{path}: not a saved plan (nested too deeply)") from None
    if not isinstance(doc, dict) or not isinstance(doc.get("saved"), dict):
        raise PlanFileError(f"{path}: not a saved plan (write one with `pgtune plan PROFILE --out FILE`)")
    saved = doc.pop("saved")
    if doc.get("format_version") != FORMAT_VERSION or saved.get("format") != SAVED_FORMAT:
        raise PlanFileError(
            f"{path}: saved plan format {saved.get('format')!r} is not the one this pgtune writes ({SAVED_FORMAT}); "
            "run `pgtune plan --out` again"
        )
    exclude = saved.get("exclude", [])
    if not isinstance(exclude, list) or not all(isinstance(p, str) for p in exclude):
        raise PlanFileError(f"{path}: damaged saved plan (saved.exclude is not a list of strings)")
    return SavedPlan(
        doc,
        _text(saved, "profile_path", path) or "",
        _text(saved, "profile_digest", path) or "",
        _text(saved, "fingerprint", path) or "",
        _text(saved, "as_of", path, optional=True),
        tuple(exclude),
        _text(saved, "created_at", path, optional=True) or "",
        _text(saved, "pgtune_version", path, optional=True) or "",
        path,
    )


def plan_from_dict(doc: dict[str, Any]) -> Plan:
    """The Plan a JSON plan describes (the inverse of plan.codec.plan_to_dict): for display."""
    try:
        return _plan_from_dict(doc)
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        raise PlanFileError(f"damaged saved plan ({type(exc).__name__}: {exc})") from None


def _plan_from_dict(doc: dict[str, Any]) -> Plan:
    changes = []
    for c in doc["changes"]:
        statements = tuple(
            Statement(
                str(s["sql"]),
                bool(s["transactional"]),
                str(s.get("lock", "none")),
                bool(s.get("retryable", True)),
                s.get("progress"),
                str(s.get("target", "postgres")),
                s.get("file"),
                tuple((str(lk["relation"]), str(lk["mode"])) for lk in s.get("locks", [])),
            )
            for s in c["statements"]
        )
        parts = c["address"]
        address = Address(
            str(parts["kind"]),
            str(parts["name"]),
            *(None if parts.get(k) is None else str(parts[k]) for k in ("schema", "scope", "target")),
        )
        changes.append(
            Change(
                address,
                str(c["action"]),
                _value(address.kind, c["before"]),
                _value(address.kind, c["after"]),
                statements,
                restart_required=bool(c["restart_required"]),
                reload_required=bool(c["reload_required"]),
                hazards=tuple(Hazard(str(h["code"]), str(h["message"])) for h in c["hazards"]),
                note=c.get("note"),
                source=c.get("source"),
                reset=bool(c.get("reset", False)),
            )
        )
    notices = tuple(Notice(n["kind"], n["object"], n["code"], n["message"]) for n in doc.get("notices", []))
    checks = tuple(Check(k["code"], k["status"], k["message"], k.get("numbers", {})) for k in doc.get("checks", []))
    server = ServerInfo(str(doc["server"]["version"]), int(doc["server"]["version_num"]))
    return Plan(str(doc["profile"]), server, tuple(changes), notices, checks)


def _value(kind: str, data: Any) -> Value:
    """A before/after value from its JSON form: structured views by the change's kind."""
    if not isinstance(data, dict):
        scalar: Value = data
        return scalar
    if kind == "storage":
        return Parameters.of({str(k): None if v is None else str(v) for k, v in data.items()})
    if data == {"analyze": True}:
        return Analyze()
    values = data.get("values")
    return Bound(
        data.get("from"),
        data.get("to"),
        None if values is None else tuple(values),
        bool(data.get("default")),
        bool(data.get("reattach")),
    )


def verify(saved: SavedPlan, fresh: Plan | ClusterPlan) -> None:
    """Refuse unless the fresh plan equals the saved record in every field."""
    if saved.cluster != (not isinstance(fresh, Plan)):
        what = "a cluster's" if saved.cluster else "one server's"
        raise PlanFileError(
            f"{saved.path} is {what} plan: apply it to the same target it was made for (every node with --dsn, or "
            "--patroni). Nothing was executed."
        )
    now = record_of(fresh)
    if now == saved.record:
        return
    reasons = cluster_differences(saved.record, now) if saved.cluster else differences(saved.record, now)
    head = (
        f"{saved.path} was edited after pgtune wrote it and does not match what pgtune derives now"
        if saved.edited
        else "Saved plan is stale"
    )
    raise PlanFileError(
        f"{head}: " + "; ".join(reasons) + ". Run `pgtune plan --out` again and review the new plan. "
        "Nothing was executed."
    )


def cluster_differences(saved: dict[str, Any], fresh: dict[str, Any]) -> list[str]:
    """Node by node (each as `differences` says it), then the DCS changes and the cluster's facts."""
    lines: list[str] = []
    old = {n.get("node"): n for n in saved.get("nodes") or [] if isinstance(n, dict)}
    new = {n.get("node"): n for n in fresh.get("nodes") or [] if isinstance(n, dict)}
    for name in sorted(set(old) | set(new), key=str):
        if name not in new:
            lines.append(f"node {name}: in the saved plan, not in the cluster now")
        elif name not in old:
            lines.append(f"node {name}: in the cluster now, not in the saved plan")
        else:
            lines += [f"{name}: {line}" for line in differences(old[name], new[name])]
    for store, label in (("patroni", "Patroni"), ("parameter_group", "parameter group")):
        if saved.get(store) != fresh.get(store):
            lines += [f"{label}: {line}" for line in differences(saved.get(store) or {}, fresh.get(store) or {})]
    if saved.get("cluster") != fresh.get("cluster"):
        lines += [f"cluster: {line}" for line in differences(saved.get("cluster") or {}, fresh.get("cluster") or {})]
    return lines or ["the records differ"]


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 200 else text[:197] + "..."


def _keyed(doc: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for index, c in enumerate(doc.get("changes") or []):
        if isinstance(c, dict):
            out[f"{c.get('kind')} {c.get('object')}"] = c
        else:
            out[f"change #{index + 1}"] = c
    for n in doc.get("notices") or []:
        if isinstance(n, dict):
            out[f"notice {n.get('code')} {n.get('object')}"] = n.get("message")
    for k in doc.get("checks") or []:
        if isinstance(k, dict):
            out[f"check {k.get('code')}"] = {key: k.get(key) for key in ("status", "message", "numbers")}
    return out


def _field(path: str) -> str:
    """DeepDiff's root['statements'][0]['sql'] as statements[0].sql."""
    out = path.removeprefix("root")
    for quote in ("['", "']"):
        out = out.replace(quote, "." if quote == "['" else "")
    return out.lstrip(".")


def differences(saved: dict[str, Any], fresh: dict[str, Any]) -> list[str]:
    """What differs between a saved record and the plan derived now, one line each (structured)."""
    from deepdiff import DeepDiff  # here, not at the top: every CLI run would pay ~60 ms to import it

    lines: list[str] = []
    rest = {k: v for k, v in saved.items() if k not in ("changes", "notices", "checks")}
    now_rest = {k: v for k, v in fresh.items() if k not in ("changes", "notices", "checks")}
    old, new = _keyed(saved), _keyed(fresh)
    for key in sorted(new.keys() - old.keys()):
        value = new[key]
        if isinstance(value, dict) and "action" in value:
            detail = f"{value['action']} {value.get('before')!r} -> {value.get('after')!r}"
        else:
            detail = _short(value)
        lines.append(f"{key}: now needed ({detail}), not in the saved plan")
    for key in sorted(old.keys() - new.keys()):
        lines.append(f"{key}: in the saved plan, no longer needed (not derived now)")
    for key in sorted(old.keys() & new.keys()):
        lines.extend(_compare(f"{key}: ", old[key], new[key], DeepDiff))
    # Order: the same changes in another order run differently.
    if not lines and [k for k in old if k in new] != [k for k in new if k in old]:
        lines.append("the changes are in another order than in the saved plan")
    derived = ("summary", "epilogue", "epilogue_statements")  # follow from the changes: said once already
    for key in sorted(set(rest) | set(now_rest), key=lambda k: (k in derived, k)):
        if key in derived and lines:
            continue
        lines.extend(_compare(f"{key}: ", rest.get(key), now_rest.get(key), DeepDiff))
    return list(dict.fromkeys(lines)) or ["the plan differs (no detail)"]


def _compare(prefix: str, old: Any, new: Any, deepdiff: Any) -> list[str]:
    if old == new:
        return []
    if not isinstance(old, dict | list) or not isinstance(new, dict | list):
        return [f"{prefix}was {_short(old)} when planned, now {_short(new)}"]
    diff = deepdiff(old, new, verbose_level=2)
    lines = []
    for path, change in {**diff.get("values_changed", {}), **diff.get("type_changes", {})}.items():
        where = _field(path) or "value"
        lines.append(
            f"{prefix}{where} was {_short(change['old_value'])} when planned, now {_short(change['new_value'])}"
        )
    for kind in ("iterable_item_added", "dictionary_item_added"):
        for path in diff.get(kind, {}):
            lines.append(f"{prefix}{_field(path)} is not in the saved plan")
    for kind in ("iterable_item_removed", "dictionary_item_removed"):
        for path in diff.get(kind, {}):
            lines.append(f"{prefix}{_field(path)} is in the saved plan, not derived now")
    return lines or [f"{prefix}differs from the saved plan"]
