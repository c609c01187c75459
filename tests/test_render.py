"""Renderers are pure: golden Markdown for a pull-request comment, and its size bound."""

from __future__ import annotations

import os
from pathlib import Path

from pgtune.plan.hazards import hazard
from pgtune.plan.model import Address, Bound, Change, Check, Notice, Parameters, Plan, ServerInfo, Statement
from pgtune.render.markdown import MARKER_PREFIX, render_markdown

GOLDEN = Path(__file__).parent / "golden"


def _plan() -> Plan:
    cic = Statement(
        'CREATE INDEX CONCURRENTLY "ix_messages_agent_created" ON "letta"."messages" USING "btree" '
        "(agent_id, created_at)",
        transactional=False,
        lock="SHARE UPDATE EXCLUSIVE",
        retryable=False,
        progress="create_index",
    )
    return Plan(
        "letta",
        ServerInfo("16.2", 160002),
        (
            Change(
                Address("setting", "shared_buffers"),
                "update",
                "128MB",
                "4GB",
                (Statement("ALTER SYSTEM SET \"shared_buffers\" = '4GB'", False),),
                restart_required=True,
                reload_required=True,
            ),
            Change(
                Address("storage", "messages", "letta"),
                "update",
                Parameters.of({"autovacuum_vacuum_scale_factor": None}),
                Parameters.of({"autovacuum_vacuum_scale_factor": "0.05"}),
                (
                    Statement(
                        'ALTER TABLE "letta"."messages" SET (autovacuum_vacuum_scale_factor = \'0.05\')',
                        True,
                        "SHARE UPDATE EXCLUSIVE",
                    ),
                ),
            ),
            Change(
                Address("index", "ix_messages_agent_created", "letta"),
                "create",
                None,
                "CREATE INDEX ix_messages_agent_created ON letta.messages USING btree (agent_id, created_at)",
                (cic,),
                hazards=(hazard("INDEX_BUILD"),),
            ),
            Change(
                Address("partition", "messages_p2025_01", "letta"),
                "delete",
                Bound("2025-01-01", "2025-02-01"),
                None,
                (Statement('DROP TABLE "letta"."messages_p2025_01"', True, "ACCESS EXCLUSIVE"),),
                hazards=(hazard("DELETES_DATA"),),
            ),
        ),
        (Notice("setting", "max_connections", "RESTART_PENDING", "max_connections = 200 is written ..."),),
        (
            Check(
                "POOL_CAPACITY", "ok", "server: applications 2 x (pool_size 25 + max_overflow 10) = 70 ≤ 97 available"
            ),
        ),
    )


def test_markdown_comment_matches_the_golden_file() -> None:
    rendered = render_markdown(_plan())
    golden = GOLDEN / "plan.md"
    if os.environ.get("PGTUNE_UPDATE_GOLDEN"):
        golden.write_text(rendered, encoding="utf-8")
    assert rendered == golden.read_text(encoding="utf-8")


def test_markdown_for_no_changes() -> None:
    plan = Plan("letta", ServerInfo("15.8", 150008))
    assert render_markdown(plan) == (
        "<!-- pgtune-plan profile=letta -->\n### pgtune plan: `letta` on PostgreSQL 15.8\n\n"
        "**No changes.** The server matches profile `letta`.\n"
    )


def test_a_huge_plan_stays_under_the_comment_limit() -> None:
    one = _plan().changes[2]
    many = tuple(
        Change(
            Address(one.kind, f"ix_{i}", "letta"), one.action, None, one.after, one.statements * 20, hazards=one.hazards
        )
        for i in range(3000)
    )
    plan = Plan("letta", ServerInfo("16.2", 160002), many)
    text = render_markdown(plan)
    assert len(text) <= 60_000
    assert text.startswith(MARKER_PREFIX)
    assert "_The SQL is too long for a comment: see `pgtune show plan.json` or the CI log._" in text
    assert "more changes: see the CI log_" in text
    assert "**Plan: 3000 to create, 0 to update, 0 to delete, 0 to replace.**" in text


def test_example_workflows_only_use_flags_pgtune_has() -> None:
    """The shipped GitHub Actions examples must not rot: every pgtune command and flag they use exists."""
    import re

    from ruamel.yaml import YAML

    from tests.conftest import REPO, run_cli

    used: dict[str, set[str]] = {}
    for path in sorted((REPO / "examples" / "github-actions").glob("*.yml")):
        doc = YAML(typ="safe").load(path.read_text())
        for job in doc["jobs"].values():
            for step in job["steps"]:
                if step.get("uses") == "./":  # pgtune's own action: its args are `pgtune plan` flags
                    args = str(step["with"].get("args", ""))
                    used.setdefault("plan", set()).update(re.findall(r"(--[a-z-]+)", args))
                for line in str(step.get("run", "")).replace("\\\n", " ").splitlines():  # continued lines joined
                    for m in re.finditer(r"\bpgtune (\w+)((?: [^|>;&]*)?)", line):
                        used.setdefault(m.group(1), set()).update(re.findall(r"(--[a-z-]+)", m.group(2)))
    assert {"validate", "plan", "show", "apply"} <= set(used)
    for command, flags in used.items():
        help_text = run_cli(command, "--help", env={"COLUMNS": "200"}).stdout
        for flag in flags:
            assert flag in help_text, f"pgtune {command} has no {flag}"


def test_the_documented_hazard_table_is_the_registry() -> None:
    """Every hazard code is documented with its gate, and nothing else is."""
    import re

    from pgtune.plan.hazards import HAZARDS
    from tests.conftest import REPO

    text = (REPO / "docs" / "plans.md").read_text()
    table = text[text.index("## Hazards") :]
    rows = dict(re.findall(r"^\| `([A-Z_]+)` \| (\*\*yes\*\*|no) \|", table, flags=re.M))
    assert rows == {code: "**yes**" if kind.gated else "no" for code, kind in HAZARDS.items()}


def test_renderers_import_neither_psycopg_nor_the_executor() -> None:
    """Rendering is pure: a plan or a report is printed without a database driver in the process."""
    import subprocess
    import sys

    code = (
        "import sys, pgtune.render, pgtune.render.health, pgtune.render.cluster; "
        "bad = [m for m in ('psycopg', 'pgtune.targets.executor') if m in sys.modules]; "
        "assert not bad, bad"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stderr
