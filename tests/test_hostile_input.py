"""Hostile input is bounded before any work: alias bombs, deep nesting, huge numbers, files that are
not files, over-long names, values ALTER SYSTEM refuses — each a clear error with its position,
exit 1, quickly, with no SQL run."""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from pgtune.base.errors import ProfileError
from pgtune.profile.loader import load_profile
from tests.conftest import CliResult, Server

Cli = Callable[..., CliResult]


def _bomb(levels: int = 9, width: int = 9) -> str:
    lines = ["name: bomb", 'a0: &a0 ["lol"]']
    for level in range(1, levels + 1):
        refs = ", ".join(f"*a{level - 1}" for _ in range(width))
        lines.append(f"a{level}: &a{level} [{refs}]")
    return "\n".join(lines) + "\n"


def test_an_alias_bomb_stops_before_it_expands(tmp_path: Path) -> None:
    path = tmp_path / "bomb.yaml"
    path.write_text(_bomb())
    started = time.monotonic()
    with pytest.raises(ProfileError, match=r"aliases expand to more than 250,000 values"):
        load_profile(path)
    assert time.monotonic() - started < 2


def test_deep_nesting_is_an_error_not_a_recursion_crash(tmp_path: Path) -> None:
    path = tmp_path / "deep.yaml"
    path.write_text("name: deep\nx: " + "[" * 5000 + "]" * 5000 + "\n")
    with pytest.raises(ProfileError, match=r"nested deeper than 64 levels") as caught:
        load_profile(path)
    assert str(caught.value).startswith(f"{path}:2:")


def test_a_fifo_or_a_device_is_refused_without_reading(cli: Cli, tmp_path: Path) -> None:
    fifo = tmp_path / "profile.yaml"
    os.mkfifo(fifo)
    started = time.monotonic()
    result = cli("validate", str(fifo), "/dev/zero")
    assert result.code == 1
    assert f"{fifo}: not a regular file" in result.stderr and "/dev/zero: not a regular file" in result.stderr
    assert time.monotonic() - started < 10


def test_names_are_measured_in_bytes(tmp_path: Path) -> None:
    path = tmp_path / "names.yaml"
    path.write_text("name: n\ntables:\n  public.t:\n    indexes:\n      " + "ü" * 35 + ": {columns: [a]}\n")
    with pytest.raises(ProfileError, match="is 70 bytes; PostgreSQL keeps only the first 63 bytes"):
        load_profile(path)


def test_a_5000_digit_number_and_a_newline_are_refused_at_plan(
    pg: Server, cli: Cli, write_profile: Callable[..., Path]
) -> None:
    profile = write_profile("name: bad\nsettings:\n  work_mem: " + "9" * 5000 + '\n  application_name: "a\\nb"\n')
    position = pg.log_position()
    result = cli("plan", str(profile), "--dsn", pg.dsn)
    assert result.code == 1, result.stdout
    assert "internal error" not in result.stderr
    assert f"{profile}:3:13: work_mem" in result.stderr and "value exceeds integer range" in result.stderr
    assert f"{profile}:4:21: application_name: ALTER SYSTEM refuses a value containing a newline" in result.stderr
    pg.assert_only_reads_since(position)


def test_a_server_lost_mid_plan_is_reported_as_such(pg: Server, write_profile: Callable[..., Path]) -> None:
    import psycopg

    from tests.conftest import start_cli

    pg.sql("DROP TABLE IF EXISTS public.lost; CREATE TABLE public.lost (id int, v int)")
    profile = write_profile("name: lost\ntables:\n  public.lost:\n    indexes:\n      ix_lost_v: {columns: [v]}\n")
    locker = psycopg.connect(pg.dsn)
    locker.execute("LOCK TABLE public.lost IN ACCESS EXCLUSIVE MODE")  # the probe waits here
    proc = start_cli("plan", str(profile), "--dsn", pg.dsn)
    try:
        assert pg.wait_for(
            "SELECT count(*) FROM pg_stat_activity WHERE application_name = 'pgtune' AND wait_event_type = 'Lock'"
        )
        pg.sql("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = 'pgtune'")
        _, err = proc.communicate(timeout=30)
    finally:
        locker.rollback()
        locker.close()
        pg.sql("DROP TABLE IF EXISTS public.lost")
    assert proc.returncode == 1
    assert "the connection to the server was lost while planning" in err, err
    assert f"{profile}:" not in err  # not blamed on the profile
