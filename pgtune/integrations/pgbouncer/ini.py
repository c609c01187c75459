"""pgbouncer.ini read and edited in place: one line changes, everything else stays byte for byte.

PgBouncer's ini grammar (libusual's cfparser, verified against 1.18): `[section]` headers,
`key = value` lines whose value runs to the end of the line (no inline comments, no unquoting —
`x = 5 ; note` is the value `5 ; note`, which PgBouncer rejects), whole-line comments starting with
`;` or `#`, and `%include file`. The last occurrence of a key wins. pgtune edits only the
`[pgbouncer]` section of the file it is given: the last line setting a key gets the new value in
the same spelling and spacing; a key not there yet is added after the section's last setting.
The file is replaced atomically (same directory, same mode and owner), so PgBouncer never reads
a half-written file.
"""

from __future__ import annotations

import contextlib
import os
import re
import tempfile
from dataclasses import dataclass
from pathlib import Path

SECTION = "pgbouncer"
_SECTION_LINE = re.compile(r"^\s*\[\s*([^\]]+?)\s*\]\s*$")
_SETTING_LINE = re.compile(r"^(?P<indent>\s*)(?P<key>[^=\s;#%\[][^=]*?)(?P<sep>\s*=\s*)(?P<value>.*?)(?P<eol>\s*)$")


class IniError(ValueError):
    """The file cannot be read or written as a PgBouncer configuration."""


@dataclass(frozen=True)
class IniSetting:
    value: str
    line: int  # 1-based


def _lines(text: str) -> list[str]:
    return text.splitlines(keepends=True)


def _scan(lines: list[str]) -> tuple[dict[str, int], int | None, int | None]:
    """Index of the last line setting each [pgbouncer] key, the section header's index, and the
    index of the section's last setting."""
    section: str | None = None
    keys: dict[str, int] = {}
    header: int | None = None
    last: int | None = None
    for i, line in enumerate(lines):
        stripped = line.strip()
        if not stripped or stripped[0] in ";#" or stripped.startswith("%"):
            continue
        m = _SECTION_LINE.match(line)
        if m:
            section = m.group(1).lower()
            if section == SECTION and header is None:
                header = i
            continue
        if section != SECTION:
            continue
        s = _SETTING_LINE.match(line.rstrip("\r\n"))
        if s:
            keys[s.group("key").strip().lower()] = i
            last = i
    return keys, header, last


def read_settings(text: str) -> dict[str, IniSetting]:
    """The [pgbouncer] settings a file holds (lower-cased keys; the last occurrence wins)."""
    lines = _lines(text)
    keys, _, _ = _scan(lines)
    out = {}
    for key, i in keys.items():
        m = _SETTING_LINE.match(lines[i].rstrip("\r\n"))
        assert m is not None
        out[key] = IniSetting(m.group("value"), i + 1)
    return out


def set_values(text: str, values: dict[str, str]) -> str:
    """The file's text with each key set to its value in [pgbouncer]; nothing else changes."""
    for key, value in values.items():
        if "\n" in value or "\r" in value:
            raise IniError(f"{key}: a value cannot span lines")
    lines = _lines(text)
    newline = "\r\n" if lines and lines[0].endswith("\r\n") else "\n"
    if lines and not lines[-1].endswith(("\n", "\r")):
        lines[-1] += newline
    keys, header, last = _scan(lines)
    added: list[str] = []
    for key, value in values.items():
        if key in keys:
            i = keys[key]
            m = _SETTING_LINE.match(lines[i].rstrip("\r\n"))
            assert m is not None
            ending = lines[i][len(lines[i].rstrip("\r\n")) :] or newline
            lines[i] = f"{m.group('indent')}{m.group('key')}{m.group('sep')}{value}{ending}"
        else:
            added.append(f"{key} = {value}{newline}")
    if added:
        if header is None:
            if lines and lines[-1].strip():
                lines.append(newline)
            lines += [f"[{SECTION}]{newline}", *added]
        else:
            at = (last if last is not None else header) + 1
            lines[at:at] = added
    return "".join(lines)


def read_file(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except OSError as exc:
        raise IniError(f"cannot read {path}: {exc.strerror}") from None
    except UnicodeDecodeError:
        raise IniError(f"cannot read {path}: not UTF-8 text") from None


def write_file(path: Path, values: dict[str, str]) -> None:
    """Edit the file in place atomically, keeping its mode and owner (through a symlink, the target)."""
    target = path.resolve()
    text = set_values(read_file(target), values)
    st = target.stat()
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".pgtune", dir=target.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="") as fh:
            fh.write(text)
            fh.flush()
            os.fsync(fh.fileno())
        os.chmod(tmp, st.st_mode & 0o7777)
        with contextlib.suppress(PermissionError):
            os.chown(tmp, st.st_uid, st.st_gid)
        os.replace(tmp, target)
    except OSError as exc:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise IniError(f"cannot write {path}: {exc.strerror}") from None
