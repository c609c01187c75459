"""An operator's cluster manifest as pgtune reads and edits it: one YAML document (read with the
profile reader's bounds: size, depth, aliases), its parameters map, and edits made in the text itself
— a value replaced in place, a key added under the map or removed with its line — so every other byte
and comment stays as it was, and the result is read back and must say exactly what was meant.
Values are written as double-quoted strings: the operators' CRDs take strings (CloudNativePG and
Zalando reject a YAML number), and Kubernetes reads YAML 1.1, where `on` is a boolean."""

from __future__ import annotations

import os
import re
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pgtune.base.errors import Location, ProfileError
from pgtune.integrations.endpoints import EndpointError
from pgtune.profile.edit import insert_entries, value_spans
from pgtune.profile.source import PositionIndex, parse_value, read_document, value_location
from pgtune.targets.operators.rules import OPERATORS, Operator

_NOT_A_STRING = re.compile(
    r"^(?:[-+]?(?:\d[\d_]*)?\.?\d+(?:[eE][-+]?\d+)?|0x[0-9a-fA-F]+|0o?[0-7]+|y|Y|yes|Yes|YES|n|N|no|No|NO|true|True|"
    r"TRUE|false|False|FALSE|on|On|ON|off|Off|OFF|null|Null|NULL|~|\.inf|\.nan)$"
)
"""Plain scalars Kubernetes' YAML 1.1 reader takes for something other than a string."""


class ManifestWriteFailed(EndpointError):
    """The manifest could not be written (reported per change, like any store's refusal)."""


class ManifestError(ProfileError):
    """The manifest cannot be read as the operator's cluster, or an edit would not say what was meant."""


