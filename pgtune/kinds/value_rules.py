"""The rules a declared setting value obeys wherever it is checked — a live server, a parameter
group, or offline with no server (`pgtune validate`): one function, so the two never drift apart.
Kept outside the settings package, which loads the database driver; validation needs none."""

from __future__ import annotations

from pgtune.base.guc import Canonical, GucSpec, InvalidValue, newline_problem
from pgtune.integrations.rds.formula import type_problem
from pgtune.profile.model import FormulaValue

FORMULA_ELSEWHERE = (
    "a formula is computed by an RDS parameter group: plan it with --rds-parameter-group NAME "
    "(a server's ALTER SYSTEM takes a value)"
)


def checked_value(
    spec: GucSpec, raw: str | list[str] | FormulaValue | None, *, system: bool, formulas: bool
) -> Canonical | None:
    """The canonical form of a declared value, or InvalidValue saying what is wrong. None: no value
    here (null removes an override; a formula is computed by the parameter group)."""
    if raw is None:
        return None
    if isinstance(raw, FormulaValue):
        problem = type_problem(spec.name, spec.vartype) if formulas else FORMULA_ELSEWHERE
        if problem:
            raise InvalidValue(problem)
        return None
    problem = newline_problem(spec.name, raw) if system else None
    if problem:
        raise InvalidValue(problem)
    if spec.is_list and (raw == [] or (isinstance(raw, str) and not raw.strip())):
        raise InvalidValue(
            f"{spec.name}: an empty list would be written as '\"\"' and can stop the server from starting; "
            "use null to remove the override"
        )
    return spec.canonical(raw)
