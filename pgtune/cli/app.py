"""The command line's edge: the typer app, printing (data to stdout, chatter and errors to stderr, every
secret scrubbed), the global flags, and the one place where a `PgtuneError` becomes its lines and an
exit code. Each command lives in a module of its own (pgtune.cli.*), registered in pgtune.cli."""

from __future__ import annotations

import contextlib
import gc
import os
import re
import shlex
import sys
from collections.abc import Callable
from enum import StrEnum
from typing import Annotated, Any

import typer

import pgtune.cli.lazy as lazy
from pgtune import __version__
from pgtune.base.errors import ApplyRefused, PgtuneError
from pgtune.base.redact import (
    distinctive,
    mask_connection_strings,
    mask_values,
    passwords_in,
    remember_dsn,
    remember_environment,
    scrub_known,
)
from pgtune.cli.flags import flag
from pgtune.cli.lazy import LazyGroup
from pgtune.cli.terminal import UI, colorize_error, colorize_plan

app = typer.Typer(
    name="pgtune",
    help="PostgreSQL performance configuration as code: validate, plan, apply.",
    no_args_is_help=True,
    pretty_exceptions_show_locals=False,  # tracebacks must never dump a DSN or password
    add_completion=True,
    rich_markup_mode=None,  # click's own help: typer's rich help imports rich.markdown and markdown-it (50 ms a start)
    cls=LazyGroup,  # a command's parameters are built when it runs (cli/lazy.py)
)


class Format(StrEnum):
    text = "text"
    markdown = "markdown"
    json = "json"


def one_line(text: str) -> str:
    """Catalog text made safe to print on one line (the escaper loads when something is printed)."""
    from pgtune.base.escape import line

    return line(text)


def _render() -> Any:
    """The renderers, loaded when a command prints a plan (not for --help or version)."""
    import pgtune.render

    return pgtune.render


CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")
"""Control characters other than tab and newline."""


def _out(text: str) -> None:
    sys.stdout.write(scrub_known(text))
    sys.stdout.flush()


def _out_plan(text: str) -> None:
    """A text plan on stdout, coloured for a person at a terminal."""
    _out(colorize_plan(text) if UI.color(sys.stdout) else text)


def _err(text: str, *, always: bool = False) -> None:
    """Progress and chatter on stderr (silenced by --quiet); errors pass always=True."""
    if UI.quiet and not always:
        return
    text = scrub_known(text)
    sys.stderr.write(text if text.endswith("\n") else text + "\n")
    sys.stderr.flush()


@app.callback()
def _options(
    quiet: Annotated[bool, flag("quiet")] = False,
    verbose: Annotated[bool, flag("verbose")] = False,
    no_color: Annotated[bool, flag("no_color")] = False,
) -> None:
    """PostgreSQL performance configuration as code: validate, plan, apply."""
    UI.quiet, UI.verbose, UI.no_color = quiet, verbose and not quiet, no_color


def _confirmer(given: bool, question: str) -> Callable[[object], bool]:
    """Ask before applying, unless --yes (or a saved plan, reviewed already); never without a terminal."""

    def confirm(_plan: object) -> bool:
        if given:
            return True
        if not sys.stdin.isatty():
            raise ApplyRefused("refusing to apply: stdin is not a terminal; pass --yes to apply without a prompt")
        return typer.confirm(question, default=False, err=True)

    return confirm


def version() -> None:
    """Print pgtune's version.

    With the global --verbose (pgtune --verbose version), also what the targets' rules were read
    from: each operator's release.

    Example:

    \b
      pgtune version
    """
    _out(f"pgtune {__version__}\n")
    if UI.verbose:  # what the targets' rules were read from (an operator's release ...)
        from pgtune.targets import declared_about

        _out("".join(f"{line}\n" for line in declared_about()))


