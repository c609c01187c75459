"""Passwords stay secret in every DSN form: URI userinfo, URI ?password=, key=value, PGPASSWORD,
.pgpass, a service file and a PgBouncer admin DSN — in errors, plans (every format), saved plans,
-v output, render, and the files pgtune writes. Real servers that check the password (scram)."""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Iterator
from pathlib import Path
from urllib.parse import quote

import psycopg
import pytest

from pgtune.integrations.postgres import redact, scrub
from tests.conftest import LETTA_ROLE, PASSWORD_ROLE, REPO, CliResult, Server

Cli = Callable[..., CliResult]
PASSWORD = "S3cr3t/pw@x%y:z"
FORMS = ("uri-userinfo", "uri-query", "keyvalue", "PGPASSWORD", "pgpass", "service")


def _leaks(text: str) -> list[str]:
    return [form for form in {PASSWORD, quote(PASSWORD, safe=""), quote(PASSWORD)} if form in text]


@pytest.fixture
def secret_role(pg: Server) -> Iterator[Server]:
    pg.sql(f"CREATE ROLE {PASSWORD_ROLE} LOGIN SUPERUSER PASSWORD '{PASSWORD}'")  # no parameters in utility SQL
    pg.sql("DROP TABLE IF EXISTS public.secrets_t; CREATE TABLE public.secrets_t (id int, v text)")
    yield pg
    pg.sql("DROP TABLE IF EXISTS public.secrets_t")


def _connection(form: str, server: Server, tmp_path: Path, dbname: str = "postgres") -> tuple[str, dict[str, str]]:
    """A DSN and environment that log in as the password role, the password given the `form` way."""
    port = server.cluster.port
    kv = f"host=127.0.0.1 port={port} user={PASSWORD_ROLE} dbname={dbname}"
    uri = f"127.0.0.1:{port}/{dbname}"
    if form == "uri-userinfo":
        return f"postgresql://{PASSWORD_ROLE}:{quote(PASSWORD, safe='')}@{uri}", {}
    if form == "uri-query":
        return f"postgresql://{PASSWORD_ROLE}@{uri}?password={quote(PASSWORD, safe='')}&connect_timeout=5", {}
    if form == "keyvalue":
        return f"{kv} password='{PASSWORD}'", {}
    if form == "PGPASSWORD":
        return kv, {"PGPASSWORD": PASSWORD}
    if form == "pgpass":
        passfile = tmp_path / "pgpass"
        escaped = PASSWORD.replace("\\", "\\\\").replace(":", "\\:")
        passfile.write_text(f"127.0.0.1:{port}:*:{PASSWORD_ROLE}:{escaped}\n")
        passfile.chmod(0o600)
        return kv, {"PGPASSFILE": str(passfile)}
    services = tmp_path / "pg_service.conf"
    services.write_text(
        f"[pgtune_secret]\nhost=127.0.0.1\nport={port}\nuser={PASSWORD_ROLE}\ndbname={dbname}\npassword={PASSWORD}\n"
    )
    return "service=pgtune_secret", {"PGSERVICEFILE": str(services)}


PROFILE = """
name: secrets
settings: {work_mem: 48MB}
tables:
  public.secrets_t:
    storage: {fillfactor: 90}
"""


@pytest.mark.parametrize("form", FORMS)
def test_no_password_in_any_output_or_file(
    secret_role: Server, cli: Cli, write_profile: Callable[..., Path], tmp_path: Path, form: str
) -> None:
    profile = write_profile(PROFILE)
    dsn, env = _connection(form, secret_role, tmp_path)
    outputs: dict[str, str] = {}

    def run(name: str, *args: str) -> CliResult:
        result = cli(*args, "--dsn", dsn, env=env)
        outputs[name] = result.stdout + result.stderr
        return result

    saved = tmp_path / "plan.json"
    planned = run("plan", "plan", str(profile), "--format", "json", "--out", str(saved))
    assert planned.code == 0, planned.stderr  # really logged in with the password
    run("plan-markdown", "plan", str(profile), "--format", "markdown")
    applied = run("apply", "-v", "apply", str(profile), "--yes")
    assert applied.code == 0, applied.stderr
    adopted = tmp_path / "adopted.yaml"
    assert run("inspect", "inspect", "--tables", "public.secrets_t", "--out", str(adopted)).code == 0
    outputs["files"] = saved.read_text() + adopted.read_text()
    assert "# adopted from " in adopted.read_text()
    wrong_db, _ = _connection(form, secret_role, tmp_path, dbname="pgtune_test_nowhere")
    if form == "service":
        failing = cli("plan", str(profile), "--dsn", "service=pgtune_secret dbname=pgtune_test_nowhere", env=env)
    else:
        failing = cli("plan", str(profile), "--dsn", wrong_db, env=env)
    assert failing.code == 1 and "could not connect" in failing.stderr
    outputs["connection error"] = failing.stdout + failing.stderr
    leaked = {name: _leaks(text) for name, text in outputs.items() if _leaks(text)}
    assert not leaked, leaked


