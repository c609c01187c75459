"""Writing profiles as text: whole documents pgtune generates, and in-place value edits.

Generated documents (`inspect`, `recommend`, `render`) share one dump: wide lines, indented
sequences, numbers written as numbers when they read back as the same text.

In-place edits leave every other byte of the file as it was. A round-trip dump (even ruamel's)
re-indents sequences and re-wraps lines; users reviewing a drift-acceptance commit want to see
only the values that changed. So edits are made on the text: the YAML parser's events give each
value's exact span (scalars, flow collections, and block collections up to their last content),
and only those spans are replaced, last first.
"""

from __future__ import annotations

import io
import re
import unicodedata
from dataclasses import dataclass
from typing import Any

from ruamel.yaml import YAML
from ruamel.yaml.events import AliasEvent, CollectionEndEvent, CollectionStartEvent, MappingStartEvent, ScalarEvent

from pgtune.profile.source import PathKey

_NUMBER = re.compile(r"^-?\d+(\.\d+)?$")


def yaml_number(text: str) -> int | float | str:
    """`300` and `0.9` as YAML numbers (they read back as the same text), anything else as text."""
    if not _NUMBER.match(text):
        return text
    if text.lstrip("-").isdigit():
        return int(text)
    return float(text) if repr(float(text)) == text else text


def dump_document(data: Any, header: str) -> str:
    """A generated YAML document, preceded by `header` (comment lines, newline-terminated)."""
    yaml = YAML()
    yaml.width = 4096
    yaml.default_flow_style = False
    yaml.indent(mapping=2, sequence=4, offset=2)
    out = io.StringIO()
    out.write(header)
    yaml.dump(data, out)
    return out.getvalue()


@dataclass(frozen=True)
class Span:
    start: int
    end: int
    kind: str  # scalar | mapping | sequence
    flow: bool


def value_spans(text: str) -> dict[PathKey, Span]:
    """Path -> span of the value written there (keys are not values)."""
    spans: dict[PathKey, Span] = {}
    # Each frame: [path, kind, flow, start, last_end, expecting_key, current_key, index]
    stack: list[list[Any]] = []

    def child_path() -> PathKey | None:
        if not stack:
            return ()
        frame = stack[-1]
        if frame[1] == "mapping":
            return (*frame[0], frame[6])
        return (*frame[0], frame[7])

    def advance(end: int) -> None:
        if stack:
            frame = stack[-1]
            frame[4] = end
            if frame[1] == "mapping":
                frame[5] = True
            else:
                frame[7] += 1

    for event in YAML().parse(text):
        if isinstance(event, ScalarEvent | AliasEvent):
            if stack and stack[-1][1] == "mapping" and stack[-1][5]:
                stack[-1][6] = str(event.value) if isinstance(event, ScalarEvent) else None
                stack[-1][5] = False
                stack[-1][4] = event.end_mark.index
                continue
            path = child_path()
            if path is not None:
                spans[path] = Span(event.start_mark.index, event.end_mark.index, "scalar", False)
            advance(event.end_mark.index)
        elif isinstance(event, CollectionStartEvent):
            path = child_path()
            kind = "mapping" if isinstance(event, MappingStartEvent) else "sequence"
            stack.append(
                [path, kind, bool(event.flow_style), event.start_mark.index, event.start_mark.index, True, None, 0]
            )
        elif isinstance(event, CollectionEndEvent):
            path, kind, flow, start, last_end = stack.pop()[:5]
            end = event.end_mark.index if flow else last_end
            if path is not None:
                spans[path] = Span(start, end, kind, flow)
            advance(end)
    return spans


_HIDDEN = frozenset({"Cc", "Cf", "Zl", "Zp", "Co", "Cs", "Cn"})
"""Characters a reviewer cannot see: written as escapes in a double-quoted scalar, never raw."""


