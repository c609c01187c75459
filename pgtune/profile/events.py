"""The full YAML reader: plain data from ruamel's parser events (ruamel.yaml.clib's C parser; ruamel's
pure-Python one when it is missing), positions recorded on the way. Loaded only when a document is
not in the subset `blockyaml` reads, or when an error needs its position: most plans never import
ruamel (see `source`)."""

from __future__ import annotations

import copy
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any

from ruamel.yaml import YAML
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

from pgtune.base.errors import Location, ProfileError

if TYPE_CHECKING:
    from pgtune.profile.source import PathKey, PositionIndex

try:
    from _ruamel_yaml import CParser
except ImportError:  # pragma: no cover - ruamel.yaml.clib is a dependency; this is its fallback
    CParser = None

NULL_TAG = "tag:yaml.org,2002:null"
_NULL_WORDS = frozenset({"", "~", "null", "Null", "NULL"})  # YAML's null, as plain scalars
_MERGE = "<<"
MAX_DEPTH = 64
"""Deepest nesting a profile may have (the format itself needs 7)."""
MAX_ALIAS_NODES = 250_000
"""Values YAML aliases may copy in one document: far above any real profile, far below the
hundreds of millions an alias bomb (9 levels of 9 aliases) asks for."""


def _size(data: Any) -> int:
    """Values in a composed YAML subtree (the cost of copying it once)."""
    if isinstance(data, dict):
        return 1 + sum(_size(k) + _size(v) for k, v in data.items())
    if isinstance(data, list):
        return 1 + sum(_size(v) for v in data)
    return 1


def _events(text: str) -> Callable[[], Event]:
    """The parser's next-event function."""
    if CParser is not None:
        next_event: Callable[[], Event] = CParser(text).get_event
        return next_event
    events: Iterator[Event] = iter(YAML(typ="safe", pure=True).parse(text))
    return events.__next__


class Composer:
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
