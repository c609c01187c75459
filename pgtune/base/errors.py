"""Domain errors. Library code raises these; the CLI catches `PgtuneError` once and renders it."""

from __future__ import annotations

from collections.abc import Callable
from typing import NamedTuple


class Location(NamedTuple):
    """Where a value came from in a profile file (1-based line and column).

    A named tuple, not a dataclass: a large profile records hundreds of thousands of them and a
    tuple is the cheapest immutable record to create."""

    path: str
    line: int
    col: int

    def __str__(self) -> str:
        return f"{self.path}:{self.line}:{self.col}"


class Deferred:
    """A location looked up only if an error is reported there.

    Objects a plan builds for every declared table, index and setting keep one of these instead
    of a `Location`: positions come from a second pass over the profile (`source.PositionIndex`),
    made only when some error needs them — a clean plan of a 10,000-table profile never does."""

    __slots__ = ("_find",)

    def __init__(self, find: Callable[[], Location | None]) -> None:
        self._find = find

    def resolve(self) -> Location | None:
        return self._find()


class PgtuneError(Exception):
    """Base of every error pgtune reports to a user."""

    exit_code = 1

    def lines(self) -> list[str]:
        return [str(self)]


class ProfileError(PgtuneError):
    """One problem in a profile, reported as `path:line:col: message`."""

    def __init__(self, location: Location | Deferred | None, message: str) -> None:
        super().__init__(message)
        self.location = location.resolve() if isinstance(location, Deferred) else location
        self.message = message

    def __str__(self) -> str:
        return f"{self.location}: {self.message}" if self.location else self.message


class ProfileErrors(PgtuneError):
    """Several profile problems found in one pass, so the user fixes them all at once."""

    def __init__(self, errors: list[ProfileError]) -> None:
        super().__init__("\n".join(str(e) for e in errors))
        self.errors = errors

    def lines(self) -> list[str]:
        return [str(e) for e in self.errors]


def raise_if_any(errors: list[ProfileError]) -> None:
    if len(errors) == 1:
        raise errors[0]
    if errors:
        raise ProfileErrors(errors)


class ConnectionFailed(PgtuneError):
    """The database could not be reached. The message never carries a password."""


class CatalogChanged(PgtuneError):
    """Another session changed the catalog while pgtune read it; planning again sees a settled state."""


class ApplyRefused(PgtuneError):
    """apply would not start (no confirmation, gated hazard, ...). Nothing was executed."""


class ApplyFailed(PgtuneError):
    """A statement failed during apply; the report says what was and was not done."""


class SandboxError(PgtuneError):
    """The embedded throwaway PostgreSQL could not be started."""


class BouncerError(PgtuneError):
    """The PgBouncer admin console refused a command or could not be read. No password in it."""
