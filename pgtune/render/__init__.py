"""Renderers: a Plan (and an apply report) as text, Markdown or JSON. Pure functions of data."""

from pgtune.render.jsonplan import plan_to_dict, render_json
from pgtune.render.markdown import render_markdown
from pgtune.render.text import render_apply_report, render_sql, render_text

FORMATS = {"text": render_text, "markdown": render_markdown, "json": render_json}

__all__ = [
    "FORMATS",
    "plan_to_dict",
    "render_apply_report",
    "render_json",
    "render_markdown",
    "render_sql",
    "render_text",
]
