"""The Ansible module, run by a real ansible-playbook against the test cluster: check mode is a
plan (nothing runs), diff mode shows before/after, a normal run applies, a second run is ok."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.conftest import REPO, Pair, Server

PLAYBOOK = REPO / "examples" / "ansible" / "site.yml"


def _ansible(workdir: Path) -> tuple[Path, dict[str, str]]:
    """ansible-playbook and an environment for it: the example module library, no PG* variables."""
    binary = Path(sys.executable).parent / "ansible-playbook"
    if not binary.exists() and shutil.which("ansible-playbook") is None:
        pytest.fail("ansible-playbook is not installed (pip install -e '.[test]')", pytrace=False)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PG", "DATABASE_URL"))}
    env |= {
        "ANSIBLE_LIBRARY": str(REPO / "examples" / "ansible" / "library"),
        "ANSIBLE_NOCOLOR": "1",
        "ANSIBLE_LOCAL_TEMP": str(workdir / "ansible-tmp"),
        "ANSIBLE_HOME": str(workdir / "ansible-home"),
    }
    return binary, env


def _playbook(server: Server, profile: Path, *args: str) -> subprocess.CompletedProcess[str]:
    binary, env = _ansible(profile.parent)
    extra = {
        "target": "localhost",
        "pgtune_profile": str(profile),
        "pgtune_dsn": server.dsn,
        "ansible_python_interpreter": sys.executable,
        "pgtune_result_file": str(profile.parent / "result.json"),
    }
    (profile.parent / "result.json").unlink(missing_ok=True)
    return subprocess.run(
        [str(binary), "-i", "localhost,", "-c", "local", str(PLAYBOOK), "-e", json.dumps(extra), *args],
        capture_output=True,
        text=True,
        env=env,
        cwd=REPO,
        timeout=180,
        check=False,
    )


def _task(profile: Path) -> dict:
    return json.loads((profile.parent / "result.json").read_text())


def test_check_diff_apply_and_idempotence(pg: Server, write_profile: Callable[..., Path]) -> None:
    profile = write_profile("name: fleet\nsettings: {work_mem: 24MB, random_page_cost: 1.1}\n")
    position = pg.log_position()
    check = _playbook(pg, profile, "--check", "--diff")
    assert check.returncode == 0, check.stdout[-2000:] + check.stderr
    task = _task(profile)
    assert task["changed"] is True
    assert [c["object"] for c in task["changes"]] == ["random_page_cost", "work_mem"]
    assert {
        "before_header": "setting work_mem",
        "after_header": "setting work_mem",
        "before": "4MB\n",
        "after": "24MB\n",
    } in task["diff"]
    assert pg.show("work_mem") == "4MB"
    pg.assert_only_reads_since(position)
    applied = _playbook(pg, profile)
    assert applied.returncode == 0, applied.stdout[-2000:]
    assert _task(profile)["changed"] is True
    assert pg.show("work_mem") == "24MB"
    again = _playbook(pg, profile)
    assert again.returncode == 0 and _task(profile)["changed"] is False


def test_a_profile_error_fails_the_task_with_its_position(pg: Server, write_profile: Callable[..., Path]) -> None:
    profile = write_profile("name: fleet\nsettings: {work_mam: 24MB}\n")
    result = _playbook(pg, profile)
    assert result.returncode != 0
    assert f"{profile}:2:12: unknown setting 'work_mam'; did you mean 'work_mem'?" in result.stdout


def test_a_gated_hazard_is_refused_after_the_locked_replan(pg: Server, write_profile: Callable[..., Path]) -> None:
    """One gate for every caller: the module's run stops at the plan re-derived under the apply lock."""
    pg.sql("DROP TABLE IF EXISTS public.ev CASCADE")
    pg.sql("CREATE TABLE public.ev (id int, at date NOT NULL) PARTITION BY RANGE (at)")
    pg.sql("CREATE TABLE public.ev_p2026_01 PARTITION OF public.ev FOR VALUES FROM ('2026-01-01') TO ('2026-02-01')")
    pg.sql("INSERT INTO public.ev VALUES (1, '2026-01-05')")
    profile = write_profile(
        "name: fleet\ntables:\n  public.ev:\n    partitioning: {strategy: range, key: at, interval: 1 month, "
        "premake: 0, retention: 1 month, retention_action: drop}\n"
    )
    try:
        refused = _playbook(pg, profile, "-e", json.dumps({"pgtune_as_of": "2026-11-24"}))
        assert refused.returncode != 0
        assert "refusing to apply: the plan carries gated hazards DELETES_DATA" in refused.stdout
        assert pg.one("SELECT count(*) FROM public.ev") == 1
        allowed = _playbook(
            pg, profile, "-e", json.dumps({"pgtune_as_of": "2026-11-24", "pgtune_allow_hazards": ["DELETES_DATA"]})
        )
        assert allowed.returncode == 0, allowed.stdout[-2000:]
        assert pg.one("SELECT to_regclass('public.ev_p2026_01')") is None
    finally:
        pg.sql("DROP TABLE IF EXISTS public.ev CASCADE")


def test_a_cluster_is_converged_then_restarted_one_node_at_a_time_in_order(
    pair15: Pair, write_profile: Callable[..., Path]
) -> None:
    """examples/ansible/cluster.yml on a primary + standby: a raise of max_connections restarts the
    standby first (serial: 1, in the module's restart_order), each restart waited out."""
    pair = pair15
    pair.reset()
    profile = write_profile("name: fleet\nsettings: {max_connections: 75}\n")
    order_file = profile.parent / "order.txt"
    lines = ["[cluster]"]
    for host, node in (("pg_primary", pair.primary), ("pg_standby", pair.standby)):
        restart = (
            f"sh -c 'echo {host} >> {order_file} && runuser -u postgres -- {node.bindir}/pg_ctl -D {node.data} "
            f"-l {node.log} -m fast -w -t 60 restart'"
        )
        lines.append(
            f'{host} ansible_connection=local pgtune_dsn="{node.dsn()}" pgtune_restart_command="{restart}" '
            f"ansible_python_interpreter={sys.executable}"
        )
    inventory = profile.parent / "inventory.ini"
    inventory.write_text("\n".join(lines) + "\n", encoding="utf-8")
    binary, env = _ansible(profile.parent)
    extra = {"pgtune_profile": str(profile), "ansible_python_interpreter": sys.executable}
    run = subprocess.run(
        [
            str(binary),
            "-i",
            str(inventory),
            str(REPO / "examples" / "ansible" / "cluster.yml"),
            "-e",
            json.dumps(extra),
        ],
        capture_output=True,
        text=True,
        env=env,
        cwd=REPO,
        timeout=300,
        check=False,
    )
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-2000:]
    assert order_file.read_text().split() == ["pg_standby", "pg_primary"]
    assert "max_connections increases: the standbys first" in run.stdout
    pair.primary.wait_streaming(pair.standby)
    assert pair.show(pair.primary, "max_connections") == pair.show(pair.standby, "max_connections") == "75"
    with pair.standby.connect() as conn:
        assert conn.execute("SELECT pg_is_wal_replay_paused()").fetchone() == (False,)