def test_wrong_password_and_pgbouncer_admin_dsn_stay_hidden(
    secret_role: Server, cli: Cli, write_profile: Callable[..., Path], tmp_path: Path
) -> None:
    port = secret_role.cluster.port
    wrong = f"postgresql://{PASSWORD_ROLE}@127.0.0.1:{port}/postgres?password={quote(PASSWORD, safe='')}x"
    failed = cli("plan", str(write_profile(PROFILE)), "--dsn", wrong)
    assert failed.code == 1 and "password authentication failed" in failed.stderr
    assert "password=****" in failed.stderr and not _leaks(failed.stderr), failed.stderr
    admin = f"postgresql://pgbouncer@127.0.0.1:1/pgbouncer?password={quote(PASSWORD, safe='')}"
    pooled = write_profile(
        f'name: pooled\npool:\n  pgbouncer:\n    admin_dsn: "{admin}"\n    settings: {{pool_mode: transaction}}\n',
        name="pooled.yaml",
    )
    rendered = cli("render", str(pooled))
    assert rendered.code == 0 and "password=****" in rendered.stdout and not _leaks(rendered.stdout)
    unreachable = cli("plan", str(pooled), "--dsn", secret_role.dsn)
    assert unreachable.code == 1, unreachable.stdout
    assert not _leaks(unreachable.stdout + unreachable.stderr), unreachable.stderr


@pytest.mark.parametrize(
    "dsn",
    [
        f"postgresql://u:{quote(PASSWORD, safe='')}@h:5432/db",
        f"postgresql://u@h/db?sslmode=require&password={quote(PASSWORD, safe='')}",
        f"postgres://u:{quote(PASSWORD, safe='')}@h1,h2/db?password={quote(PASSWORD, safe='')}",
        f"host=h user=u password='{PASSWORD}' dbname=db",
        f"host=h user=u password='{PASSWORD}",  # unparsable: found by shape
    ],
)
def test_redact_and_scrub_every_form(dsn: str) -> None:
    shown = redact(dsn)
    assert not _leaks(shown), shown
    assert not _leaks(scrub(f"error near {dsn} and {PASSWORD}", dsn))


