"""The CLI's words: every flag and argument's names, metavar, limits and help, read from one
catalog (`flags.toml`) so that a flag several commands share is written once and reads the same
everywhere. Types and defaults stay with the commands; this only supplies what typer prints."""

from __future__ import annotations

import tomllib
from functools import cache
from importlib.resources import files
from typing import Any

import typer


@cache
def catalog() -> dict[str, dict[str, Any]]:
    return tomllib.loads(files("pgtune.cli").joinpath("flags.toml").read_text(encoding="utf-8"))


def flag(key: str) -> Any:
    """The typer.Option the catalog describes under `key` (a KeyError names a missing entry at import)."""
    spec = dict(catalog()[key])
    return typer.Option(*spec.pop("flags"), **spec)


def argument(key: str) -> Any:
    spec = dict(catalog()[key])
    del spec["argument"]
    return typer.Argument(**spec)
