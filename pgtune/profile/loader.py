"""Load a profile: read YAML, resolve `extends`, validate with pydantic, keep positions.

Composition follows what Helm/kustomize users expect: maps deep-merge, lists and scalars are
replaced, later wins, the file itself wins over what it extends; ${VAR} is expanded per file
before merging and `--set` overrides come last (see compose.py). Every path in the merged
document remembers which file and line set it, so errors point into the right file.
"""

from __future__ import annotations

import difflib
import os
import types
import typing
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ValidationError

from pgtune.base.errors import Deferred, Location, ProfileError, raise_if_any
from pgtune.profile.compose import apply_overrides, interpolate
from pgtune.profile.model import PATTERN_MEANINGS, UNION_TAGS, Profile, validate_profile
from pgtune.profile.source import PathKey, PositionIndex, read_document, value_location


@dataclass
class LoadedProfile:
    """A validated profile plus where each of its values was written."""

    profile: Profile
    index: PositionIndex
    path: str

    def location(self, path: PathKey, *, key: bool = False) -> Location | None:
        return self.index.find(path) if key else value_location(self.index, path)

    def where(self, path: PathKey, *, key: bool = False) -> Deferred:
        """`location`, looked up only if an error is reported there (see `errors.Deferred`)."""
        return Deferred(lambda: self.location(path, key=key))


MESSAGES = {
    "Input should be a valid dictionary or instance of IndexSpec": (
        "an index is a mapping (columns: [...], where: ..., include: [...]) or the word absent"
    ),
    "Input should be 'absent'": "an index is a mapping (columns: [...]) or the word absent",
}
"""pydantic messages that say too little about a profile, rephrased."""


def _display(path: Path) -> str:
    """Paths are shown as the user gave them; extended files relative to their includer."""
    return os.path.normpath(path)


def _merge(base: Any, overlay: Any) -> Any:
    if isinstance(base, dict) and isinstance(overlay, dict):
        out = dict(base)
        for key, value in overlay.items():
            out[key] = _merge(base[key], value) if key in base else value
        return out
    return overlay


def _resolve(path: Path, chain: tuple[Path, ...], env: Mapping[str, str]) -> tuple[Any, PositionIndex]:
    resolved = path.resolve()
    display = _display(path)
    doc = read_document(path, display)
    data = doc.data if doc.data is not None else {}
    if isinstance(data, dict) and "$" in doc.text:  # values only, never keys; `extends` names files, not values
        data = {k: v if k == "extends" else interpolate(v, doc.index, env, (k,)) for k, v in data.items()}
    if not isinstance(data, dict):
        raise ProfileError(Location(display, 1, 1), "a profile must be a mapping of keys to values")
    extends = data.get("extends", [])
    if isinstance(extends, str):
        extends = [extends]
    if not isinstance(extends, list) or not all(isinstance(e, str) for e in extends):
        raise ProfileError(value_location(doc.index, ("extends",)), "extends must be a file name or a list of them")
    if not extends:  # the common case: the document's own index, as is (overlay's walk and a copy cost)
        if "extends" in data:  # `extends: []`
            for key in [p for p in doc.index.entries if p[:1] == ("extends",)]:
                del doc.index.entries[key]
        return {k: v for k, v in data.items() if k != "extends"}, doc.index
    merged: Any = {}
    index = PositionIndex()
    for i, name in enumerate(extends):
        base_path = path.parent / name
        loc = doc.index.entries.get(("extends", i)) or value_location(doc.index, ("extends",))
        if not name or any(ord(c) < 32 for c in name):
            raise ProfileError(loc, f"extends: {name!r} is not a file name")
        if base_path.resolve() in (*chain, resolved):
            cycle = " -> ".join(p.name for p in (*chain, resolved, base_path.resolve()))
            raise ProfileError(loc, f"extends cycle: {cycle}")
        if not base_path.is_file():
            raise ProfileError(loc, f"extends: no such file {name!r} (relative to {display})")
        base_data, base_index = _resolve(base_path, (*chain, resolved), env)
        merged = _merge(merged, base_data)
        index.overlay(base_index, base_data)
    own = {k: v for k, v in data.items() if k != "extends"}
    merged = _merge(merged, own)
    index.overlay(doc.index, own)
    index.entries[()] = Location(display, 1, 1)
    return merged, index


