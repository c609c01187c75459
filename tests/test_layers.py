"""The package shows the pipeline (issue 42): folders by stage, each importing only those below it,
no import cycle between modules or between packages (runtime imports, those inside functions
included; `if TYPE_CHECKING:` blocks are not imports), few modules at the top, no file over 600
lines and no function over 100, nothing named like the standard library. Read from the source with
`ast`: no server, no import of pgtune."""

from __future__ import annotations

import ast
import functools
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "pgtune"
LAYERS = (
    ("base", ("pgtune", "pgtune.base")),
    ("integrations", ("pgtune.integrations",)),
    ("profile", ("pgtune.profile",)),
    ("plan", ("pgtune.plan", "pgtune.checks")),
    ("kinds", ("pgtune.kinds",)),
    ("targets", ("pgtune.targets", "pgtune.advice")),
    ("render", ("pgtune.render",)),
    ("cli", ("pgtune.cli", "pgtune.__main__")),
)
"""Stages, lowest first: a module imports its own package and packages of lower stages only."""
MAX_TOP_MODULES = 8
MAX_FILE_LINES = 600
MAX_FUNCTION_LINES = 100


def modules() -> dict[str, Path]:
    out = {}
    for path in PACKAGE.rglob("*.py"):
        parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
        name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
        out[name] = path
    return out


def _type_checking(node: ast.If) -> bool:
    test = node.test
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _imports(tree: ast.AST) -> Iterator[ast.Import | ast.ImportFrom]:
    stack: list[ast.AST] = [tree]
    while stack:
        node = stack.pop()
        if isinstance(node, ast.If) and _type_checking(node):
            stack.extend(node.orelse)
            continue
        if isinstance(node, ast.Import | ast.ImportFrom):
            yield node
        stack.extend(ast.iter_child_nodes(node))


def imports(name: str, path: Path, known: dict[str, Path]) -> set[str]:
    """The pgtune modules `name` imports at run time."""
    out = set()
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    for node in _imports(ast.parse(path.read_text(encoding="utf-8"))):
        targets: list[str] = []
        if isinstance(node, ast.Import):
            targets = [a.name for a in node.names]
        else:
            base = node.module or ""
            if node.level:
                parts = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*parts, *([node.module] if node.module else [])])
            targets = [base, *(f"{base}.{a.name}" for a in node.names)]
        for target in targets:
            while target and target not in known:
                target = target.rpartition(".")[0]
            if target and target.startswith("pgtune") and target != name:
                out.add(target)
    return out


@functools.cache
def graph() -> dict[str, set[str]]:
    """Every module's pgtune imports, read once for the tests that judge them (never mutated)."""
    known = modules()
    return {name: imports(name, path, known) for name, path in known.items()}


def layer(name: str) -> tuple[int, str]:
    best = (-1, "")
    for index, (_stage, packages) in enumerate(LAYERS):
        for package in packages:
            if (name == package or name.startswith(package + ".")) and len(package) > len(best[1]):
                best = (index, package)
    return best


def cycles(edges: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one node (Tarjan, iterative)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    on: set[str] = set()
    stack: list[str] = []
    found: list[list[str]] = []
    counter = 0
    for root in edges:
        if root in index:
            continue
        work = [(root, iter(sorted(edges.get(root, ()))))]
        index[root] = low[root] = counter
        counter += 1
        stack.append(root)
        on.add(root)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = counter
                    counter += 1
                    stack.append(child)
                    on.add(child)
                    work.append((child, iter(sorted(edges.get(child, ())))))
                elif child in on:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                component = []
                while True:
                    member = stack.pop()
                    on.discard(member)
                    component.append(member)
                    if member == node:
                        break
                if len(component) > 1:
                    found.append(sorted(component))
    return found


def test_no_import_cycle_between_modules() -> None:
    assert cycles(graph()) == []


def test_no_import_cycle_between_packages() -> None:
    packages: dict[str, set[str]] = {}
    for name, deps in graph().items():
        mine = layer(name)[1]
        packages.setdefault(mine, set()).update(layer(d)[1] for d in deps if layer(d)[1] != mine)
    assert cycles(packages) == []


def test_layers_point_down() -> None:
    upward = []
    for name, deps in sorted(graph().items()):
        mine, own = layer(name)
        for dep in sorted(deps):
            theirs, package = layer(dep)
            entry = name == "pgtune.__main__" and dep == "pgtune.cli"  # `python -m pgtune` runs the CLI
            if not entry and (theirs > mine or (theirs == mine and package != own and own != "pgtune")):
                upward.append(f"{name} -> {dep}")
    assert upward == []


def test_few_modules_at_the_top_and_none_named_like_the_standard_library() -> None:
    top = sorted(p.name for p in PACKAGE.glob("*.py"))
    assert len(top) <= MAX_TOP_MODULES, top
    stdlib = set(sys.stdlib_module_names)
    clashes = [str(p.relative_to(PACKAGE)) for p in PACKAGE.rglob("*.py") if p.stem in stdlib and p.stem != "__main__"]
    assert clashes == []


@pytest.mark.parametrize("path", sorted(PACKAGE.rglob("*.py")), ids=lambda p: str(p.relative_to(PACKAGE)))
def test_files_and_functions_stay_small(path: Path) -> None:
    text = path.read_text(encoding="utf-8")
    assert text.count("\n") <= MAX_FILE_LINES, f"{path}: {text.count(chr(10))} lines"
    long = [
        f"{node.name} ({node.end_lineno - node.lineno + 1} lines)"  # type: ignore[operator]
        for node in ast.walk(ast.parse(text))
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef)
        and node.end_lineno - node.lineno + 1 > MAX_FUNCTION_LINES  # type: ignore[operator]
    ]
    assert long == [], f"{path}: {long}"


def test_the_cli_imports_nothing_target_specific() -> None:
    specific = ("pgtune.targets.rds", "pgtune.targets.patroni", "pgtune.targets.replicas", "pgtune.integrations.rds")
    found = sorted(
        f"{name} -> {dep}"
        for name, deps in graph().items()
        if name.startswith("pgtune.cli")
        for dep in deps
        if dep.startswith(specific) or dep == "pgtune.integrations.patroni"
    )
    assert found == []
