"""Reading YAML with ruamel while keeping what pgtune needs: source text and positions.

Scalars are kept as the text the user wrote (YAML 1.1 `off` or `010` never turn into a bool or an
int behind the user's back: the server's own grammar decides what a value means). `null`/`~`/empty
stay None (None means "reset"). Every key and value gets a `Location` in a `PositionIndex`, so any
error — schema or server-side — is reported as `path:line:col`.

Most profiles are read by `blockyaml`, which takes the subset of YAML profiles are written in at
a few string operations a line and hands anything else to the parser below. Documents are built
straight from the parser's events (ruamel.yaml.clib's C parser; ruamel's
pure-Python one when it is missing). Nothing pgtune needs comes from ruamel's node graph and tag
resolver, which cost most of the time of loading a profile with thousands of tables: the only
tags that matter are null and the `<<` merge key, recognised here as YAML defines them.
"""

from __future__ import annotations

import copy
import stat
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ruamel.yaml import YAML
from ruamel.yaml.error import MarkedYAMLError
from ruamel.yaml.events import (
    AliasEvent,
    CollectionEndEvent,
    DocumentStartEvent,
    Event,
    MappingStartEvent,
    ScalarEvent,
    SequenceStartEvent,
    StreamEndEvent,
)

import pgtune.profile.blockyaml as blockyaml
from pgtune.base.errors import Location, ProfileError

try:
    from _ruamel_yaml import CParser
except ImportError:  # pragma: no cover - ruamel.yaml.clib is a dependency; this is its fallback
    CParser = None

PathKey = tuple[str | int, ...]

NULL_TAG = "tag:yaml.org,2002:null"
_NULL_WORDS = frozenset({"", "~", "null", "Null", "NULL"})  # YAML's null, as plain scalars
_MERGE = "<<"


def _events(text: str) -> Callable[[], Event]:
    """The parser's next-event function."""
    if CParser is not None:
        next_event: Callable[[], Event] = CParser(text).get_event
        return next_event
    events: Iterator[Event] = iter(YAML(typ="safe", pure=True).parse(text))
    return events.__next__


