"""RDS parameter-group formulas: parsed with RDS's grammar, refused where RDS refuses, evaluated
for an instance so a plan shows the number a formula will run as.

The grammar, as AWS documents it ("DB parameter formulas", RDS User Guide) and as its engine
defaults use it (`LEAST({DBInstanceClassMemory/9531392},5000)`,
`GREATEST({DBInstanceClassMemory*1024/63963136},65536)`, `SUM({DBInstanceClassMemory/12038},-50003)`):

    value    := function | braced | integer
    function := NAME "(" value ("," value)* ")"     NAME: GREATEST LEAST SUM IF (exact case)
    braced   := "{" product "}"
    product  := factor (("*" | "/") factor)*        left to right; "/" truncates (integers)
    factor   := VARIABLE | integer | "log(" product ")"

Variables are case-sensitive (`DBInstanceClassMemory`, not `dbinstanceclassmemory`); a variable
outside braces, an empty argument, `+`/`-` between terms, an unknown name: refused, as RDS refuses
them with InvalidParameterValue. `log` is the natural logarithm (RDS uses it in MySQL's defaults).
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass

VARIABLES = (
    "AllocatedStorage",  # bytes of the instance's storage
    "DBInstanceClassMemory",  # bytes of the class's memory less what RDS reserves
    "DBInstanceClassHugePagesDefault",
    "DBInstanceVCPU",
    "EndPointPort",
    "TrueIfReplica",  # 1 on a read replica, else 0
)
FUNCTIONS = ("GREATEST", "LEAST", "SUM", "IF")
MAX_LENGTH = 500
"""Longer than any formula RDS ships; a bound on what pgtune parses from a file or a server."""

Number = int | float


class FormulaError(ValueError):
    """A formula RDS would refuse: the message says where and why."""


@dataclass(frozen=True)
class Formula:
    """A parsed formula: its text as written (what the group stores) and how to evaluate it."""

    text: str
    _eval: Callable[[Mapping[str, Number]], Number]
    variables: frozenset[str]

    def evaluate(self, values: Mapping[str, Number]) -> Number:
        missing = sorted(self.variables - set(values))
        if missing:
            raise FormulaError(f"{self.text}: no value for {', '.join(missing)}")
        try:
            return self._eval(values)
        except ZeroDivisionError:
            raise FormulaError(f"{self.text}: division by zero") from None
        except ValueError as exc:  # log of a non-positive number
            raise FormulaError(f"{self.text}: {exc}") from None


def type_problem(name: str, vartype: str) -> str | None:
    """A formula gives a number: only integer and real parameters take one."""
    return None if vartype in ("integer", "real") else f"{name} is a {vartype} setting: a formula gives a number"


def looks_like_formula(text: str) -> bool:
    """What a group's value holds when it is a formula (engine defaults, or set by a console)."""
    stripped = text.strip()
    return stripped.startswith("{") or bool(re.match(r"^(GREATEST|LEAST|SUM|IF|log)\s*\(", stripped))


_TOKEN = re.compile(r"\s*(?:(?P<int>-?\d+)|(?P<name>[A-Za-z_][A-Za-z0-9_]*)|(?P<op>[{}(),*/]))")


def _tokens(text: str) -> list[tuple[str, str, int]]:
    out, pos = [], 0
    while pos < len(text):
        if text[pos:].strip() == "":
            break
        m = _TOKEN.match(text, pos)
        if m is None:
            raise FormulaError(
                f"unexpected {text[pos:].strip()[0]!r} at character {pos + 1} (RDS formulas use * and /)"
            )
        kind = m.lastgroup or "op"
        out.append((kind, m.group(kind), m.start(kind) + 1))
        pos = m.end()
    return out


_COMBINE: dict[str, Callable[[list[Number]], Number]] = {"GREATEST": max, "LEAST": min, "SUM": sum}


