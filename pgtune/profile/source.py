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
from ruamel.yaml.error import MarkedYAMLError
from ruamel.yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from pgtune.errors import Location, ProfileError

PathKey = tuple[str | int, ...]

NULL_TAG = "tag:yaml.org,2002:null"
MERGE_TAG = "tag:yaml.org,2002:merge"


def _compose(text: str) -> Node | None:
    """The YAML node graph — text scalars with their marks, no typing — from ruamel's C parser
    (ruamel.yaml.clib; the pure-Python one when it is missing): profiles with thousands of tables
    load in a fraction of a second instead of seconds."""
    return YAML(typ="safe", pure=False).compose(text)


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
        root = _compose(text)
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


def _at(display: str, node: Node) -> Location:
    return Location(display, node.start_mark.line + 1, node.start_mark.column + 1)


def _pairs(node: MappingNode, display: str) -> list[tuple[Node, Node]]:
    """The mapping's key/value pairs with `<<` merges resolved (explicit keys win, YAML's rule)."""
    own: list[tuple[Node, Node]] = []
    merged: list[tuple[Node, Node]] = []
    for key, value in node.value:
        if key.tag == MERGE_TAG:
            sources = value.value if isinstance(value, SequenceNode) else [value]
            for source in sources:
                if not isinstance(source, MappingNode):
                    raise ProfileError(_at(display, source), "<< merges a mapping (or a list of mappings)")
                merged.extend(_pairs(source, display))
        else:
            own.append((key, value))
    names = {k.value for k, _ in own if isinstance(k, ScalarNode)}
    return own + [(k, v) for k, v in merged if not (isinstance(k, ScalarNode) and k.value in names)]


def _plain(node: Node | None, path: PathKey, index: PositionIndex, display: str) -> Any:
    """Convert YAML nodes into dicts/lists/str/None, recording positions on the way."""
    if node is None:
        return None
    if isinstance(node, MappingNode):
        out: dict[str, Any] = {}
        for key, value in _pairs(node, display):
            if not isinstance(key, ScalarNode) or key.tag == NULL_TAG:
                raise ProfileError(_at(display, key), "mapping keys must be plain names")
            key_text = str(key.value)
            if key_text in out:
                raise ProfileError(_at(display, key), f"invalid YAML: duplicate key {key_text!r}")
            child = (*path, key_text)
            # Containers report their own start; scalars the value's position after the key.
            index.entries[child] = _at(display, key)
            index.entries[(*child, "__value__")] = _at(display, value)
            out[key_text] = _plain(value, child, index, display)
        return out
    if isinstance(node, SequenceNode):
        items = []
        for i, value in enumerate(node.value):
            index.entries[(*path, i)] = _at(display, value)
            items.append(_plain(value, (*path, i), index, display))
        return items
    if node.tag == NULL_TAG:
        return None
    return str(node.value)


def value_location(index: PositionIndex, path: PathKey) -> Location | None:
    """Where the value at `path` was written (falls back to its key, then ancestors)."""
    return index.entries.get((*path, "__value__")) or index.find(path)


def parse_value(text: str, where: Location) -> Any:
    """One YAML value given outside a file (`--set path=value`), read like a profile's values."""
    try:
        node = _compose(text) if text.strip() else None
    except MarkedYAMLError as exc:
        raise ProfileError(where, f"invalid YAML value {text!r}: {exc.problem or 'cannot parse'}") from None
    return _plain(node, (), PositionIndex(), where.path)
