"""Renderers: a Plan (and an apply report) as text, Markdown or JSON. Pure functions of data.

The names below load on first use (PEP 562), so `pgtune.base.escape` — which `--help` and error
messages need — comes without the renderers and the plan model."""

from __future__ import annotations

import importlib
from typing import Any

_WHERE = {
    "plan_to_dict": "jsonplan",
    "render_json": "jsonplan",
    "render_markdown": "markdown",
    "render_apply_report": "text",
    "render_sql": "text",
    "render_text": "text",
}

__all__ = ["FORMATS", *_WHERE]


def __getattr__(name: str) -> Any:
    if name == "FORMATS":
        formats = {
            "text": __getattr__("render_text"),
            "markdown": __getattr__("render_markdown"),
            "json": __getattr__("render_json"),
        }
        globals()["FORMATS"] = formats
        return formats
    if name in _WHERE:
        value = getattr(importlib.import_module(f"pgtune.render.{_WHERE[name]}"), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'pgtune.render' has no attribute {name!r}")