def main() -> None:
    """Entry point: run the app; render domain errors once, scrubbed, with exit code 1.

    The cyclic garbage collector is off for the whole (short-lived) CLI process: loading a
    profile and planning allocate hundreds of thousands of small objects and keep most of them,
    and the collector walked that growing heap again and again — 5.7 s of a 13 s plan at 10,000
    tables (bench/plan_scale.py). Reference counting still frees everything; the few cycles made
    are left to process exit. Library callers (the Ansible module, tests) keep their collector."""
    gc.disable()
    remember_environment()
    for arg in sys.argv[1:]:  # --dsn 'postgresql://u:secret@...' and the like, before anything can fail
        remember_dsn(arg)
    guard_command_line(sys.argv[1:])
    sys.argv[1:] = global_flags_first(sys.argv[1:])
    _exit(_run())


PASSWORD_ON_COMMAND_LINE = (
    "warning: a password was given on the command line, where other local users can read it (ps, "
    "/proc/PID/cmdline); pgtune hides it from the process title once it starts, but not before. Give it in "
    "the environment instead: PGPASSWORD or a passfile (~/.pgpass, $PGPASSFILE) for --dsn, "
    "$PGTUNE_PATRONI_PASSWORD for --patroni."
)


def guard_command_line(args: list[str]) -> None:
    """A password in an argument: warn, and replace the process title (what ps and /proc/PID/cmdline
    show) with the arguments masked — setproctitle does that portably; the window between exec and
    this call remains, which is why the warning steers to the environment."""
    secrets = sorted({p for a in args for p in passwords_in(a)}, key=len, reverse=True)
    if not secrets:
        return
    # by its place in a connection string; elsewhere only when it cannot be a name (a profile path)
    masked = [mask_values(mask_connection_strings(a), [s for s in secrets if distinctive(s)]) for a in args]
    try:
        import setproctitle

        setproctitle.setproctitle(" ".join(["pgtune", *(shlex.quote(a) for a in masked)]))
    except ImportError:  # pragma: no cover - a dependency; the warning still stands
        pass
    _err(PASSWORD_ON_COMMAND_LINE, always=True)


GLOBAL_FLAGS = frozenset({"-q", "--quiet", "-v", "--verbose", "--no-color"})


def global_flags_first(args: list[str]) -> list[str]:
    """`pgtune plan p.yaml -q` means `pgtune -q plan p.yaml`: the global flags are accepted anywhere
    (before a `--`), as users write them."""
    if "--" in args:
        cut = args.index("--")
        head, tail = args[:cut], args[cut:]
    else:
        head, tail = args, []
    flags = [a for a in head if a in GLOBAL_FLAGS]
    return flags + [a for a in head if a not in GLOBAL_FLAGS] + tail


def _exit(code: int) -> None:
    """End the process without tearing the heap down object by object: after planning 10,000
    tables that alone took 0.25 s. Output is flushed first; pgtune registers no atexit work."""
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(OSError, ValueError):  # a closed pipe (`pgtune plan | head`) is no error
            stream.flush()
    os._exit(code)


def _run() -> int:
    try:
        code = lazy.command(app)(standalone_mode=False)
    except PgtuneError as exc:
        color = UI.color(sys.stderr)
        for message in exc.lines():  # a multi-line message keeps its lines; nothing else breaks or hides one
            first, *rest = (one_line(part) for part in message.split("\n"))
            text = "\n".join([first if _has_location(first) else f"Error: {first}", *rest])
            _err(colorize_error(text) if color else text, always=True)
        return exc.exit_code
    except typer.Exit as exc:
        return exc.exit_code
    except SystemExit as exc:  # typer's completion ends with sys.exit: leave through _exit all the same
        if exc.code is None or isinstance(exc.code, int):
            return exc.code or 0
        _err(str(exc.code), always=True)
        return 1
    except typer.Abort:
        _err("Aborted.", always=True)
        return 1
    except Exception as exc:  # click usage errors and anything unexpected
        if callable(getattr(exc, "show", None)) and hasattr(exc, "exit_code"):  # a (vendored) ClickException
            exc.show()  # type: ignore[attr-defined]
            return exc.exit_code or 1
        message = scrub_known(str(exc))  # every secret of the environment and the command line
        _err(f"internal error: {type(exc).__name__}: {message}", always=True)
        return 1
    return code if isinstance(code, int) else 0


def _has_location(line: str) -> bool:
    head = line.split(": ", 1)[0]
    return head.count(":") >= 2 and head.rsplit(":", 2)[-1].isdigit()
