"""Adding a kind is one module plus its registration: a kind written here, in the test, and listed
in `engine.KINDS`, is planned, rendered (text, Markdown, JSON), saved and verified, applied through
the one apply workflow, re-planned empty, exported by `inspect` and adopted by `inspect --into` —
with no change to the renderers, saved plans, workflow, executor or CLI (docs/architecture.md)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psycopg
import pytest
from psycopg import sql

from pgtune.advice.adopt import pull_live_values
from pgtune.advice.live_profile import inspect
from pgtune.kinds import Adoption, DiffEnv, ExportOptions, KindResult, PlanContext, engine
from pgtune.kinds.tables import Table
from pgtune.plan import record as planfile
from pgtune.plan.model import Address, Change, Plan, Statement
from pgtune.profile.loader import LoadedProfile, load_profile
from pgtune.render.jsonplan import render_json
from pgtune.render.markdown import render_markdown
from pgtune.render.text import render_sql, render_text
from pgtune.targets import Where, choose, sequence, workflow
from pgtune.targets.executor import ExecOptions
from tests.conftest import Server


@dataclass(frozen=True)
class Commented:
    table: Table
    comment: str | None


class CommentKind:
    """A toy kind: every declared table carries the profile's description as its COMMENT."""

    name = "comment"
    runs_on = "primary"  # a COMMENT lives in the replicated catalog

    def desired(self, ctx: PlanContext) -> dict[str, str] | None:
        text = ctx.loaded.profile.description
        return {key: text for key in ctx.tables} if text else None

    def read(self, ctx: PlanContext, wants: dict[str, str]) -> list[Commented]:
        tables = [ctx.tables[key] for key in wants]
        rows = dict(
            ctx.conn.execute(
                "SELECT t, obj_description(t, 'pg_class') FROM unnest(%s::oid[]) t", ([t.oid for t in tables],)
            ).fetchall()
        )
        return [Commented(t, rows.get(t.oid)) for t in tables]

    def diff(self, wants: dict[str, str], live: list[Commented], env: DiffEnv) -> KindResult:
        result = KindResult()
        for found in live:
            wanted = wants[found.table.key]
            if found.comment != wanted:
                statement = sql.SQL("COMMENT ON TABLE {} IS {}").format(
                    sql.Identifier(found.table.schema, found.table.name), sql.Literal(wanted)
                )
                result.changes.append(
                    Change(
                        Address(self.name, found.table.name, found.table.schema),
                        "update",
                        found.comment,
                        wanted,
                        (Statement(env.render(statement), True, "SHARE UPDATE EXCLUSIVE"),),
                    )
                )
        return result

    def export(self, ctx: PlanContext, options: ExportOptions) -> dict[str, Any]:
        return {}

    def adopt(self, change: Change, loaded: LoadedProfile) -> Adoption:
        return {("description",): change.before}, None


@pytest.fixture
def with_comment_kind(monkeypatch: pytest.MonkeyPatch, pg16: Server) -> Iterator[Server]:
    monkeypatch.setattr(engine, "KINDS", (*engine.KINDS, CommentKind()))
    pg16.reset()
    pg16.sql("CREATE TABLE public.notes (id int)")
    yield pg16
    pg16.reset()


def test_a_kind_is_one_module_and_its_registration(with_comment_kind: Server, tmp_path: Path) -> None:
    pg = with_comment_kind
    path = tmp_path / "p.yaml"
    path.write_text("name: p\ndescription: agent notes\ntables:\n  public.notes: {}\n", encoding="utf-8")
    loaded = load_profile(path)
    inputs = workflow.Inputs(loaded)
    with psycopg.connect(pg.dsn, autocommit=True) as conn:
        plan: Plan = workflow.derive(conn, inputs, pg.dsn)
    [change] = plan.changes
    assert (change.kind, change.object, change.before, change.after) == ("comment", "public.notes", None, "agent notes")
    assert "  ~ comment public.notes: (not set) -> agent notes" in render_text(plan)
    assert 'COMMENT ON TABLE "public"."notes" IS \'agent notes\';' in render_sql(plan)
    assert "| `~` | comment | `public.notes` |" in render_markdown(plan)
    doc = json.loads(render_json(plan))
    assert doc["changes"][0]["address"] == {
        "kind": "comment",
        "scope": None,
        "target": None,
        "schema": "public",
        "name": "notes",
    }

    saved_path = tmp_path / "plan.json"
    planfile.save(plan, loaded, None, saved_path)
    saved = planfile.load(saved_path)
    done = sequence.apply(choose(Where((pg.dsn,))), inputs, ExecOptions(), saved=saved)  # the one apply entrance
    assert done.reports and not done.failed
    assert pg.one("SELECT obj_description('public.notes'::regclass, 'pg_class')") == "agent notes"
    assert done.after is not None and done.after.empty

    pg.sql("COMMENT ON TABLE public.notes IS 'edited by hand'")
    with psycopg.connect(pg.dsn, autocommit=True) as conn:
        report, changed = pull_live_values(conn, loaded, path)
    assert changed == 1, report
    assert "description: edited by hand" in path.read_text(encoding="utf-8")
    with psycopg.connect(pg.dsn, autocommit=True) as conn:
        assert "name" in inspect(conn, name="p").document
