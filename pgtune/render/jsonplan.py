"""The JSON plan: the contract of pgtune.plan.codec, printed."""

from __future__ import annotations

import json

from pgtune.plan.codec import FORMAT_VERSION, change_to_dict, plan_to_dict
from pgtune.plan.model import Plan

__all__ = ["FORMAT_VERSION", "change_to_dict", "plan_to_dict", "render_json"]


def render_json(plan: Plan) -> str:
    return json.dumps(plan_to_dict(plan), indent=2, sort_keys=False) + "\n"
