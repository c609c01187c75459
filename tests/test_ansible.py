"""The Ansible collection (collections/ansible_collections/pgtune/postgresql), built and installed as
users install it, run by a real ansible-playbook against the test cluster: check mode is a plan
(nothing runs), diff mode shows before/after, a normal run applies, a second run is ok; and
ansible-doc and ansible-test sanity accept the module."""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import tomllib
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import yaml

from tests.conftest import REPO, Pair, Server

PLAYBOOK = REPO / "examples" / "ansible" / "site.yml"
COLLECTION = REPO / "collections" / "ansible_collections" / "pgtune" / "postgresql"
FQCN = "pgtune.postgresql.converge"
GET_PIP = Path(__file__).parent / "ansible_get_pip.py"


def _bin(name: str) -> str:
    binary = Path(sys.executable).parent / name
    if binary.exists():
        return str(binary)
    found = shutil.which(name)
    if found is None:
        pytest.fail(f"{name} is not installed (pip install -e '.[test]')", pytrace=False)
    return found


@pytest.fixture
def pg(pg16: Server) -> Iterator[Server]:
    """One version here: the module drives `pgtune`, whose behaviour on 15, 16 and 18 the rest of the
    suite tests; what these tests hold is the module's contract with Ansible (check, diff, changed)."""
    pg16.reset()
    yield pg16
    pg16.reset()


