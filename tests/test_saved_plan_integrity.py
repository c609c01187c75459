"""A saved plan is a record, never a program: every way of editing one is refused with nothing run.

Each test plans with `--out`, edits the file as an attacker with write access to the artifact
would, and runs `apply PROFILE --plan FILE`: the server log must show only reads from pgtune, the
database and files must be untouched. Real PostgreSQL 15 and 16, the real CLI."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import CliResult, Server

Cli = Callable[..., CliResult]
AS_OF = "2026-11-24"

SCHEMA = """
DROP TABLE IF EXISTS public.keep, public.events, public.logs CASCADE;
CREATE TABLE public.keep (id int);
CREATE TABLE public.events (id bigint PRIMARY KEY, kind text);
INSERT INTO public.events SELECT g, 'k' || (g % 7) FROM generate_series(1, 500) g;
CREATE TABLE public.logs (id bigint, at date NOT NULL) PARTITION BY RANGE (at);
CREATE TABLE public.logs_p2026_06 PARTITION OF public.logs FOR VALUES FROM ('2026-06-01') TO ('2026-07-01');
CREATE TABLE public.logs_p2026_07 PARTITION OF public.logs FOR VALUES FROM ('2026-07-01') TO ('2026-08-01');
INSERT INTO public.logs SELECT g, date '2026-06-01' + (g % 60) FROM generate_series(1, 300) g;
"""

PROFILE = """
name: deploy
settings:
  work_mem: 64MB
tables:
  public.events:
    indexes:
      ix_events_kind: {columns: [kind]}
  public.logs:
    partitioning: {strategy: range, key: at, interval: 1 month, premake: 1, retention: 3 months,
                   retention_action: drop}
