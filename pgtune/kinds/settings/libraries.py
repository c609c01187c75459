"""Preload libraries: is every entry of `*_preload_libraries` a file the server can load?

PostgreSQL checks `shared_preload_libraries` only when it starts: a missing library is
`FATAL: could not access file "x"` and a server that stays down. `session_preload_libraries` and
`local_preload_libraries` fail every new connection instead. So pgtune refuses such a plan.

How the server finds a library (src/backend/utils/fmgr/dfmgr.c, expand_dynamic_library_name):
a name without a slash is looked for in each `dynamic_library_path` directory (`$libdir` is the
package library directory), first as given, then with the platform suffix (`.so`); a name with a
slash is a path (`$libdir/...` expanded). `local_preload_libraries` entries without a slash live
in `$libdir/plugins/`. `candidates()` mirrors that; the server answers which files exist.

Looking at the server's files needs superuser, or pg_read_server_files (pg_stat_file on absolute
paths, with EXECUTE on it) and SELECT on pg_config (the library directory, with EXECUTE on
pg_config()). Without them, a library the server already runs counts as
present; any other entry is unverified — a gated hazard, never a silent pass.
"""

from __future__ import annotations

from dataclasses import dataclass

import psycopg

SUFFIXES = ("", ".so", ".dylib")
LIBDIR = "$libdir"


def candidates(name: str, setting: str, library_path: str, pkglibdir: str) -> list[str]:
    """Every path the server would try for `name` in `setting`, in its order."""
    if setting == "local_preload_libraries" and "/" not in name:
        name = f"{LIBDIR}/plugins/{name}"
    out: list[str] = []
    for suffix in SUFFIXES:
        full = name + suffix
        if "/" in full:
            out.append(_expand(full, pkglibdir))
            continue
        for directory in library_path.split(":"):
            directory = directory.strip()
            if directory:
                out.append(f"{_expand(directory, pkglibdir).rstrip('/')}/{full}")
    return list(dict.fromkeys(out))


def _expand(path: str, pkglibdir: str) -> str:
    return pkglibdir + path[len(LIBDIR) :] if path.startswith(LIBDIR) else path


@dataclass(frozen=True)
class Verdict:
    present: list[str]
    missing: dict[str, list[str]]  # library -> paths looked at
    unverified: list[str]  # cannot look (privileges), not running either


def check(
    conn: psycopg.Connection,
    wanted: dict[str, list[str]],
    library_path: str | None,
    running_lists: list[str],
    can_look: bool,
) -> Verdict:
    """Which libraries of each preload setting the server can load. `library_path` and
    `running_lists` (what the *_preload_libraries settings run now) come from the settings kind's
    catalog; `can_look`: the role may read the server's files. Queries: pg_config and one
    pg_stat_file batch, only when it may look."""
    running = {part.strip().strip('"') for text in running_lists for part in text.split(",") if part.strip()}
    present: list[str] = []
    missing: dict[str, list[str]] = {}
    unverified: list[str] = []
    if not can_look or library_path is None:
        for libs in wanted.values():
            for lib in libs:
                (present if lib in running else unverified).append(lib)
        return Verdict(present, missing, unverified)
    pkglibdir = conn.execute("SELECT setting FROM pg_config WHERE name = 'PKGLIBDIR'").fetchone()
    assert pkglibdir is not None
    tried = {
        (setting, lib): candidates(lib, setting, library_path, pkglibdir[0])
        for setting, libs in wanted.items()
        for lib in libs
    }
    paths = sorted({p for ps in tried.values() for p in ps})
    exists: dict[str, bool] = dict(
        conn.execute(
            "SELECT p, (pg_stat_file(p, true)).isdir IS false FROM unnest(%s::text[]) AS p", (paths,)
        ).fetchall()
    )
    for (_setting, lib), looked in tried.items():
        if any(exists.get(p) for p in looked):
            present.append(lib)
        else:
            missing[lib] = looked
    return Verdict(present, missing, unverified)