@pytest.fixture(scope="session")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """`ansible-galaxy collection build` + `install` into a temporary collections path, once a session."""
    root = tmp_path_factory.mktemp("collection")
    built = subprocess.run(
        [_bin("ansible-galaxy"), "collection", "build", "--output-path", str(root), str(COLLECTION)],
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
        env=_clean_env(root),
    )
    assert built.returncode == 0, built.stdout + built.stderr
    (tarball,) = root.glob("pgtune-postgresql-*.tar.gz")
    path = root / "installed"
    done = subprocess.run(
        [_bin("ansible-galaxy"), "collection", "install", "-p", str(path), str(tarball)],
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
        env=_clean_env(root),
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert (path / "ansible_collections" / "pgtune" / "postgresql" / "plugins" / "modules" / "converge.py").exists()
    return path


def _clean_env(workdir: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PG", "DATABASE_URL", "ANSIBLE_"))}
    return env | {
        "ANSIBLE_NOCOLOR": "1",
        "ANSIBLE_LOCAL_TEMP": str(workdir / "ansible-tmp"),
        "ANSIBLE_HOME": str(workdir / "ansible-home"),
    }


def _ansible(workdir: Path, installed: Path) -> tuple[Path, dict[str, str]]:
    """ansible-playbook and an environment for it: the installed collection, no PG* variables."""
    env = _clean_env(workdir) | {"ANSIBLE_COLLECTIONS_PATH": str(installed)}
    return Path(_bin("ansible-playbook")), env


def test_the_collection_is_versioned_with_pgtune() -> None:
    galaxy = yaml.safe_load((COLLECTION / "galaxy.yml").read_text())
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    assert (galaxy["namespace"], galaxy["name"]) == ("pgtune", "postgresql")
    assert galaxy["version"] == project["version"]
    for playbook in (REPO / "examples" / "ansible").glob("*.yml"):
        tasks = [t for play in yaml.safe_load(playbook.read_text()) for t in play.get("tasks", [])]
        modules = {k for t in tasks for k in t if "." in k or k == "pgtune"}
        assert "pgtune" not in modules and FQCN in modules, playbook  # the FQCN, never a library path


def test_ansible_doc_renders_the_module(installed: Path, tmp_path: Path) -> None:
    env = _clean_env(tmp_path) | {"ANSIBLE_COLLECTIONS_PATH": str(installed)}
    shown = subprocess.run(
        [_bin("ansible-doc"), "--json", FQCN], capture_output=True, text=True, check=False, timeout=120, env=env
    )
    assert shown.returncode == 0, shown.stderr
    doc = json.loads(shown.stdout)[FQCN]
    assert doc["doc"]["attributes"]["check_mode"]["support"] == "full"
    assert doc["doc"]["attributes"]["diff_mode"]["support"] == "full"
    assert {"profile", "dsn", "nodes", "patroni", "restart", "allow_hazards"} <= set(doc["doc"]["options"])
    assert "pgtune.postgresql.converge:" in doc["examples"] and "changes" in doc["return"]


def _sanity_home(pip_version: str) -> Path:
    """ansible-test's HOME, kept between runs in the user's cache and keyed by the hash of what it
    installs (ansible-core's version, its pip, the sanity requirements it ships): it builds its
    virtual environments there once, and reuses them while none of that changes. The sanity tests
    themselves run every time."""
    import ansible_test

    requirements = sorted((Path(ansible_test.__file__).parent / "_data" / "requirements").glob("*.txt"))
    digest = hashlib.sha256(pip_version.encode() + sys.version.encode())
    for path in requirements:
        digest.update(path.name.encode() + path.read_bytes())
    root = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "pgtune-tests"
    return root / f"ansible-test-{digest.hexdigest()[:16]}"


@pytest.mark.installs
def test_ansible_test_sanity_passes(installed: Path, tmp_path: Path) -> None:
    """Every sanity test ansible-test runs without containers (validate-modules, ansible-doc, pep8,
    yamllint, import ...) but pylint (ruff lints the module; pylint's environment is the slowest to
    build), on the installed collection. Its own virtual environments come from
    the package index; its pip bootstrap script's host is out of reach here, so a stand-in (the
    interpreter's ensurepip, then pip from the index: tests/ansible_get_pip.py) sits in its cache."""
    source = Path(_bin("ansible-test")).resolve()
    internal = Path(__import__("ansible_test").__file__).parent / "_internal" / "python_requirements.py"
    match = re.search(r"pip='([0-9.]+)'", internal.read_text())
    assert match, f"ansible-test's pip version not found in {internal} ({source})"
    home = _sanity_home(match.group(1))
    cache = home / ".ansible" / "test" / "cache"
    cache.mkdir(parents=True, exist_ok=True)
    shutil.copy(GET_PIP, cache / f"get_pip_{match.group(1).replace('.', '_')}.py")
    for config in (Path.home() / ".config" / "pip" / "pip.conf", Path.home() / ".pip" / "pip.conf"):
        if config.exists():  # the machine's package index settings, under the temporary HOME
            target = home / config.relative_to(Path.home())
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy(config, target)
    env = _clean_env(tmp_path) | {"HOME": str(home)}
    python = f"{sys.version_info.major}.{sys.version_info.minor}"
    run = subprocess.run(
        [_bin("ansible-test"), "sanity", "--python", python, "--skip-test", "pylint"],
        cwd=installed / "ansible_collections" / "pgtune" / "postgresql",
        capture_output=True,
        text=True,
        check=False,
        timeout=900,
        env=env,
    )
    assert run.returncode == 0, run.stdout[-4000:] + run.stderr[-4000:]
    assert 'Running sanity test "validate-modules"' in run.stdout + run.stderr


def _playbook(server: Server, installed: Path, profile: Path, *args: str) -> subprocess.CompletedProcess[str]:
    binary, env = _ansible(profile.parent, installed)
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


def _status(stdout: str) -> str:
    """What Ansible printed for the converge task: ok, changed or fatal."""
    after = stdout.split("TASK [Converge to", 1)[1]
    found = re.search(r"^(ok|changed|fatal): \[localhost\]", after, flags=re.M)
    assert found, stdout
    return found.group(1)


def _task(profile: Path) -> dict:
    return json.loads((profile.parent / "result.json").read_text())


def test_check_diff_apply_and_idempotence(pg: Server, installed: Path, write_profile: Callable[..., Path]) -> None:
    profile = write_profile("name: fleet\nsettings: {work_mem: 24MB, random_page_cost: 1.1}\n")
    position = pg.log_position()
    check = _playbook(pg, installed, profile, "--check", "--diff")
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
    # Ansible's own diff display, as a user reads it
    assert "--- before: setting work_mem\n+++ after: setting work_mem" in check.stdout
    assert "-4MB\n+24MB" in check.stdout
    assert _status(check.stdout) == "changed"
    assert pg.show("work_mem") == "4MB"
    pg.assert_only_reads_since(position)  # check mode executed nothing
    plain = _playbook(pg, installed, profile, "--check")
    assert "diff" not in _task(profile) and "--- before" not in plain.stdout  # no --diff, no diff
    applied = _playbook(pg, installed, profile)
    assert applied.returncode == 0, applied.stdout[-2000:]
    assert _task(profile)["changed"] is True
    assert pg.show("work_mem") == "24MB"
    again = _playbook(pg, installed, profile)
    assert again.returncode == 0 and _task(profile)["changed"] is False
    assert _status(again.stdout) == "ok"


def test_a_pending_restart_is_a_warning_not_a_change(
    pg: Server, installed: Path, write_profile: Callable[..., Path]
) -> None:
    """Written with ALTER SYSTEM, waiting for a restart: converged as far as an apply can take it."""
    running = pg.show("shared_buffers")
    wanted = "48MB" if running != "48MB" else "40MB"
    profile = write_profile(f"name: fleet\nsettings: {{shared_buffers: {wanted}}}\n")
    first = _playbook(pg, installed, profile)
    assert first.returncode == 0, first.stdout[-2000:]
    assert _task(profile)["changed"] is True and _task(profile)["restart_required"] is True
    assert pg.show("shared_buffers") == running  # applied, not running yet
    second = _playbook(pg, installed, profile, "--check", "--diff")
    assert second.returncode == 0, second.stdout[-2000:]
    task = _task(profile)
    assert task["changed"] is False and task["changes"] == []
    assert task["restart_pending"] and "restart PostgreSQL to apply it" in task["restart_pending"][0]
    assert "[WARNING]: shared_buffers = " in second.stderr  # Ansible prints warnings on stderr
    assert _status(second.stdout) == "ok"


def test_a_profile_error_fails_the_task_with_its_position(
    pg: Server, installed: Path, write_profile: Callable[..., Path]
) -> None:
    profile = write_profile("name: fleet\nsettings: {work_mam: 24MB}\n")
    result = _playbook(pg, installed, profile)
    assert result.returncode != 0
    assert f"{profile}:2:12: unknown setting 'work_mam'; did you mean 'work_mem'?" in result.stdout


def test_a_gated_hazard_is_refused_after_the_locked_replan(
    pg: Server, installed: Path, write_profile: Callable[..., Path]
) -> None:
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
        refused = _playbook(pg, installed, profile, "-e", json.dumps({"pgtune_as_of": "2026-11-24"}))
        assert refused.returncode != 0
        assert "refusing to apply: the plan carries gated hazards DELETES_DATA" in refused.stdout
        assert pg.one("SELECT count(*) FROM public.ev") == 1
        allowed = _playbook(
            pg,
            installed,
            profile,
            "-e",
            json.dumps({"pgtune_as_of": "2026-11-24", "pgtune_allow_hazards": ["DELETES_DATA"]}),
        )
        assert allowed.returncode == 0, allowed.stdout[-2000:]
        assert pg.one("SELECT to_regclass('public.ev_p2026_01')") is None
    finally:
        pg.sql("DROP TABLE IF EXISTS public.ev CASCADE")


def test_a_cluster_is_converged_then_restarted_one_node_at_a_time_in_order(
    pair15: Pair, installed: Path, write_profile: Callable[..., Path]
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
    binary, env = _ansible(profile.parent, installed)
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