"""


@pytest.fixture
def db(pg: Server) -> Iterator[Server]:
    pg.sql(SCHEMA)
    yield pg
    pg.sql("DROP TABLE IF EXISTS public.keep, public.events, public.logs CASCADE")
    pg.sql("DROP ROLE IF EXISTS pgtune_test_evil")


@pytest.fixture
def saved(db: Server, cli: Cli, write_profile: Callable[..., Path], tmp_path: Path) -> tuple[Path, Path]:
    profile = write_profile(PROFILE)
    path = tmp_path / "plan.json"
    made = cli("plan", str(profile), "--dsn", db.dsn, "--out", str(path), "--as-of", AS_OF)
    assert made.code == 0, made.stderr
    return profile, path


def _edit(path: Path, change: Callable[[dict[str, Any]], None], refingerprint: bool = False) -> None:
    doc = json.loads(path.read_text())
    change(doc)
    if refingerprint:  # an attacker who read planfile.py and recomputed the digest
        record = {k: v for k, v in doc.items() if k != "saved"}
        canonical = json.dumps(record, sort_keys=True, separators=(",", ":"), default=str)
        doc["saved"]["fingerprint"] = "sha256:" + hashlib.sha256(canonical.encode()).hexdigest()
    path.write_text(json.dumps(doc, indent=2))


def _change(doc: dict[str, Any], obj: str) -> dict[str, Any]:
    return next(c for c in doc["changes"] if c["object"] == obj)


def _untouched(db: Server) -> None:
    assert db.auto_conf() == {}
    assert db.one("SELECT count(*) FROM pg_indexes WHERE indexname = 'ix_events_kind'") == 0
    assert db.one("SELECT to_regclass('public.keep') IS NOT NULL") is True
    assert db.one("SELECT count(*) FROM pg_roles WHERE rolname = 'pgtune_test_evil'") == 0
    assert db.one("SELECT count(*) FROM public.logs") == 300


def _refused(db: Server, cli: Cli, profile: Path, path: Path, *extra: str, connects: bool = True) -> CliResult:
    """Refused with nothing run: after reading the catalog, or (connects=False) before connecting at all."""
    position = db.log_position()
    result = cli("apply", str(profile), "--plan", str(path), "--dsn", db.dsn, "--as-of", AS_OF, *extra)
    assert result.code == 1, result.stdout + result.stderr
    assert "Nothing was executed." in result.stderr
    if connects:
        db.assert_only_reads_since(position)
    else:
        db.sql("SELECT 1")  # a statement of our own after pgtune's, so the log is flushed past them
        assert db.pgtune_statements(position) == []
    _untouched(db)
    return result


INJECTED = "ALTER SYSTEM SET \"work_mem\" = '64MB'; DROP TABLE public.keep; CREATE ROLE pgtune_test_evil SUPERUSER"


@pytest.mark.parametrize("refingerprint", [False, True], ids=["edited", "edited-and-refingerprinted"])
def test_edited_sql_is_refused_and_never_runs(
    db: Server, cli: Cli, saved: tuple[Path, Path], refingerprint: bool
) -> None:
    profile, path = saved

    def inject(doc: dict[str, Any]) -> None:
        change = _change(doc, "work_mem")
        change["sql"] = [INJECTED]
        change["statements"][0]["sql"] = INJECTED

    _edit(path, inject, refingerprint)
    result = _refused(db, cli, profile, path, "--allow-hazards", "DELETES_DATA")
    assert "setting work_mem: statements[0].sql was" in result.stderr
    if refingerprint:
        assert result.stderr.startswith("Error: Saved plan is stale: ")
    else:
        assert f"{path} was edited after pgtune wrote it" in result.stderr


def test_removed_hazards_cannot_lower_the_gate(db: Server, cli: Cli, saved: tuple[Path, Path]) -> None:
    profile, path = saved

    def strip(doc: dict[str, Any]) -> None:
        for change in doc["changes"]:
            change["hazards"] = [h for h in change["hazards"] if h["code"] != "DELETES_DATA"]

    _edit(path, strip, refingerprint=True)
    result = _refused(db, cli, profile, path)  # no --allow-hazards: even a matching plan would stop at the gate
    assert "partition public.logs_p2026_06: hazards" in result.stderr
    # The untouched file still needs the flag: the gate reads the derived plan.
    assert db.one("SELECT count(*) FROM public.logs_p2026_06") > 0


def test_retargeted_statement_writes_no_file(db: Server, cli: Cli, saved: tuple[Path, Path], tmp_path: Path) -> None:
    profile, path = saved
    victim = tmp_path / "pgbouncer.ini"
    victim.write_text("[pgbouncer]\nadmin_users = admin\n")

    def retarget(doc: dict[str, Any]) -> None:
        stmt = _change(doc, "work_mem")["statements"][0]
        stmt.update(sql="admin_users = admin, mallory", target="pgbouncer.ini", file=str(victim))

    _edit(path, retarget, refingerprint=True)
    result = _refused(db, cli, profile, path, "--allow-hazards", "DELETES_DATA")
    assert "statements[0].target was 'pgbouncer.ini' when planned, now 'postgres'" in result.stderr
    assert victim.read_text() == "[pgbouncer]\nadmin_users = admin\n"


def test_changed_object_and_added_change_are_refused(db: Server, cli: Cli, saved: tuple[Path, Path]) -> None:
    profile, path = saved

    def rename(doc: dict[str, Any]) -> None:
        _change(doc, "public.ix_events_kind")["object"] = "public.keep"
        doc["changes"].append(dict(_change(doc, "work_mem"), object="shared_buffers"))

    _edit(path, rename, refingerprint=True)
    result = _refused(db, cli, profile, path, "--allow-hazards", "DELETES_DATA")
    assert "index public.keep: in the saved plan, no longer needed" in result.stderr
    assert "index public.ix_events_kind: now needed" in result.stderr
    assert "setting shared_buffers: in the saved plan, no longer needed" in result.stderr


def test_as_of_exclude_and_profile_path_in_the_file_are_not_trusted(
    db: Server, cli: Cli, saved: tuple[Path, Path], write_profile: Callable[..., Path]
) -> None:
    profile, path = saved
    other = write_profile(PROFILE.replace("64MB", "1GB"), name="other.yaml")
    _edit(path, lambda doc: doc["saved"].update(as_of="2030-01-01"))
    moved = _refused(db, cli, profile, path, "--allow-hazards", "DELETES_DATA", connects=False)
    assert "was made with --as-of 2030-01-01; apply it with the same (now: --as-of 2026-11-24)" in moved.stderr
    _edit(path, lambda doc: doc["saved"].update(as_of=AS_OF, exclude=["public.*"]))
    hidden = _refused(db, cli, profile, path, "--allow-hazards", "DELETES_DATA", connects=False)
    assert "was made with --exclude 'public.*'; apply it with the same" in hidden.stderr
    _edit(path, lambda doc: doc["saved"].update(exclude=[], profile_path=str(other)))
    # The path in the file is never opened: the profile is the command line's.
    wrong = _refused(db, cli, other, path, "--allow-hazards", "DELETES_DATA", connects=False)
    assert "Saved plan was made from a different profile than" in wrong.stderr
    bare = cli("apply", "--plan", str(path), "--dsn", db.dsn)
    assert bare.code == 1 and "give the PROFILE with --plan FILE" in bare.stderr
    _untouched(db)


def test_the_untampered_plan_runs_exactly_and_converges(db: Server, cli: Cli, saved: tuple[Path, Path]) -> None:
    profile, path = saved
    gated = cli("apply", str(profile), "--plan", str(path), "--dsn", db.dsn, "--as-of", AS_OF)
    assert gated.code == 1 and "--allow-hazards DELETES_DATA" in gated.stderr
    _untouched(db)
    dry = cli("apply", str(profile), "--plan", str(path), "--dsn", db.dsn, "--as-of", AS_OF, "--dry-run")
    assert dry.code == 0 and "DROP TABLE" in dry.stdout
    _untouched(db)
    ran = cli(
        "apply", str(profile), "--plan", str(path), "--dsn", db.dsn, "--as-of", AS_OF, "--allow-hazards", "DELETES_DATA"
    )
    assert ran.code == 0, ran.stderr
    assert db.show("work_mem") == "64MB"
    assert db.one("SELECT to_regclass('public.logs_p2026_06')") is None
    again = cli("plan", str(profile), "--dsn", db.dsn, "--as-of", AS_OF, "--detailed-exitcode")
    assert again.code == 0, again.stdout + again.stderr


def test_show_never_sends_a_files_control_characters(saved: tuple[Path, Path], cli: Cli) -> None:
    _, path = saved
    _edit(path, lambda doc: _change(doc, "work_mem")["statements"][0].update(sql="SELECT 1 \x1b[2J\x1b]0;owned\x07"))
    shown = cli("show", str(path))
    assert shown.code == 0
    assert "\x1b" not in shown.stdout and "\x07" not in shown.stdout
    assert "\\x1b[2J" in shown.stdout
    assert f"warning: {path} was edited after pgtune wrote it" in shown.stderr
