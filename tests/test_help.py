"""`pgtune --help` reads well: one-sentence summaries, no `<bool>` beside flags, and an example for
every command that the command's own parser accepts (so an example cannot drift from the options)."""

from __future__ import annotations

import re
import shlex

import pytest
import typer
from typer.testing import CliRunner

from pgtune.cli import app

ROOT = typer.main.get_command(app)
COMMANDS = sorted(ROOT.commands)  # type: ignore[attr-defined]


def _help(*args: str) -> str:
    result = CliRunner().invoke(app, [*args, "--help"], prog_name="pgtune", terminal_width=80)
    assert result.exit_code == 0, result.output
    return result.output


def test_the_command_list_holds_one_whole_sentence_each() -> None:
    listing = _help().split("Commands:\n", 1)[1]
    rows = [line.split(None, 1) for line in listing.splitlines() if line.strip()]
    assert sorted(name for name, _ in rows) == COMMANDS
    for name, summary in rows:
        assert summary.endswith(".") and "..." not in summary, f"{name}: {summary!r}"
        assert summary.count(". ") == 0, f"{name}: one sentence, not {summary!r}"


@pytest.mark.parametrize("command", COMMANDS)
def test_no_bool_metavar_and_named_metavars(command: str) -> None:
    text = _help(command)
    assert "<bool>" not in text and "BOOLEAN" not in text
    assert not re.search(r"--[a-z-]+ <(str|path|int|float)[^>]*>", text), text  # a word that says what goes there


@pytest.mark.parametrize("command", COMMANDS)
def test_every_command_shows_an_example_its_parser_accepts(command: str) -> None:
    text = _help(command)
    assert "Example:" in text
    example = text.split("Example:", 1)[1].strip().splitlines()[0].strip()
    words = shlex.split(example.split(" > ")[0])  # a redirection is the shell's
    assert words[:2] == ["pgtune", command], example
    sub = ROOT.commands[command]  # type: ignore[attr-defined]
    with sub.make_context(command, words[2:]):
        pass  # raises a UsageError on an unknown option or a missing argument
