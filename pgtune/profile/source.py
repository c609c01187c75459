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

import stat
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pgtune.profile.blockyaml as blockyaml
from pgtune.base.errors import Location, ProfileError

PathKey = tuple[str | int, ...]


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


MAX_PROFILE_BYTES = 64 * 2**20
"""A 10,000-table profile is about 2.5 MB."""


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
    from ruamel.yaml.error import MarkedYAMLError

    from pgtune.profile.events import Composer

    try:
        return Composer(text, display, index).document()
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
    from ruamel.yaml.error import MarkedYAMLError

    from pgtune.profile.events import Composer

    try:
        return Composer(text, where.path, None).document()
    except MarkedYAMLError as exc:
        raise ProfileError(where, f"invalid YAML value {text!r}: {exc.problem or 'cannot parse'}") from None
    except ProfileError as exc:
        raise ProfileError(where, f"invalid YAML value {text!r}: {exc.message}") from None
