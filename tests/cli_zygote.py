"""The suite's `pgtune` runner: a Python started once that forks a fresh `python -m pgtune` per call.

Each test that runs the CLI used to pay for a new interpreter and its imports (~0.5 s, hundreds of
times a run). This process imports the libraries and the pgtune modules nearly every command loads
— and runs nothing — then, per request on stdin (one JSON line: args, env, cwd and the files for
stdin, stdout and stderr), forks: the child takes the request's working directory, environment and
standard streams, and runs `pgtune` exactly as `python -m pgtune ARGS` does (runpy, `__main__`),
then exits with its code. Every child starts from the same state — modules imported, no command ever
run (pgtune reads no environment variable at import) — so no call sees another's. The parent answers
one JSON line per request: the child's pid at once, then its exit code (negative: the signal that
ended it, as subprocess says).
Tests that need a process of their own (its title, its peak memory, its start-up) still start one.
"""

from __future__ import annotations

import contextlib
import json
import os
import runpy
import sys
import traceback

PRELOAD = (
    "psycopg",
    "pydantic",
    "ruamel.yaml",
    "typer",
    "click",
    "pglast",
    "deepdiff",
    "httpx",
    "boto3",
    "pgtune.cli",
    "pgtune.kinds.engine",
    "pgtune.targets.workflow",
    "pgtune.profile.loader",
    "pgtune.profile.events",
    "pgtune.render",
    "pgtune.kinds",
    "pgtune.kinds.settings",
    "pgtune.kinds.storage",
    "pgtune.kinds.indexes",
    "pgtune.kinds.partitions",
    "pgtune.kinds.pool",
)
"""What nearly every command loads, including what pgtune itself loads only on demand (the kinds a
profile declares, the targets a command line names): a child starts with all of it."""


def _warm() -> None:
    """Build once what pgtune builds lazily in each process: the profile models' validators (a
    profile's own sections build theirs at first use), the command tree, every target."""
    from pydantic import BaseModel

    import pgtune.profile.model as model
    import pgtune.targets as targets

    for value in vars(model).values():
        if isinstance(value, type) and issubclass(value, BaseModel) and value is not BaseModel:
            value.model_rebuild()
    targets.choose  # noqa: B018 (the registry's packages and modules import on first use)
    targets.declared_about()


def _child(request: dict[str, object]) -> None:
    code = 1
    try:
        os.chdir(str(request["cwd"]))
        os.environ.clear()
        os.environ.update({str(k): str(v) for k, v in dict(request["env"]).items()})  # type: ignore[call-overload]
        for fd, path, flags in (
            (0, request["stdin"], os.O_RDONLY),
            (1, request["stdout"], os.O_WRONLY | os.O_CREAT | os.O_TRUNC),
            (2, request["stderr"], os.O_WRONLY | os.O_CREAT | os.O_TRUNC),
        ):
            opened = os.open(str(path), flags, 0o600)
            os.dup2(opened, fd)
            os.close(opened)
        sys.stdin = open(0, encoding=sys.stdin.encoding, closefd=False)  # noqa: SIM115 (nothing read ahead)
        sys.argv = ["pgtune", *[str(a) for a in request["args"]]]  # type: ignore[attr-defined]
        try:
            runpy.run_module("pgtune", run_name="__main__", alter_sys=True)
            code = 0
        except SystemExit as exc:
            if exc.code is None:
                code = 0
            elif isinstance(exc.code, int):
                code = exc.code
            else:
                print(exc.code, file=sys.stderr)
                code = 1
    except BaseException:
        traceback.print_exc()
        code = 1
    finally:
        for stream in (sys.stdout, sys.stderr):
            with contextlib.suppress(Exception):
                stream.flush()
        os._exit(code)


def main() -> None:
    for name in PRELOAD:
        __import__(name)
    _warm()
    answers = sys.stdout
    for line in sys.stdin:
        request = json.loads(line)
        pid = os.fork()
        if pid == 0:
            _child(request)
        answers.write(json.dumps({"pid": pid}) + "\n")
        answers.flush()
        _pid, status = os.waitpid(pid, 0)
        answers.write(json.dumps({"code": os.waitstatus_to_exitcode(status)}) + "\n")
        answers.flush()


if __name__ == "__main__":
    main()
