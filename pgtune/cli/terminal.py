"""Terminal manners: colour only for people (a TTY, NO_COLOR unset, not --no-color), quiet and
verbose levels. Renderers stay plain text; colour is added here, at the edge, so piped output,
files and CI logs never carry escape codes."""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from typing import TextIO

RESET = "\x1b[0m"
STYLES = {
    "+": "\x1b[32m",
    "~": "\x1b[33m",
    "-": "\x1b[31m",
    "-/+": "\x1b[1;31m",
    "error": "\x1b[1;31m",
    "warn": "\x1b[33m",
}
_CHANGE_LINE = re.compile(r"^(\s+)(-/\+|\+|~|-)(\s)")


@dataclass
class Ui:
    quiet: bool = False
    verbose: bool = False
    no_color: bool = False

    def color(self, stream: TextIO) -> bool:
        """NO_COLOR (non-empty) and --no-color win over FORCE_COLOR; otherwise only on a terminal."""
        if self.no_color or os.environ.get("NO_COLOR") or os.environ.get("TERM") == "dumb":
            return False
        if os.environ.get("FORCE_COLOR"):
            return True
        return stream.isatty()


UI = Ui()


def colorize_plan(text: str) -> str:
    """Colour the markers of change lines and the hazard lines of a text plan."""
    out = []
    for line in text.splitlines(keepends=True):
        m = _CHANGE_LINE.match(line)
        if m:
            line = f"{m.group(1)}{STYLES[m.group(2)]}{m.group(2)}{RESET}{line[m.end(2) :]}"
        elif line.lstrip().startswith("! "):
            line = f"{STYLES['warn']}{line.rstrip(chr(10))}{RESET}\n" if line.endswith("\n") else line
        out.append(line)
    return "".join(out)


def colorize_error(line: str) -> str:
    return f"{STYLES['error']}{line}{RESET}"
