"""The docs cannot drift: every profile snippet in README.md and docs/ loads as a profile (schema
and values checked offline, like `pgtune validate`), and every link to a doc file resolves."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from ruamel.yaml import YAML

from pgtune.kinds.offline import description, validate
from pgtune.profile.loader import load_profile
from pgtune.profile.model import Profile
from tests.conftest import REPO

DOCS = [REPO / "README.md", *sorted((REPO / "docs").glob("*.md"))]
BLOCK = re.compile(r"^```yaml\n(.*?)^```", re.M | re.S)
PROFILE_KEYS = set(Profile.model_fields)


def _snippets() -> list[tuple[str, str]]:
    """Every ```yaml block that is a profile (its top-level keys are profile keys); others — a bare
    comment line, a workflow — are not collected at all."""
    out = []
    for path in DOCS:
        text = path.read_text(encoding="utf-8")
        for match in BLOCK.finditer(text):
            data = YAML(typ="safe").load(match.group(1))
            if isinstance(data, dict) and set(data) <= PROFILE_KEYS:
                line = text[: match.start()].count("\n") + 2
                out.append((f"{path.relative_to(REPO)}:{line}", match.group(1)))
    return out


SNIPPETS = _snippets()


def test_the_docs_have_profile_snippets() -> None:
    assert len(SNIPPETS) >= 9  # every profile-shaped ```yaml block of README.md and docs/


@pytest.mark.parametrize(("where", "text"), SNIPPETS, ids=[w for w, _ in SNIPPETS])
def test_every_profile_snippet_loads(where: str, text: str, tmp_path: Path) -> None:
    data = YAML(typ="safe").load(text)
    if "extends" in data:
        text = re.sub(r"^extends:.*$", "", text, flags=re.M)  # the bases live elsewhere; the snippet's own keys load
    if "name" not in data:
        text = "name: doc\n" + text
    path = tmp_path / "snippet.yaml"
    path.write_text(text, encoding="utf-8")
    env = {name: "x" for name in re.findall(r"\$\{([A-Za-z_][A-Za-z0-9_]*)", text)}
    loaded = load_profile(path, env=env)
    problems = validate(loaded, description())
    assert not problems, f"{where}: " + "; ".join(str(p) for p in problems)


def test_links_to_docs_resolve() -> None:
    for path in DOCS:
        for target in re.findall(r"\]\(((?:docs/|\.\./)?[\w./-]+\.md)(?:#[\w-]+)?\)", path.read_text()):
            assert (path.parent / target).resolve().exists(), f"{path.name}: broken link {target}"


def test_the_architecture_names_every_module() -> None:
    """docs/architecture.md stays true to the layout: every module and package of pgtune/ is in it."""
    text = (REPO / "docs" / "architecture.md").read_text(encoding="utf-8")
    package = REPO / "pgtune"
    names = [
        p.relative_to(REPO).as_posix() for p in package.glob("*.py") if p.name not in ("__init__.py", "__main__.py")
    ]
    names += [
        p.relative_to(REPO).as_posix() + "/" for p in package.iterdir() if p.is_dir() and (p / "__init__.py").exists()
    ]
    missing = [n for n in names if f"`{n}`" not in text and f"`{n.removesuffix('.py')}" not in text]
    assert missing == [], f"docs/architecture.md does not name {missing}"
