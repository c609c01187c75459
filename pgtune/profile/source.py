"""Reading YAML with ruamel while keeping what pgtune needs: source text and positions.

Scalars are kept as the text the user wrote (YAML 1.1 `off` or `010` never turn into a bool or an
int behind the user's back: the server's own grammar decides what a value means). `null`/`~`/empty
stay None (None means "reset"). Every key and value gets a `Location` in a `PositionIndex`, so any
error — schema or server-side — is reported as `path:line:col`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap, CommentedSeq
from ruamel.yaml.constructor import RoundTripConstructor
from ruamel.yaml.error import MarkedYAMLError

from pgtune.errors import Location, ProfileError

PathKey = tuple[str | int, ...]


class _TextConstructor(RoundTripConstructor):
    """Round-trip constructor that leaves ints, floats, bools and timestamps as their text."""


def _as_text(constructor: RoundTripConstructor, node: Any) -> str:
    return str(node.value)


for _tag in ("int", "float", "bool", "timestamp"):
    _TextConstructor.add_constructor(f"tag:yaml.org,2002:{_tag}", _as_text)


def _yaml() -> YAML:
    yaml = YAML(typ="rt")
    yaml.Constructor = _TextConstructor
    yaml.allow_duplicate_keys = False
    return yaml


@dataclass
class PositionIndex:
    """Maps a path inside the document (`("settings", "work_mem")`) to where it was written."""

    entries: dict[PathKey, Location] = field(default_factory=dict)

    def find(self, path: PathKey) -> Location | None:
        """The location of the path, or of its nearest ancestor that has one."""
        for end in range(len(path), -1, -1):
            loc = self.entries.get(tuple(path[:end]))
            if loc is not None:
                return loc
        return None

    def overlay(self, other: PositionIndex, data: Any, prefix: PathKey = ()) -> None:
        """Take `other`'s locations for everything `data` (the overlaid document) sets.

        Mappings merge key by key; any other value replaces the whole subtree below it, so its
        old descendants' locations go. One pass over each index (O(entries x depth)): profiles
        with thousands of tables must not pay a scan per value."""
        paths: set[PathKey] = set()
        leaves: set[PathKey] = set()

        def walk(node: Any, path: PathKey) -> None:
            paths.add(path)
            if isinstance(node, dict):
                for key, value in node.items():
                    walk(value, (*path, key))
            else:
                leaves.add(path)

        walk(data, prefix)

        def core(path: PathKey) -> PathKey:
            return path[:-1] if path and path[-1] == "__value__" else path

        def under_leaf(path: PathKey) -> bool:
            return any(path[:end] in leaves for end in range(len(prefix), len(path)))

        for path in [p for p in self.entries if under_leaf(core(p))]:
            del self.entries[path]
        for path, loc in other.entries.items():
            c = core(path)
            if c and len(c) >= len(prefix) and (c in paths or under_leaf(c)):
                self.entries[path] = loc


@dataclass
class YamlDocument:
    path: Path
    data: Any
    index: PositionIndex


def read_document(path: Path, display: str) -> YamlDocument:
    """Parse one YAML file into plain Python data plus its position index."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ProfileError(None, f"{display}: no such file") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ProfileError(None, f"{display}: cannot read: {exc}") from None
    try:
        root = _yaml().load(text)
    except MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        loc = Location(display, mark.line + 1, mark.column + 1) if mark else Location(display, 1, 1)
        problem = " ".join(p for p in (exc.context, exc.problem) if p) or "invalid YAML"
        raise ProfileError(loc, f"invalid YAML: {problem}") from None
    except Exception as exc:  # ruamel raises assorted errors on exotic input
        raise ProfileError(Location(display, 1, 1), f"invalid YAML: {exc}") from None
    index = PositionIndex({(): Location(display, 1, 1)})
    data = _plain(root, (), index, display)
    return YamlDocument(path, data, index)


def _plain(node: Any, path: PathKey, index: PositionIndex, display: str) -> Any:
    """Convert ruamel containers into dicts/lists/str/None, recording positions on the way."""
    if isinstance(node, CommentedMap):
        out: dict[str, Any] = {}
        for key, value in node.items():
            if isinstance(key, CommentedMap | CommentedSeq) or key is None:
                line, col = node.lc.line, node.lc.col
                raise ProfileError(Location(display, line + 1, col + 1), "mapping keys must be plain names")
            key_text = str(key)
            try:
                kline, kcol = node.lc.key(key)
                vline, vcol = node.lc.value(key)
            except (KeyError, TypeError):
                kline, kcol = vline, vcol = node.lc.line, node.lc.col
            child = (*path, key_text)
            # Containers report their own start; scalars the value's position after the key.
            index.entries[child] = Location(display, kline + 1, kcol + 1)
            index.entries[(*child, "__value__")] = Location(display, vline + 1, vcol + 1)
            out[key_text] = _plain(value, child, index, display)
        return out
    if isinstance(node, CommentedSeq):
        items = []
        for i, value in enumerate(node):
            try:
                line, col = node.lc.item(i)
            except (KeyError, TypeError, IndexError):
                line, col = node.lc.line, node.lc.col
            index.entries[(*path, i)] = Location(display, line + 1, col + 1)
            items.append(_plain(value, (*path, i), index, display))
        return items
    if node is None:
        return None
    return str(node)


def value_location(index: PositionIndex, path: PathKey) -> Location | None:
    """Where the value at `path` was written (falls back to its key, then ancestors)."""
    return index.entries.get((*path, "__value__")) or index.find(path)


def parse_value(text: str, where: Location) -> Any:
    """One YAML value given outside a file (`--set path=value`), read like a profile's values."""
    try:
        node = _yaml().load(text) if text.strip() else None
    except MarkedYAMLError as exc:
        raise ProfileError(where, f"invalid YAML value {text!r}: {exc.problem or 'cannot parse'}") from None
    return _plain(node, (), PositionIndex(), where.path)