class _Composer:
    """Plain data (dicts, lists, str, None) from YAML events, recording positions on the way."""

    def __init__(self, text: str, display: str, index: PositionIndex | None) -> None:
        self.next = _events(text)
        self.display = display
        self.record = index is not None  # None: data only (the positions come in a second pass)
        self.entries = index.entries if index is not None else {}
        self.anchors: dict[str, tuple[Any, dict[PathKey, Location]]] = {}
        self.sizes: dict[str, int] = {}  # anchor -> nodes one use of it copies
        self.expanded = 0  # nodes copied by aliases so far
        self.depth = 0

    def at(self, event: Event) -> Location:
        return Location(self.display, event.start_mark.line + 1, event.start_mark.column + 1)

    def document(self) -> Any:
        self.next()  # StreamStart
        event = self.next()
        if isinstance(event, StreamEndEvent):
            return None
        data = self.node(self.next(), ())
        self.next()  # DocumentEnd
        event = self.next()
        if isinstance(event, DocumentStartEvent):
            message = "invalid YAML: expected a single document in the stream but found another document"
            raise ProfileError(self.at(event), message)
        return data

    def node(self, event: Event, path: PathKey) -> Any:
        if isinstance(event, ScalarEvent):
            data = self.scalar(event)
            if event.anchor:
                self.anchors[event.anchor] = (data, {})
                self.sizes[event.anchor] = 1
            return data
        if isinstance(event, AliasEvent):
            return self.alias(event, path)
        anchor: str | None = getattr(event, "anchor", None)  # a collection's start event
        if anchor:  # composed apart, so an alias can copy the subtree with its positions
            outer, self.entries = self.entries, {}
            data = self.collection(event, ())
            self.anchors[anchor] = (data, self.entries)
            self.sizes[anchor] = _size(data)
            self.entries = outer
            outer.update(((*path, *p), loc) for p, loc in self.anchors[anchor][1].items())
            return data
        return self.collection(event, path)

    def collection(self, event: Event, path: PathKey) -> Any:
        self.depth += 1
        if self.depth > MAX_DEPTH:
            raise ProfileError(self.at(event), f"invalid YAML: nested deeper than {MAX_DEPTH} levels")
        try:
            if isinstance(event, SequenceStartEvent):
                return self.sequence(path)
            if isinstance(event, MappingStartEvent):
                return self.mapping(path)
            raise ProfileError(self.at(event), f"invalid YAML: unexpected {type(event).__name__}")
        finally:
            self.depth -= 1

    @staticmethod
    def scalar(event: ScalarEvent) -> str | None:
        tag = event.tag
        if tag is None or tag == "!":
            if event.implicit[0] and event.value in _NULL_WORDS:
                return None
        elif tag == NULL_TAG:
            return None
        value: str | None = event.value
        return value

    def alias(self, event: AliasEvent, path: PathKey) -> Any:
        if event.anchor not in self.anchors:
            raise ProfileError(self.at(event), f"invalid YAML: found undefined alias {event.anchor!r}")
        data, entries = self.anchors[event.anchor]
        self.expanded += self.sizes.get(event.anchor, 1)
        if self.expanded > MAX_ALIAS_NODES:  # counted before copying: a billion laughs stops here
            raise ProfileError(
                self.at(event),
                f"invalid YAML: aliases expand to more than {MAX_ALIAS_NODES:,} values (an alias bomb?)",
            )
        self.entries.update(((*path, *p), loc) for p, loc in entries.items())
        return copy.deepcopy(data)  # each use is its own value (--set may change one of them)

    def sequence(self, path: PathKey) -> list[Any]:
        items: list[Any] = []
        nxt, display = self.next, self.display
        event = nxt()
        while not isinstance(event, CollectionEndEvent):
            if self.record:
                mark = event.start_mark
                self.entries[(*path, len(items))] = Location(display, mark.line + 1, mark.column + 1)
            if type(event) is ScalarEvent and not event.anchor:
                items.append(self.scalar(event))
            else:
                items.append(self.node(event, (*path, len(items))))
            event = nxt()
        return items

    def mapping(self, path: PathKey) -> dict[str, Any]:
        """The hot loop of a large profile: kept flat (no call per scalar, marks read inline)."""
        out: dict[str, Any] = {}
        merged: list[tuple[dict[str, Any], dict[PathKey, Location]]] = []
        nxt, display, scalar = self.next, self.display, self.scalar
        event = nxt()
        while not isinstance(event, CollectionEndEvent):
            key = event
            if type(key) is ScalarEvent:
                text = scalar(key)
                if key.anchor:
                    self.anchors[key.anchor] = (text, {})
                if text == _MERGE and key.implicit[0] and key.tag is None:
                    merged += self.merge_sources(nxt())
                    event = nxt()
                    continue
            elif isinstance(key, AliasEvent):
                text = self.alias(key, ())
            else:
                text = None
            if not isinstance(text, str):
                raise ProfileError(self.at(key), "mapping keys must be plain names")
            if text in out:
                raise ProfileError(self.at(key), f"invalid YAML: duplicate key {text!r}")
            value = nxt()
            if self.record:
                # Containers report their own start; scalars the value's position after the key.
                child = (*path, text)
                key_mark, value_mark = key.start_mark, value.start_mark
                entries = self.entries
                entries[child] = Location(display, key_mark.line + 1, key_mark.column + 1)
                entries[(*child, "__value__")] = Location(display, value_mark.line + 1, value_mark.column + 1)
            if type(value) is ScalarEvent and not value.anchor:
                out[text] = scalar(value)
            else:
                out[text] = self.node(value, (*path, text))
            event = nxt()
        for data, entries in merged:  # explicit keys win, then earlier sources (YAML's rule)
            taken = {name for name in data if name not in out}
            out.update((name, data[name]) for name in taken)
            self.entries.update(((*path, *p), loc) for p, loc in entries.items() if p and p[0] in taken)
        return out

    def merge_sources(self, event: Event) -> list[tuple[dict[str, Any], dict[PathKey, Location]]]:
        """What `<<:` merges: a mapping, an alias of one, or a sequence of those."""
        if isinstance(event, SequenceStartEvent):
            sources = []
            inner = self.next()
            while not isinstance(inner, CollectionEndEvent):
                sources += self.merge_sources(inner)
                inner = self.next()
            return sources
        outer, self.entries = self.entries, {}
        at = self.at(event)
        data = self.node(event, ())
        entries, self.entries = self.entries, outer
        if not isinstance(data, dict):
            raise ProfileError(at, "<< merges a mapping (or a list of mappings)")
        return [(data, entries)]


