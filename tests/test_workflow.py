"""The plan/apply workflow for pull requests and deploys, through the real CLI on real servers:
saved plans and staleness, one apply at a time, partial failure and a converging re-run."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import psycopg
import pytest

from pgtune.targets.lock import APPLY_LOCK_KEY, PGTUNE_LOCK_CLASS
from tests.conftest import CliResult, Server, run_cli, start_cli

Cli = Callable[..., CliResult]

PROFILE = """
name: deploy
settings:
  work_mem: 64MB
  random_page_cost: 1.1
tables:
  public.events:
    storage: {autovacuum_vacuum_scale_factor: 0.05}
    indexes:
      ix_events_kind: {columns: [kind]}
"""


@pytest.fixture
def events(pg: Server) -> Server:
    pg.sql("DROP TABLE IF EXISTS public.events; CREATE TABLE public.events (id bigint PRIMARY KEY, kind text)")
    pg.sql("INSERT INTO public.events SELECT g, 'k' || (g % 7) FROM generate_series(1, 2000) g")
    yield pg
    pg.sql("DROP TABLE IF EXISTS public.events")


@pytest.fixture
def profile(write_profile: Callable[..., Path]) -> Path:
    return write_profile(PROFILE)


def test_saved_plan_applies_exactly_and_only_once(events: Server, cli: Cli, profile: Path, tmp_path: Path) -> None:
    saved = tmp_path / "plan.json"
    planned = cli("plan", str(profile), "--dsn", events.dsn, "--out", str(saved))
    assert planned.code == 0, planned.stderr
    assert f"To apply exactly these changes: pgtune apply {profile} --plan {saved}" in planned.stderr
    doc = json.loads(saved.read_text())
    assert doc["saved"]["fingerprint"].startswith("sha256:")
    assert doc["saved"]["profile_digest"].startswith("sha256:")
    assert doc["saved"]["profile_path"] == str(profile)
    assert [c["object"] for c in doc["changes"]] == [
        "random_page_cost",
        "work_mem",
        "public.events",
        "public.ix_events_kind",
    ]
    shown = cli("show", str(saved))
    assert shown.code == 0 and "Plan: 1 to create, 3 to update, 0 to delete, 0 to replace." in shown.stdout
    shown_json = json.loads(cli("show", str(saved), "--format", "json").stdout)
    assert shown_json["changes"] == doc["changes"]
    # the reviewed profile and the plan; no prompt (it was reviewed).
    applied = cli("apply", str(profile), "--plan", str(saved), "--dsn", events.dsn)
    assert applied.code == 0, applied.stderr
    assert events.show("work_mem") == "64MB"
    assert events.one("SELECT count(*) FROM pg_indexes WHERE indexname = 'ix_events_kind'") == 1
    again = cli("apply", str(profile), "--plan", str(saved), "--dsn", events.dsn)
    assert again.code == 1
    assert "Saved plan is stale: " in again.stderr
    assert "setting work_mem: in the saved plan, no longer needed" in again.stderr


def test_a_setting_changed_between_plan_and_apply_makes_the_plan_stale(
    events: Server, cli: Cli, profile: Path, tmp_path: Path
) -> None:
    saved = tmp_path / "plan.json"
    assert cli("plan", str(profile), "--dsn", events.dsn, "--out", str(saved)).code == 0
    events.sql("ALTER SYSTEM SET work_mem = '8MB'")
    events.sql("ALTER SYSTEM SET random_page_cost = 1.1")  # drift that now agrees with the profile
    events.sql("SELECT pg_reload_conf()")
    time.sleep(0.2)
    position = events.log_position()
    result = cli("apply", str(profile), "--plan", str(saved), "--dsn", events.dsn)
    assert result.code == 1
    assert result.stderr.startswith("Error: Saved plan is stale: ")
    assert "setting random_page_cost: in the saved plan, no longer needed" in result.stderr
    assert "setting work_mem: before was '4MB' when planned, now '8MB'" in result.stderr
    assert "Nothing was executed." in result.stderr
    assert events.auto_conf() == {"work_mem": "8MB", "random_page_cost": "1.1"}
    assert events.one("SELECT count(*) FROM pg_indexes WHERE indexname = 'ix_events_kind'") == 0
    assert not [s for s in events.pgtune_statements(position) if s.upper().startswith(("ALTER", "CREATE INDEX CONC"))]


def test_drift_on_a_value_that_needed_no_change_is_caught(
    events: Server, cli: Cli, write_profile: Callable[..., Path], tmp_path: Path
) -> None:
    profile = write_profile("name: deploy\nsettings: {work_mem: 64MB, random_page_cost: 4}\n")
    saved = tmp_path / "plan.json"
    assert cli("plan", str(profile), "--dsn", events.dsn, "--out", str(saved)).code == 0
    events.sql("ALTER SYSTEM SET random_page_cost = 2")
    result = cli("apply", str(profile), "--plan", str(saved), "--dsn", events.dsn)
    assert result.code == 1
    assert "setting random_page_cost: now needed (update '2' -> '4'), not in the saved plan" in result.stderr


def test_a_changed_profile_does_not_match_its_saved_plan(
    events: Server, cli: Cli, profile: Path, tmp_path: Path
) -> None:
    saved = tmp_path / "plan.json"
    assert cli("plan", str(profile), "--dsn", events.dsn, "--out", str(saved)).code == 0
    profile.write_text(PROFILE.replace("64MB", "32MB"))
    result = cli("apply", str(profile), "--plan", str(saved), "--dsn", events.dsn)
    assert result.code == 1
    assert "Saved plan was made from a different profile" in result.stderr
    assert events.auto_conf() == {}
    broken = tmp_path / "broken.json"
    broken.write_text('{"changes": [')
    bad = cli("apply", str(profile), "--plan", str(broken), "--dsn", events.dsn)
    assert bad.code == 1 and f"{broken}:1:14: not a saved plan (invalid JSON" in bad.stderr


def test_a_second_apply_fails_naming_the_holder_then_waits_with_wait(events: Server, cli: Cli, profile: Path) -> None:
    holder = psycopg.connect(events.dsn, autocommit=True, application_name="deploy-job-41")
    holder.execute("SELECT pg_advisory_lock(%s, %s)", (PGTUNE_LOCK_CLASS, APPLY_LOCK_KEY))
    pid = holder.info.backend_pid
    try:
        started = time.monotonic()
        blocked = cli("apply", str(profile), "--dsn", events.dsn, "--yes")
        assert blocked.code == 1
        assert time.monotonic() - started < 20
        assert "another pgtune apply is running on this database (any profile): " in blocked.stderr
        assert f"pid {pid} (application_name 'deploy-job-41', user postgres" in blocked.stderr
        assert "waited 0s (--wait). Nothing was executed." in blocked.stderr
        assert events.auto_conf() == {}
        threading.Timer(1.0, holder.close).start()
        waited = cli("apply", str(profile), "--dsn", events.dsn, "--yes", "--wait", "30")
        assert waited.code == 0, waited.stderr
        assert events.show("work_mem") == "64MB"
    finally:
        holder.close()


@dataclass
class Finished:
    returncode: int | None = None
    err: str = ""


@contextmanager
def _apply_held_in_its_index_build(events: Server, profile: Path, reached: str) -> Iterator[Finished]:
    """Start `pgtune apply` in the background and hold it inside its concurrent index build (an
    open writer the build must wait out) while the block runs; then let it finish."""
    blocker = psycopg.connect(events.dsn)
    blocker.execute("INSERT INTO public.events VALUES (100000, 'open')")  # an open writer: CIC waits for it
    first = start_cli("apply", str(profile), "--dsn", events.dsn, "--yes")
    finished = Finished()
    try:
        if not events.wait_for(reached):
            blocker.rollback()
            pytest.fail(f"the first apply never reached its index build: {first.communicate(timeout=60)}")
        yield finished
    finally:
        blocker.rollback()
        blocker.close()
        _, finished.err = first.communicate(timeout=120)
        finished.returncode = first.returncode


def test_two_applies_at_once_exactly_one_runs(events: Server, profile: Path) -> None:
    """A real race: apply A is held inside its index build (a transaction it must wait for is
    open); apply B starts meanwhile and must fail on the lock, not run anything."""
    reached = (
        "SELECT count(*) FROM pg_stat_activity WHERE application_name = 'pgtune' "
        "AND query ILIKE 'CREATE INDEX CONCURRENTLY%%'"
    )
    with _apply_held_in_its_index_build(events, profile, reached) as first:
        second = run_cli("apply", str(profile), "--dsn", events.dsn, "--yes")
        assert second.code == 1
        assert "another pgtune apply is running on this database" in second.stderr
        assert "application_name 'pgtune'" in second.stderr
    assert first.returncode == 0, first.err
    assert events.one("SELECT count(*) FROM pg_indexes WHERE indexname = 'ix_events_kind'") == 1


def test_a_failure_mid_apply_stops_reports_and_a_rerun_converges(events: Server, cli: Cli, profile: Path) -> None:
    locker = psycopg.connect(events.dsn)
    locker.execute("LOCK TABLE public.events IN SHARE UPDATE EXCLUSIVE MODE")  # readers pass, DDL waits
    try:
        failed = cli("apply", str(profile), "--dsn", events.dsn, "--yes", "--lock-timeout", "200ms", "--retries", "0")
    finally:
        locker.rollback()
        locker.close()
    assert failed.code == 1
    assert "  applied: setting random_page_cost" in failed.stdout
    assert "  applied: setting work_mem" in failed.stdout
    assert "  FAILED: storage public.events — canceling statement due to lock timeout" in failed.stdout
    assert "  skipped: index public.ix_events_kind — not run: an earlier change failed" in failed.stdout
    assert "Apply: 2 applied, 1 FAILED, 1 skipped." in failed.stdout
    assert "nothing after the failed change ran. Re-run `pgtune apply` to converge" in failed.stderr
    assert events.show("work_mem") == "64MB"  # what ran was reloaded
    assert events.one("SELECT count(*) FROM pg_indexes WHERE indexname = 'ix_events_kind'") == 0
    rerun = cli("apply", str(profile), "--dsn", events.dsn, "--yes")
    assert rerun.code == 0, rerun.stderr
    assert "Apply: 2 applied." in rerun.stdout
    assert cli("plan", str(profile), "--dsn", events.dsn, "--detailed-exitcode").code == 0


def test_planning_gives_up_on_a_locked_table_instead_of_queueing(events: Server, cli: Cli, profile: Path) -> None:
    locker = psycopg.connect(events.dsn)
    locker.execute("LOCK TABLE public.events IN ACCESS EXCLUSIVE MODE")
    try:
        started = time.monotonic()
        result = cli("plan", str(profile), "--dsn", events.dsn)
        elapsed = time.monotonic() - started
    finally:
        locker.rollback()
        locker.close()
    assert result.code == 1
    assert "a table the profile declares is locked by another session" in result.stderr
    assert elapsed < 15


def test_two_profiles_on_one_database_never_interleave(
    events: Server, profile: Path, write_profile: Callable[..., Path]
) -> None:
    """The apply lock is the database's, not the profile's: while profile A builds an index, an
    apply of profile B is refused naming A's session, and B's plan does not take A's in-flight
    build for a leftover to prune."""
    other = write_profile("name: other\ntables:\n  public.events: {prune_indexes: true}\n", name="other.yaml")
    reached = (
        "SELECT count(*) FROM pg_stat_progress_create_index p JOIN pg_stat_activity a USING (pid) "
        "WHERE a.application_name = 'pgtune'"
    )
    with _apply_held_in_its_index_build(events, profile, reached) as first:
        second = run_cli("apply", str(other), "--dsn", events.dsn, "--yes")
        assert second.code == 1, second.stdout
        assert "another pgtune apply is running on this database (any profile)" in second.stderr
        planned = run_cli("plan", str(other), "--dsn", events.dsn, "--format", "json")
        assert planned.code == 0, planned.stderr
        doc = json.loads(planned.stdout)
        assert [c["object"] for c in doc["changes"]] == []  # the in-flight build is nobody's leftover
    assert first.returncode == 0, first.err
    assert "internal error" not in first.err
    assert events.one("SELECT count(*) FROM pg_indexes WHERE indexname = 'ix_events_kind'") == 1
    assert run_cli("plan", str(profile), "--dsn", events.dsn, "--detailed-exitcode").code == 0
