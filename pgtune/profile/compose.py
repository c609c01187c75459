"""Composition beyond `extends`: environment interpolation and command-line overrides.

Interpolation follows Docker Compose's grammar, in values only (never keys), per file before
merging: `${VAR}`, `${VAR:-default}` (unset or empty), `${VAR-default}` (unset only),
`${VAR:?message}` (required), `$$` for a literal `$`. Unlike Compose, an unset variable without
a default is an error at the value's position, not an empty string: a profile that silently
lost a value would be applied to production.

`--set path=value` overrides the merged profile, after every file (Helm's `--set` precedence).
The path is dotted; a mapping key that itself contains dots (`tables.letta.messages...`) is
matched against the keys present, longest first. The value is read as YAML text, so
`--set settings.shared_preload_libraries=[pg_stat_statements]` and `=null` work.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from pgtune.base.errors import Deferred, Location, ProfileError
from pgtune.profile.source import PathKey, PositionIndex, parse_value, value_location

_TOKEN = re.compile(r"\$\$|\$\{([^}]*)\}|\$")
_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
ALLOW_ENV = "PGTUNE_ENV_ALLOW"
"""When set (the GitHub Action always sets it), only the variables it names (comma- or space-separated)
can be interpolated: a profile edited in a pull request must not print the job's other variables."""


def visible(env: Mapping[str, str]) -> tuple[Mapping[str, str], frozenset[str] | None]:
    """The variables a profile may read, and the allow-list that narrowed them (None: no list)."""
    if ALLOW_ENV not in env:
        return env, None
    allowed = frozenset(n for n in re.split(r"[\s,]+", env[ALLOW_ENV]) if n)
    return {k: v for k, v in env.items() if k in allowed}, allowed


def _expand(text: str, env: Mapping[str, str], where: Location | Deferred | None) -> str:
    env, allowed = visible(env)

    def replace(m: re.Match[str]) -> str:
        token = m.group(0)
        if token == "$$":
            return "$"
        if token == "$":
            return "$"  # a lone dollar (e.g. in a password) is kept
        body = m.group(1)
        for op in (":-", ":?", "-", "?"):
            name, sep, arg = body.partition(op)
            if sep and _NAME.match(name):
                break
        else:
            name, op, arg = body, "", ""
        if not _NAME.match(name):
            raise ProfileError(where, f"invalid interpolation ${{{body}}}: expected ${{NAME}} or ${{NAME:-default}}")
        value = env.get(name)
        if op == ":-":
            return value if value else arg
        if op == "-":
            return value if value is not None else arg
        if op in (":?", "?") and (value is None or (op == ":?" and not value)):
            if allowed is not None and name not in allowed:
                raise ProfileError(where, f"environment variable {name} is not in ${ALLOW_ENV}: it cannot be read here")
            raise ProfileError(where, f"${{{name}}} is required: {arg or 'not set'}")
        if value is None and allowed is not None and name not in allowed:
            raise ProfileError(where, f"environment variable {name} is not in ${ALLOW_ENV}: it cannot be read here")
        if value is None:
            raise ProfileError(
                where, f"environment variable {name} is not set (write ${{{name}:-default}} for a default)"
            )
        return value

    return _TOKEN.sub(replace, text)


def interpolate(data: Any, index: PositionIndex, env: Mapping[str, str], path: PathKey = ()) -> Any:
    """`data` with ${...} expanded in every string value."""
    if isinstance(data, dict):
        return {k: interpolate(v, index, env, (*path, k)) for k, v in data.items()}
    if isinstance(data, list):
        return [interpolate(v, index, env, (*path, i)) for i, v in enumerate(data)]
    if isinstance(data, str) and "$" in data:
        return _expand(data, env, Deferred(lambda: value_location(index, path)))
    return data


def _split(data: Any, dotted: str) -> list[str]:
    """Dotted path parts, matching keys that contain dots against what `data` holds."""
    parts = dotted.split(".")
    out: list[str] = []
    current = data
    i = 0
    while i < len(parts):
        step = parts[i]
        if isinstance(current, dict):
            for j in range(len(parts), i, -1):
                candidate = ".".join(parts[i:j])
                if candidate in current:
                    step, i = candidate, j - 1
                    break
        out.append(step)
        current = current.get(step) if isinstance(current, dict) else None
        i += 1
    return out


def apply_overrides(data: dict[str, Any], index: PositionIndex, overrides: list[str]) -> dict[str, Any]:
    """Apply `--set path=value` overrides in order; each value is located at the flag itself."""
    for n, expr in enumerate(overrides, start=1):
        where = Location(f"--set[{n}]", 1, 1)
        path_text, sep, raw = expr.partition("=")
        path_text = path_text.strip()
        if not sep or not path_text or any(not p for p in path_text.split(".")):
            raise ProfileError(where, f"--set {expr!r}: expected PATH=VALUE, e.g. settings.work_mem=64MB")
        parts = _split(data, path_text)
        value = parse_value(raw, where)
        current: Any = data
        for depth, part in enumerate(parts[:-1]):
            nxt = current.get(part)
            if nxt is None:
                nxt = current[part] = {}
                index.entries[tuple(parts[: depth + 1])] = where
            elif not isinstance(nxt, dict):
                at = ".".join(parts[: depth + 1])
                raise ProfileError(where, f"--set {expr!r}: {at} is a value, not a mapping")
            current = nxt
        current[parts[-1]] = value
        key: PathKey = tuple(parts)
        for p in [p for p in index.entries if p[: len(key)] == key]:
            del index.entries[p]
        index.entries[key] = where
        index.entries[(*key, "__value__")] = Location(f"--set[{n}]", 1, len(path_text) + 2)
    return data