def test_pgpassword_is_scrubbed(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(os.environ, "PGPASSWORD", PASSWORD)
    assert scrub(f"failed for {PASSWORD}", "host=h") == "failed for ****"


def _connection_strings_with(password: str, text: str) -> list[str]:
    """Connection strings in the text that carry this password, in any form."""
    uri = re.findall(rf"://[^\s:/@]*:{re.escape(password)}@", text)
    pairs = re.findall(rf"password\s*=\s*'?{re.escape(password)}\b", text, flags=re.I)
    return uri + pairs


@pytest.fixture
def letta_role(pg16: Server) -> Iterator[Server]:
    """Letta's role and database as its compose file makes them: user `letta`, password `letta`."""
    pg16.sql("DROP DATABASE IF EXISTS letta WITH (FORCE)")
    pg16.sql(f"DROP ROLE IF EXISTS {LETTA_ROLE}")
    pg16.sql(f"CREATE ROLE {LETTA_ROLE} LOGIN SUPERUSER PASSWORD 'letta'")
    pg16.sql(f"CREATE DATABASE letta OWNER {LETTA_ROLE}")
    with psycopg.connect(pg16.cluster.dsn("letta"), autocommit=True) as conn:
        conn.execute((REPO / "examples" / "letta" / "schema.sql").read_text(encoding="utf-8").encode())
    yield pg16
    pg16.sql("DROP DATABASE IF EXISTS letta WITH (FORCE)")
    pg16.sql(f"DROP ROLE IF EXISTS {LETTA_ROLE}")


def test_a_password_that_is_also_a_name_is_masked_only_where_it_is_a_secret(
    letta_role: Server, cli: Cli, write_profile: Callable[..., Path], tmp_path: Path
) -> None:
    port = letta_role.cluster.port
    dsn = f"postgresql://letta:letta@127.0.0.1:{port}/letta"
    profile = REPO / "profiles" / "letta.yaml"
    no_preload = ["--set", "settings.shared_preload_libraries=null"]  # pgserver's 16 has no contrib
    saved = tmp_path / "plan.json"
    outputs = {
        "text": cli("plan", str(profile), "--dsn", dsn, *no_preload, "--out", str(saved)),
        "markdown": cli("plan", str(profile), "--dsn", dsn, *no_preload, "--format", "markdown"),
        "json": cli("plan", str(profile), "--dsn", dsn, *no_preload, "--format", "json"),
        "verbose": cli("-v", "plan", str(profile), "--dsn", dsn, *no_preload),
        "dry-run": cli("apply", str(profile), "--dsn", dsn, *no_preload, "--dry-run"),
    }
    for form, result in outputs.items():
        assert result.code in (0, 2), (form, result.stderr)  # really logged in with the password
        both = result.stdout + result.stderr
        assert not _connection_strings_with("letta", both), (form, both)
        assert "****" not in result.stdout, (form, result.stdout)  # nothing of the plan masked
    assert '"letta"."messages"' in outputs["dry-run"].stdout  # the schema in the SQL, exactly
    assert "letta.messages" in outputs["text"].stdout and "letta.messages" in outputs["markdown"].stdout
    assert '"object": "letta.messages"' in outputs["json"].stdout
    assert str(profile) in outputs["markdown"].stdout or "letta" in outputs["markdown"].stdout
    assert saved.read_text(encoding="utf-8").count("letta.messages") >= 1  # the saved record says the same
    assert not _connection_strings_with("letta", saved.read_text(encoding="utf-8"))
    shown = cli("show", str(saved))
    assert shown.code == 0 and "letta.messages" in shown.stdout and "****" not in shown.stdout

    # Errors: a DSN quoted in one is masked by its place; a name in one prints exactly.
    wrong = cli("plan", str(profile), "--dsn", f"postgresql://letta:lettax@127.0.0.1:{port}/letta")
    assert wrong.code == 1 and "password authentication failed" in wrong.stderr, wrong.stderr
    assert f"postgresql://letta:****@127.0.0.1:{port}/letta" in wrong.stderr
    assert not _connection_strings_with("lettax", wrong.stderr) and "lettax" not in wrong.stderr
    unknown = write_profile("name: u\ntables:\n  letta.nosuch:\n    storage: {fillfactor: 90}\n")
    missing = cli("plan", str(unknown), "--dsn", dsn)
    assert missing.code == 1 and "letta.nosuch" in missing.stderr and "****" not in missing.stderr, missing.stderr
    unparsable = cli("plan", str(profile), "--dsn", "host=127.0.0.1 password letta")
    assert unparsable.code == 1 and "letta" not in unparsable.stderr.replace(str(profile), ""), unparsable.stderr


def test_connection_strings_are_masked_by_their_place_and_names_are_not() -> None:
    from pgtune.base.redact import distinctive, mask_connection_strings

    text = (
        'ALTER TABLE "letta"."messages" SET (fillfactor = 90) -- postgresql://letta:letta@db:5432/letta '
        "host=db user=letta password=letta dbname=letta, postgres://u@h/letta?sslmode=require&password=letta "
        "password = 'it\\'s letta' SET password_encryption = 'scram-sha-256'"  # libpq escapes with \\
    )
    masked = mask_connection_strings(text)
    assert masked == (
        'ALTER TABLE "letta"."messages" SET (fillfactor = 90) -- postgresql://letta:****@db:5432/letta '
        "host=db user=letta password=**** dbname=letta, postgres://u@h/letta?sslmode=require&password=**** "
        "password = **** SET password_encryption = 'scram-sha-256'"
    )
    assert not distinctive("letta") and not distinctive("postgres") and not distinctive("Password")
    assert distinctive("S3cr3t-Pa55word") and distinctive(PASSWORD) and not distinctive("s3cr3t")