@dataclass
class Manifest:
    path: Path
    operator: Operator
    text: str
    data: dict[str, Any]
    parameters: dict[str, str]  # as written (every scalar read as text)
    unquoted: frozenset[str]  # keys whose value is a plain scalar YAML 1.1 reads as a number or boolean
    index: PositionIndex  # where each key was written (positions built only when an error asks)

    @property
    def instances(self) -> int:
        spec = self.data.get("spec") or {}
        raw = spec.get("instances") or spec.get("numberOfInstances") or "1"
        try:
            return int(str(raw))
        except ValueError:
            return 1

    @property
    def name(self) -> str:
        meta = self.data.get("metadata") or {}
        return str(meta.get("name") or self.path.name)

    def location(self, key: str | None = None) -> Location | None:
        return value_location(self.index, (*self.operator.parameters, key) if key else self.operator.parameters)

    def edited(self, values: dict[str, str | None]) -> str:
        """The manifest's text with these parameters set (None: removed), every other byte kept,
        read back to check it says exactly that."""
        text = self.text
        path = self.operator.parameters
        for key in sorted(k for k, v in values.items() if v is None):
            text = _remove(text, (*path, key))
        sets: list[tuple[tuple[Any, ...], Any, str | None]] = [
            ((*path, key), value, None) for key, value in values.items() if value is not None
        ]
        if sets:
            text = insert_entries(text, sets)
            text = _quoted(text, path, [k for k, v in values.items() if v is not None])
        wanted = {k: v for k, v in self.parameters.items() if k not in values} | {
            k: v for k, v in values.items() if v is not None
        }
        if _parameters(text, self.operator, self.path) != wanted:
            problem = "editing the parameters would not read back as intended: not written"
            raise ManifestError(None, f"{self.path}: {problem}")
        return text

    def write(self, values: dict[str, str | None]) -> None:
        """Edit the file in place (a new file renamed over it: a reader never sees half of it)."""
        text = self.edited(values)
        fd, tmp = tempfile.mkstemp(dir=self.path.parent, prefix=f".{self.path.name}.", suffix=".tmp")
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as fh:
                fh.write(text)
            os.chmod(tmp, self.path.stat().st_mode & 0o777)
            os.replace(tmp, self.path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
        self.text = text
        self.parameters = _parameters(text, self.operator, self.path)
        self.index = read_document(self.path, str(self.path)).index  # the positions of what is on disk now


def read(path: Path, operator_key: str) -> Manifest:
    """The manifest at `path`, which must be that operator's cluster resource."""
    operator = OPERATORS[operator_key]
    doc = read_document(path, str(path))
    data = doc.data
    if not isinstance(data, dict):
        raise ManifestError(Location(str(path), 1, 1), f"{path}: not a {operator.name} manifest (not a mapping)")
    api, kind = str(data.get("apiVersion") or ""), str(data.get("kind") or "")
    if not any(api.startswith(prefix) and kind == want for prefix, want in operator.kinds):
        wanted = " or ".join(f"{p}*/{k}" for p, k in operator.kinds)
        raise ManifestError(
            Location(str(path), 1, 1), f"{path}: apiVersion {api!r} kind {kind!r} is not {operator.name}'s ({wanted})"
        )
    parameters = _parameters_of(data, operator, path)  # read once: the document parsed above
    spans = value_spans(doc.text)
    unquoted = frozenset(
        key
        for key in parameters
        if (span := spans.get((*operator.parameters, key))) is not None
        and _NOT_A_STRING.match(doc.text[span.start : span.end])
    )
    return Manifest(path, operator, doc.text, data, parameters, unquoted, doc.index)


def _parameters(text: str, operator: Operator, path: Path) -> dict[str, str]:
    """The parameters map `text` holds (an edit's result, read back)."""
    return _parameters_of(parse_value(text, Location(str(path), 1, 1)), operator, path)


def _parameters_of(data: Any, operator: Operator, path: Path) -> dict[str, str]:
    node: Any = data
    for key in operator.parameters:
        node = node.get(key) if isinstance(node, dict) else None
    if node is None:
        return {}
    if not isinstance(node, dict):
        where = ".".join(operator.parameters)
        raise ManifestError(Location(str(path), 1, 1), f"{path}: {where} is not a mapping")
    return {str(k): "" if v is None else str(v) for k, v in node.items()}


def _quoted(text: str, path: tuple[str, ...], keys: list[str]) -> str:
    """Each written value as a double-quoted string (the CRDs take strings; YAML 1.1 reads `on` as true)."""
    spans = value_spans(text)
    for key in sorted(keys, key=lambda k: spans[(*path, k)].start, reverse=True):
        span = spans[(*path, key)]
        raw = text[span.start : span.end]
        if raw.startswith(('"', "'")):
            continue
        escaped = raw.replace("\\", "\\\\").replace('"', '\\"')
        text = text[: span.start] + f'"{escaped}"' + text[span.end :]
    return text


def _remove(text: str, path: tuple[str, ...]) -> str:
    """The text without one key of a block mapping (its line, and a comment on it); a key in a flow
    mapping is removed with its comma."""
    spans = value_spans(text)
    span = spans.get(path)
    parent = spans.get(path[:-1])
    if span is None or parent is None:
        return text
    if parent.flow:
        body = text[parent.start + 1 : parent.end - 1]
        items = [i for i in _split_flow(body) if i.split(":", 1)[0].strip().strip("'\"") != path[-1]]
        return text[: parent.start + 1] + ", ".join(i.strip() for i in items) + text[parent.end - 1 :]
    start = text.rfind("\n", 0, span.start) + 1
    end = text.find("\n", span.end)
    end = len(text) if end < 0 else end + 1
    remaining = text[:start] + text[end:]
    if not _parameters_block_left(remaining, path[:-1]):
        # The map is empty now: `parameters:` alone would read as null, which the CRDs refuse.
        key = remaining.rfind(f"{path[-2]}:", 0, start)
        line_end = remaining.find("\n", key)
        line_end = len(remaining) if line_end < 0 else line_end
        if key >= 0 and not remaining[key + len(path[-2]) + 1 : line_end].strip():
            remaining = remaining[:line_end] + " {}" + remaining[line_end:]
    return remaining


def _parameters_block_left(text: str, path: tuple[str, ...]) -> bool:
    spans = value_spans(text)
    return any(len(p) == len(path) + 1 and p[: len(path)] == path for p in spans)


def _split_flow(body: str) -> list[str]:
    items, depth, current, quote = [], 0, "", ""
    for ch in body:
        if quote:
            current += ch
            if ch == quote:
                quote = ""
            continue
        if ch in "'\"":
            quote = ch
        elif ch in "[{":
            depth += 1
        elif ch in "]}":
            depth -= 1
        elif ch == "," and depth == 0:
            items.append(current)
            current = ""
            continue
        current += ch
    if current.strip():
        items.append(current)
    return items