class PositionIndex:
    """Maps a path inside the document (`("settings", "work_mem")`) to where it was written.

    Built on first use when given `build`: a document's positions take a second pass over its
    text, and only an error (or `extends`, `--set`) ever asks for them."""

    def __init__(
        self,
        entries: dict[PathKey, Location] | None = None,
        *,
        build: Callable[[], dict[PathKey, Location]] | None = None,
    ) -> None:
        self._entries = entries if entries is not None or build is not None else {}
        self._build = build

    @property
    def entries(self) -> dict[PathKey, Location]:
        if self._entries is None:
            assert self._build is not None
            self._entries, self._build = self._build(), None
        return self._entries

    @property
    def built(self) -> bool:
        return self._entries is not None

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
    text: str


MAX_DEPTH = 64
"""Deepest nesting a profile may have (the format itself needs 7)."""
MAX_ALIAS_NODES = 250_000
"""Values YAML aliases may copy in one document: far above any real profile, far below the
hundreds of millions an alias bomb (9 levels of 9 aliases) asks for."""
MAX_PROFILE_BYTES = 64 * 2**20
"""A 10,000-table profile is about 2.5 MB."""


def _size(data: Any) -> int:
    """Values in a composed YAML subtree (the cost of copying it once)."""
    if isinstance(data, dict):
        return 1 + sum(_size(k) + _size(v) for k, v in data.items())
    if isinstance(data, list):
        return 1 + sum(_size(v) for v in data)
    return 1


def _check_file(path: Path, display: str) -> None:
    """A regular file of bounded size, checked before opening: a FIFO or a device would block or
    never end."""
    try:
        info = path.stat()
    except FileNotFoundError:
        raise ProfileError(None, f"{display}: no such file") from None
    except OSError as exc:
        raise ProfileError(None, f"{display}: cannot read: {exc.strerror}") from None
    if not stat.S_ISREG(info.st_mode):
        raise ProfileError(None, f"{display}: not a regular file")
    if info.st_size > MAX_PROFILE_BYTES:
        raise ProfileError(None, f"{display}: larger than {MAX_PROFILE_BYTES // 2**20} MB")


def read_document(path: Path, display: str) -> YamlDocument:
    """Parse one YAML file into plain Python data plus its position index."""
    _check_file(path, display)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ProfileError(None, f"{display}: no such file") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ProfileError(None, f"{display}: cannot read: {exc}") from None
    data = blockyaml.load(text)  # the common subset, fast; anything else (errors too) below
    if data is blockyaml.UNSUPPORTED:
        data = _load(text, display, None)

    def positions() -> dict[PathKey, Location]:
        index = PositionIndex({(): Location(display, 1, 1)})
        _load(text, display, index)  # the text parsed once already: this pass cannot fail
        return index.entries

    return YamlDocument(path, data, PositionIndex(build=positions), text)


def _load(text: str, display: str, index: PositionIndex | None) -> Any:
    try:
        return _Composer(text, display, index).document()
    except MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        loc = Location(display, mark.line + 1, mark.column + 1) if mark else Location(display, 1, 1)
        problem = " ".join(p for p in (exc.context, exc.problem) if p) or "invalid YAML"
        raise ProfileError(loc, f"invalid YAML: {problem}") from None
    except ProfileError:
        raise
    except Exception as exc:  # ruamel raises assorted errors on exotic input
        raise ProfileError(Location(display, 1, 1), f"invalid YAML: {exc}") from None


def value_location(index: PositionIndex, path: PathKey) -> Location | None:
    """Where the value at `path` was written (falls back to its key, then ancestors)."""
    return index.entries.get((*path, "__value__")) or index.find(path)


def parse_value(text: str, where: Location) -> Any:
    """One YAML value given outside a file (`--set path=value`), read like a profile's values."""
    if not text.strip():
        return None
    try:
        return _Composer(text, where.path, None).document()
    except MarkedYAMLError as exc:
        raise ProfileError(where, f"invalid YAML value {text!r}: {exc.problem or 'cannot parse'}") from None
    except ProfileError as exc:
        raise ProfileError(where, f"invalid YAML value {text!r}: {exc.message}") from None
