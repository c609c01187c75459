"""Names from the catalog cannot forge a plan (issue 25): a table and an index whose names hold a
newline, a backtick, `|` and `<!--` print one line per change in text, one table row per change in
Markdown (read back with a CommonMark + GFM-table parser), escaped in the dry-run SQL — and JSON
carries the exact names."""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from markdown_it import MarkdownIt
from psycopg import sql

from tests.conftest import CliResult, Server

TABLE = "t\n  + setting fsync: on -> off"
INDEX = "ix`|<!-- y\n| `+` | forged |"
CHANGE_LINE = re.compile(r"^\s{2}\s*(\+|~|-|-/\+) (setting|storage|index|partition|pool) ")


@pytest.fixture
def hostile(pg: Server) -> Iterator[Server]:
    pg.sql(sql.SQL("CREATE TABLE public.{} (id int, kind text)").format(sql.Identifier(TABLE)).as_string(None))
    yield pg
    pg.sql(sql.SQL("DROP TABLE IF EXISTS public.{}").format(sql.Identifier(TABLE)).as_string(None))


def _profile(write_profile: Callable[..., Path]) -> Path:
    key = 'public."' + TABLE.replace('"', '""') + '"'
    table = {"storage": {"fillfactor": 80}, "indexes": {INDEX: {"columns": ["kind"]}}}
    doc = {"name": "hostile", "tables": {key: table}}
    return write_profile(json.dumps(doc))  # JSON is YAML: the names exactly, no YAML quoting to get wrong


def test_hostile_names_print_one_line_per_change(
    hostile: Server, cli: Callable[..., CliResult], write_profile: Callable[..., Path]
) -> None:
    profile = _profile(write_profile)
    doc = cli("plan", str(profile), "--dsn", hostile.dsn, "--format", "json")
    assert doc.code == 0, doc.stderr
    changes = json.loads(doc.stdout)["changes"]
    assert len(changes) == 2
    objects = {c["kind"]: c["object"] for c in changes}
    assert TABLE in objects["storage"] and INDEX in objects["index"]  # exact, unescaped
    assert any(TABLE in s["sql"] for c in changes for s in c["statements"])

    text = cli("plan", str(profile), "--dsn", hostile.dsn, "--no-color")
    assert text.code == 0, text.stderr
    assert len([line for line in text.stdout.splitlines() if CHANGE_LINE.match(line)]) == 2, text.stdout
    assert "\\x0a" in text.stdout
    assert not [line for line in text.stdout.splitlines() if line.lstrip().startswith(("+ setting", "| `+`"))]

    dry = cli("apply", str(profile), "--dsn", hostile.dsn, "--dry-run")
    assert dry.code == 0, dry.stderr
    assert len([line for line in dry.stdout.splitlines() if line.startswith("-- ")]) == 3, dry.stdout  # head + 2
    assert "\n| `+` | forged |" not in dry.stdout

    md = cli("plan", str(profile), "--dsn", hostile.dsn, "--format", "markdown")
    assert md.code == 0, md.stderr
    tokens = MarkdownIt("commonmark").enable("table").parse(md.stdout)
    body_rows = 0
    inside_body = False
    for t in tokens:
        if t.type == "tbody_open":
            inside_body = True
        elif t.type == "tbody_close":
            inside_body = False
        elif t.type == "tr_open" and inside_body:
            body_rows += 1
    assert body_rows == 2, md.stdout
    html = [t.content for t in tokens if t.type == "html_block"]
    assert [h.split()[0] for h in html] == ["<!--", "<details><summary>SQL</summary>", "</details>"], html
    inline = [c for t in tokens if t.type == "inline" for c in t.children or []]
    ours = {"<br>"}  # the line breaks pgtune puts in a notes cell
    assert not [c for c in inline if c.type in ("html_inline", "link_open", "image") and c.content not in ours]
    codes = [c.content for c in inline if c.type == "code_inline"]
    assert any("ix`|<!-- y\\x0a| `+` | forged |" in c for c in codes), codes