class _Parser:
    def __init__(self, text: str) -> None:
        self.text = text
        self.toks = _tokens(text)
        self.i = 0
        self.variables: set[str] = set()

    def peek(self) -> tuple[str, str, int]:
        return self.toks[self.i] if self.i < len(self.toks) else ("end", "", len(self.text) + 1)

    def take(self, value: str, what: str) -> None:
        kind, text, pos = self.peek()
        if text != value or kind != "op":
            found = "the end" if kind == "end" else repr(text)
            raise FormulaError(f"expected {value!r} {what} at character {pos}, found {found}")
        self.i += 1

    def number(self) -> Callable[[Mapping[str, Number]], Number]:
        n = int(self.peek()[1])
        self.i += 1
        return lambda _v: n

    def value(self) -> Callable[[Mapping[str, Number]], Number]:
        kind, text, pos = self.peek()
        if kind == "int":
            return self.number()
        if kind == "op" and text == "{":
            self.i += 1
            inner = self.product()
            self.take("}", "to close the braces")
            return inner
        if kind == "name":
            if text in FUNCTIONS:
                return self.function(text)
            upper = {f.upper(): f for f in FUNCTIONS}
            if text.upper() in upper:
                raise FormulaError(
                    f"{text} at character {pos}: functions are case-sensitive, write {upper[text.upper()]}"
                )
            if text in VARIABLES or text.lower() in {v.lower() for v in VARIABLES}:
                raise FormulaError(f"{text} at character {pos}: a variable must be in braces, {{{text}}}")
            raise FormulaError(f"unknown function {text!r} at character {pos} (RDS has {', '.join(FUNCTIONS)})")
        found = "the end" if kind == "end" else repr(text)
        raise FormulaError(f"expected a value at character {pos}, found {found}")

    def function(self, name: str) -> Callable[[Mapping[str, Number]], Number]:
        self.i += 1
        self.take("(", f"after {name}")
        if self.peek()[1] == ")":
            raise FormulaError(f"{name}() at character {self.peek()[2]}: a function takes at least one argument")
        args = [self.value()]
        while self.peek()[1] == ",":
            self.i += 1
            if self.peek()[1] in (",", ")"):
                raise FormulaError(f"{name}: empty argument at character {self.peek()[2]}")
            args.append(self.value())
        self.take(")", f"to close {name}(")
        if name == "IF":
            if len(args) != 3:
                raise FormulaError(f"IF takes three arguments (condition, then, else), not {len(args)}")
            cond, then, other = args
            return lambda v: then(v) if cond(v) else other(v)
        combine: Callable[[list[Number]], Number] = _COMBINE[name]
        return lambda v: combine([a(v) for a in args])

    def product(self) -> Callable[[Mapping[str, Number]], Number]:
        result = self.factor()
        while self.peek()[1] in ("*", "/") and self.peek()[0] == "op":
            op = self.peek()[1]
            self.i += 1
            left, right = result, self.factor()
            result = (lambda a, b: lambda v: a(v) * b(v))(left, right) if op == "*" else _divide(left, right)
        return result

    def factor(self) -> Callable[[Mapping[str, Number]], Number]:
        kind, text, pos = self.peek()
        if kind == "int":
            return self.number()
        if kind == "name" and text == "log":
            self.i += 1
            self.take("(", "after log")
            inner = self.product()
            self.take(")", "to close log(")
            return lambda v: math.log(inner(v))
        if kind == "name" and text in VARIABLES:
            self.i += 1
            self.variables.add(text)
            return lambda v: v[text]
        if kind == "name":
            close = [v for v in VARIABLES if v.lower() == text.lower()]
            hint = (
                f": variables are case-sensitive, write {close[0]}" if close else f" (RDS has {', '.join(VARIABLES)})"
            )
            raise FormulaError(f"unknown variable {text!r} at character {pos}{hint}")
        found = "the end" if kind == "end" else repr(text)
        raise FormulaError(f"expected a variable or a number at character {pos}, found {found}")


def _divide(
    a: Callable[[Mapping[str, Number]], Number], b: Callable[[Mapping[str, Number]], Number]
) -> Callable[[Mapping[str, Number]], Number]:
    def run(v: Mapping[str, Number]) -> Number:
        x, y = a(v), b(v)
        if isinstance(x, int) and isinstance(y, int):
            q = abs(x) // abs(y)  # raises ZeroDivisionError on 0
            return q if (x < 0) == (y < 0) else -q  # truncates toward zero, exactly
        return x / y

    return run


def parse(text: str) -> Formula:
    """A formula, or FormulaError saying where RDS would refuse it."""
    if len(text) > MAX_LENGTH:
        raise FormulaError(f"a formula of {len(text)} characters (at most {MAX_LENGTH})")
    if not text.strip():
        raise FormulaError("an empty formula")
    parser = _Parser(text)
    run = parser.value()
    kind, rest, pos = parser.peek()
    if kind != "end":
        raise FormulaError(f"unexpected {rest!r} at character {pos} after a complete value")
    if not parser.toks or (parser.toks[0][0] == "int" and len(parser.toks) == 1):
        raise FormulaError("a plain number is a value, not a formula: write it without formula:")
    return Formula(text.strip(), run, frozenset(parser.variables))


def same(a: str, b: str) -> bool:
    """Two formula texts the same but for spacing (what a group stores is what was sent)."""
    return re.sub(r"\s+", "", a) == re.sub(r"\s+", "", b)