def yaml_scalar(value: Any) -> str:
    """One scalar (a key or a value) as YAML text that reads back as exactly it, in block and in flow
    context alike. Profiles read every scalar as text, so `1.1` and `true` stay plain; otherwise
    ruamel's emitter chooses the quoting, and its choice is checked by reading it back (it is not
    always right in flow context: `a::b`); a string holding characters a reviewer cannot see
    (controls, format characters such as U+202E, line separators) is written double-quoted with those
    characters escaped."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    text = str(value)
    quoted = '"' + "".join(_escaped(c) for c in text) + '"'
    if any(unicodedata.category(c) in _HIDDEN for c in text):
        return quoted
    for candidate in (text, _emitted(text)):
        if _reads_back(candidate, text):
            return candidate
    return quoted


def _emitted(text: str) -> str:
    yaml = YAML()
    yaml.default_flow_style = True
    yaml.width = 1 << 30  # never folded onto a second line
    out = io.StringIO()
    yaml.dump([text], out)  # inside a flow sequence: the emitter's strictest context
    return out.getvalue().strip()[1:-1]


def _reads_back(candidate: str, text: str) -> bool:
    """`candidate` reads back as `text` as a value, as a key, and inside flow collections."""
    from pgtune.base.errors import Location, PgtuneError
    from pgtune.profile.source import parse_value

    if not candidate or candidate != candidate.strip() or "\n" in candidate:
        return False
    where = Location("<advice>", 1, 1)
    try:
        return bool(
            parse_value(candidate, where) == text
            and parse_value(f"[{candidate}, x]", where) == [text, "x"]
            and parse_value(f"{{{candidate}: x, y: z}}", where) == {text: "x", "y": "z"}
            and parse_value(f"{candidate}: x", where) == {text: "x"}
        )
    except PgtuneError:
        return False


def _escaped(c: str) -> str:
    if c in ('"', "\\"):
        return "\\" + c
    if unicodedata.category(c) not in _HIDDEN:
        return c
    code = ord(c)
    return f"\\u{code:04x}" if code <= 0xFFFF else f"\\U{code:08x}"


def yaml_text(value: Any) -> str:
    """A value as YAML a profile reader reads back as the same text (flow style for collections)."""
    if isinstance(value, list):
        return "[" + ", ".join(yaml_text(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{yaml_scalar(k)}: {yaml_text(v)}" for k, v in value.items()) + "}"
    return yaml_scalar(value)


def replace_values(text: str, edits: dict[PathKey, Any]) -> str:
    """The text with each path's value replaced; a path not written in this text raises KeyError."""
    spans = value_spans(text)
    ordered = sorted(((spans[path], value) for path, value in edits.items()), key=lambda e: e[0].start, reverse=True)
    for span, value in ordered:
        text = text[: span.start] + yaml_text(value) + text[span.end :]
    return text


def _block_lines(keys: PathKey, value: Any, indent: int, comment: str | None) -> list[str]:
    """Block mappings down to one value written in flow style: the lines an insertion adds."""
    lines = [f"{' ' * (indent + 2 * i)}{yaml_scalar(key)}:" for i, key in enumerate(keys[:-1])]
    tail = f"  # {_comment(comment)}" if comment else ""
    lines.append(f"{' ' * (indent + 2 * (len(keys) - 1))}{yaml_scalar(keys[-1])}: {yaml_text(value)}{tail}")
    return lines


def insert_entries(text: str, entries: list[tuple[PathKey, Any, str | None]]) -> str:
    """The text with each (path, value, comment) added: a value already written is replaced in
    place; a missing key is inserted after the last entry of the deepest block mapping that
    exists, at its indentation, with the comment on its line. Every other byte stays as it was."""
    for path, value, comment in entries:
        spans = value_spans(text)
        if path in spans:
            text = replace_values(text, {path: value})
            continue
        depth = max(i for i in range(len(path)) if path[:i] in spans or i == 0)
        prefix, rest = path[:depth], path[depth:]
        span = spans.get(prefix)
        if span is None:  # no document yet: a mapping at the top
            body = text.rstrip("\n")
            block = "\n".join(_block_lines(rest, value, 0, comment))
            text = (body + "\n" if body else "") + block + "\n"
            continue
        if span.kind == "scalar" and text[span.start : span.end].strip() in ("", "null", "~"):
            indent = _indent(text, _line_start(text, span.start)) + 2  # `tables:` with nothing under it yet
            block = "\n".join(_block_lines(rest, value, indent, comment))
            tail = text[span.end :]
            tail = tail if tail.startswith("\n") else "\n" + tail
            text = text[: span.start].rstrip(" \n") + "\n" + block + tail
            continue
        if span.kind != "mapping":
            raise ValueError(f"{'.'.join(map(str, prefix))} is not a mapping: cannot add {rest[0]!r} under it")
        if span.flow:  # {a: 1}: the new key added before the closing brace, every other byte kept
            nested: Any = value
            for key in reversed(rest[1:]):
                nested = {key: nested}
            body = text[span.start + 1 : span.end - 1]
            separator = "" if not body.strip() or body.rstrip().endswith(",") else ", "
            entry = f"{yaml_scalar(rest[0])}: {yaml_text(nested)}"
            text = text[: span.end - 1].rstrip(" ") + separator + entry + text[span.end - 1 :]
            continue
        indent = span.start - _line_start(text, span.start)
        at = _line_end(text, span.end)
        block = "\n".join(_block_lines(rest, value, indent, comment))
        text = text[:at] + "\n" + block + text[at:]
    return text


def _comment(text: str) -> str:
    """A comment's text on one line, nothing a reviewer cannot see."""
    return "".join("?" if unicodedata.category(c) in _HIDDEN else c for c in text)


def _line_start(text: str, index: int) -> int:
    return text.rfind("\n", 0, index) + 1


def _line_end(text: str, index: int) -> int:
    end = text.find("\n", index)
    return len(text) if end < 0 else end


def _indent(text: str, line_start: int) -> int:
    return len(text[line_start:]) - len(text[line_start:].lstrip(" "))
