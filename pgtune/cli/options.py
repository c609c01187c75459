"""Options several commands share, and those the targets declare (the CLI gathers them; it does not
spell them: a new target's options appear on plan and apply by its own declaration)."""

from __future__ import annotations

import contextlib
import inspect
import typing
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Annotated, Any, TypeVar

import typer

from pgtune.base.errors import ApplyRefused
from pgtune.cli.app import _err
from pgtune.cli.flags import flag

DsnOption = Annotated[str | None, flag("dsn")]


NodesOption = Annotated[list[str] | None, flag("nodes")]


SandboxOption = Annotated[bool, flag("sandbox")]


AsOfOption = Annotated[str | None, flag("as_of")]


SetOption = Annotated[list[str] | None, flag("set")]


ExcludeOption = Annotated[list[str] | None, flag("exclude")]


SchemaOption = Annotated[Path | None, flag("schema")]


F = TypeVar("F", bound=Callable[..., Any])


def with_target_options(*, apply: bool) -> Callable[[F], F]:
    """Add every option the targets declare (pgtune.targets.declared_options) to a command's
    signature, as typer reads it; the command receives them in **target_options."""

    def decorate(func: F) -> F:
        from pgtune.targets import declared_options

        signature = inspect.signature(func)
        hints = typing.get_type_hints(func, include_extras=True)  # the module's annotations are strings
        params = [
            p.replace(annotation=hints.get(p.name, p.annotation))
            for p in signature.parameters.values()
            if p.kind is not inspect.Parameter.VAR_KEYWORD
        ]
        for option in declared_options():
            if option.apply_only and not apply:
                continue
            if option.metavar is None:
                annotation: Any = Annotated[bool, typer.Option(option.flag, help=option.help)]
                default: Any = False
            else:
                annotation = Annotated[str | None, typer.Option(option.flag, metavar=option.metavar, help=option.help)]
                default = None
            params.append(
                inspect.Parameter(option.key, inspect.Parameter.KEYWORD_ONLY, default=default, annotation=annotation)
            )
        func.__signature__ = signature.replace(parameters=params)  # type: ignore[attr-defined]
        return func

    return decorate


def target_values(given: dict[str, Any]) -> dict[str, str]:
    """The target options the user gave, as Where.options holds them (a switch: "yes")."""
    return {k: ("yes" if v is True else str(v)) for k, v in given.items() if v not in (None, False)}


@contextlib.contextmanager
def _target(dsn: str | None, sandbox: bool, schema: Path | None) -> Iterator[str]:
    """The DSN to work on: the user's, or a sandbox started for this command."""
    from pgtune.integrations.postgres import resolve_dsn

    if schema is not None and not sandbox:
        raise ApplyRefused("--schema is only used with --sandbox")
    if not sandbox:
        yield resolve_dsn(dsn)
        return
    from pgtune.integrations.sandbox import sandbox as start_sandbox

    _err("Starting a throwaway PostgreSQL 16 (pgserver) ...")
    with start_sandbox(schema) as cluster:
        yield cluster.dsn()


def _one(dsns: list[str] | None) -> str | None:
    return dsns[0] if dsns else None
