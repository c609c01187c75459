"""Profiles as documents for people and editors: the resolved YAML (`pgtune render`) and the JSON
Schema (`pgtune schema`)."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from pgtune import __version__
from pgtune.integrations.postgres import redact
from pgtune.profile.edit import dump_document
from pgtune.profile.loader import load_profile, resolve_document
from pgtune.profile.model import Profile

SCHEMA_ID = "https://github.com/pgtune/pgtune/schema/profile-v1.json"
DSN_KEYS = frozenset({"admin_dsn"})
"""Keys whose values are connection strings: rendered with the password masked."""


def _mask(data: Any, key: str | None = None) -> Any:
    if isinstance(data, dict):
        return {k: _mask(v, k) for k, v in data.items()}
    if isinstance(data, list):
        return [_mask(v) for v in data]
    if key in DSN_KEYS and isinstance(data, str):
        return redact(data)
    return data


def render_profile(path: Path, overrides: Sequence[str] = ()) -> str:
    """The merged document after validation, without `extends`, as YAML."""
    load_profile(path, overrides)  # the same errors as plan, with positions
    data, _ = resolve_document(path, overrides)
    data = _mask({k: v for k, v in data.items() if k != "extends"})
    return dump_document(data, f"# resolved from {path} by pgtune {__version__}\n")


def profile_json_schema() -> str:
    schema = Profile.model_json_schema(mode="validation", by_alias=True)
    schema = {"$schema": "https://json-schema.org/draft/2020-12/schema", "$id": SCHEMA_ID, **schema}
    return json.dumps(schema, indent=2) + "\n"