def resolve_document(
    path: str | Path, overrides: Sequence[str] = (), env: Mapping[str, str] | None = None
) -> tuple[dict[str, Any], PositionIndex]:
    """The merged document (extends, ${VAR} interpolation, --set overrides), not yet validated."""
    data, index = _resolve(Path(path), (), os.environ if env is None else env)
    if overrides:
        data = apply_overrides(data, index, list(overrides))
    return data, index


def load_profile(
    path: str | Path, overrides: Sequence[str] = (), env: Mapping[str, str] | None = None
) -> LoadedProfile:
    """Read and validate a profile; raise ProfileError(s) with positions on any problem.

    `overrides` are `--set path=value` expressions; `env` is the environment for ${VAR}."""
    path = Path(path)
    data, index = resolve_document(path, overrides, env)
    try:
        profile = validate_profile(data)
    except ValidationError as exc:
        errors = [_to_profile_error(err, index, Profile) for err in exc.errors()]
        errors.sort(key=lambda e: (e.location.line, e.location.col) if e.location else (0, 0))
        raise_if_any(errors)
        raise
    return LoadedProfile(profile, index, _display(path))


def _unwrap(tp: Any) -> Any:
    """The model inside Annotated[...] / unions, if any (for walking the schema by path)."""
    while hasattr(tp, "__metadata__"):  # Annotated
        tp = tp.__origin__
    if isinstance(tp, type) and issubclass(tp, BaseModel):
        return tp
    if typing.get_origin(tp) not in (typing.Union, types.UnionType):
        return tp
    for arg in typing.get_args(tp):
        inner = _unwrap(arg)
        if isinstance(inner, type) and issubclass(inner, BaseModel):
            return inner
    return tp


def _fields_at(model: type[BaseModel], loc: tuple[Any, ...]) -> list[str]:
    """The field names valid at `loc` (for 'did you mean' suggestions on unknown keys)."""
    current: Any = model
    for part in loc:
        current = _unwrap(current)
        if isinstance(current, type) and issubclass(current, BaseModel) and part in current.model_fields:
            current = current.model_fields[part].annotation
        else:
            args = getattr(current, "__args__", ())
            current = args[-1] if args else None
    current = _unwrap(current)
    if isinstance(current, type) and issubclass(current, BaseModel):
        return [f.alias or name for name, f in current.model_fields.items()]
    return []


def _to_profile_error(err: Any, index: PositionIndex, model: type[BaseModel]) -> ProfileError:
    loc = tuple(p for p in err["loc"] if p != "[key]" and p not in UNION_TAGS)
    if len(loc) < len([p for p in err["loc"] if p != "[key]"]) - 1 or not loc:
        # A user's key spelled like a union tag ("<index>") must not vanish with the tags.
        loc = tuple(p for p in err["loc"] if p != "[key]")
    dotted = ".".join(str(p) for p in loc) or "(profile)"
    kind = err["type"]
    if kind == "extra_forbidden":
        key = str(loc[-1])
        close = difflib.get_close_matches(key, _fields_at(model, loc[:-1]), n=3)
        hint = f"; did you mean {' or '.join(repr(c) for c in close)}?" if close else ""
        return ProfileError(
            index.find(loc), f"unknown key {key!r} in {'.'.join(map(str, loc[:-1])) or 'profile'}{hint}"
        )
    if kind == "missing":
        return ProfileError(index.find(loc[:-1]), f"missing required key {str(loc[-1])!r}")
    message = MESSAGES.get(err["msg"], err["msg"].removeprefix("Value error, "))
    if kind == "string_pattern_mismatch":
        message = PATTERN_MEANINGS.get(err["ctx"]["pattern"], message)
    if "[key]" in err["loc"]:
        return ProfileError(index.find(loc), f"invalid name {loc[-1]!r} in {'.'.join(map(str, loc[:-1]))}: {message}")
    return ProfileError(value_location(index, loc), f"{dotted}: {message}")
