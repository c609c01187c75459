"""The command tree with each command's parameters built when that command is asked for: typer
builds every command's click parameters (signatures, type hints, converters) at every start, a
fifth of what `pgtune version` costs; here `pgtune plan` builds plan's alone, and `--help` lists
the commands from their docstrings without building any."""

from __future__ import annotations

import inspect
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import typer
import typer.main
from typer._click.utils import make_default_short_help
from typer.core import TyperGroup


@dataclass
class Deferred:
    """A command not built yet: what listing it needs (name, help, hidden) and how to build it."""

    name: str
    build: Callable[[], Any]
    info: Any  # typer's CommandInfo

    @property
    def hidden(self) -> bool:
        return bool(self.info.hidden)

    def get_short_help_str(self, limit: int = 45) -> str:
        """What click's Command.get_short_help_str gives the built command."""
        if self.info.short_help:
            return inspect.cleandoc(self.info.short_help).strip()
        text = self.info.help if self.info.help is not None else inspect.getdoc(self.info.callback)
        return make_default_short_help(inspect.cleandoc(text), limit).strip() if text else ""


class LazyGroup(TyperGroup):
    def get_command(self, ctx: Any, cmd_name: str) -> Any:
        found = self.commands.get(cmd_name)
        if isinstance(found, Deferred):
            found = self.commands[cmd_name] = found.build()
        return found

    def list_commands(self, ctx: Any) -> list[str]:
        return list(self.commands)

    def format_commands(self, ctx: Any, formatter: Any) -> None:
        """The command list of --help, from each command's docstring: nothing built."""
        shown = [(name, cmd) for name, cmd in self.commands.items() if not cmd.hidden]
        if shown:
            limit = formatter.width - 6 - max(len(name) for name, _ in shown)
            with formatter.section("Commands"):
                formatter.write_dl([(name, cmd.get_short_help_str(limit)) for name, cmd in shown])


def command(app: typer.Typer) -> Any:
    """The app's click group (the app is made with cls=LazyGroup), its commands deferred."""
    real = typer.main.get_command_from_info

    def deferred(command_info: Any, **kwargs: Any) -> Any:
        name = command_info.name or typer.main.get_command_name(command_info.callback.__name__)
        return Deferred(name, lambda: real(command_info=command_info, **kwargs), command_info)

    typer.main.get_command_from_info = deferred
    try:
        return typer.main.get_command(app)
    finally:
        typer.main.get_command_from_info = real
