"""What every apply is made of, for every target: the inputs a plan is derived from, deriving it
on one connection, a saved plan's bindings, the hazard gate, PgBouncer's console when a plan needs
it, and how applied changes stand afterwards. The sequence itself — lock, derive, verify, gate,
confirm, execute, restart, re-read — is `pgtune.targets.sequence.apply`, over any target (one
server included)."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass

import psycopg

from pgtune.base.errors import ApplyRefused, PgtuneError
from pgtune.integrations.pgbouncer.console import Console
from pgtune.integrations.pgbouncer.console import resolve_dsn as resolve_bouncer_dsn
from pgtune.integrations.postgres import scrub
from pgtune.kinds.engine import CATALOG_LOCK_TIMEOUT, build_plan
from pgtune.plan import record as planfile
from pgtune.plan.hazards import HAZARDS, gated_codes
from pgtune.plan.model import Plan
from pgtune.profile.loader import LoadedProfile


@dataclass(frozen=True)
class Inputs:
    """What a plan is derived from besides the catalog: all of it from the caller, none from a file."""

    loaded: LoadedProfile
    as_of: str | None = None
    exclude: tuple[str, ...] = ()
    server_settings: bool = True  # False: ALTER SYSTEM is not the way (Patroni): see engine.build_plan
    privileges_of: str | None = None  # judge apply privileges for this role (plan --privileges-of)
    standby: bool = False  # a cluster's standby: only what each node holds (engine.build_plan)


def derive(conn: psycopg.Connection, inputs: Inputs, dsn: str = "") -> Plan:
    """The plan the server needs now; catalog trouble becomes a PgtuneError (DSN scrubbed)."""
    try:
        return build_plan(
            conn,
            inputs.loaded,
            inputs.as_of,
            inputs.exclude,
            server_settings=inputs.server_settings,
            privileges_of=inputs.privileges_of,
            standby=inputs.standby,
        )
    except psycopg.errors.LockNotAvailable:
        raise PgtuneError(
            f"a table the profile declares is locked by another session: planning gave up after lock_timeout "
            f"{CATALOG_LOCK_TIMEOUT} rather than queue in front of other sessions; try again later"
        ) from None
    except psycopg.Error as exc:
        message = scrub(str(exc).strip(), dsn)
        if conn.broken:
            raise PgtuneError(f"the connection to the server was lost while planning: {message}") from None
        raise PgtuneError(f"reading the catalog failed: {message}") from None


def check_saved_inputs(saved: planfile.SavedPlan, inputs: Inputs) -> None:
    """A saved plan binds its profile, --as-of and --exclude; the caller must give the same ones."""
    if planfile.profile_digest(inputs.loaded) != saved.profile_digest:
        raise planfile.PlanFileError(
            f"Saved plan was made from a different profile than {inputs.loaded.path} (its resolved content differs; "
            f"{saved.path} names {saved.profile_path!r}); run `pgtune plan --out` again and review the new plan. "
            "Nothing was executed."
        )
    if inputs.as_of != saved.as_of:
        flag = f"--as-of {saved.as_of}" if saved.as_of else "no --as-of"
        raise ApplyRefused(
            f"Saved plan {saved.path} was made with {flag}; apply it with the same (now: "
            f"{'--as-of ' + inputs.as_of if inputs.as_of else 'none'}). Nothing was executed."
        )
    if tuple(inputs.exclude) != saved.exclude:
        wanted = " ".join(f"--exclude {p!r}" for p in saved.exclude) or "no --exclude"
        raise ApplyRefused(
            f"Saved plan {saved.path} was made with {wanted}; apply it with the same. Nothing was executed."
        )


def parse_allowed(text: str | Sequence[str]) -> set[str]:
    """--allow-hazards CODE,CODE (or a list): known codes only."""
    items = text.split(",") if isinstance(text, str) else list(text)
    allowed = {c.strip().upper() for c in items if c.strip()}
    unknown = sorted(allowed - set(HAZARDS))
    if unknown:
        raise ApplyRefused(f"--allow-hazards: unknown hazard code {unknown[0]!r}; known: {', '.join(sorted(HAZARDS))}")
    return allowed


def gate(plan: Plan, allowed: set[str]) -> None:
    """Refuse a plan that carries gated hazards the caller did not allow (nothing executed)."""
    needed = gated_codes(plan)
    missing = [code for code in needed if code not in allowed]
    if missing:
        raise ApplyRefused(
            f"refusing to apply: the plan carries gated hazards {', '.join(missing)}; "
            f"review them and re-run with --allow-hazards {','.join(needed)} (nothing was executed)"
        )


@contextmanager
def bouncer_for(plan: Plan, loaded: LoadedProfile) -> Iterator[Console | None]:
    """PgBouncer's admin console, opened only when the plan sends it commands."""
    pool = loaded.profile.pool
    needed = any(s.target == "pgbouncer" for c in plan.changes for s in c.statements) or any(
        s.target == "pgbouncer" for s in plan.epilogue
    )
    dsn = resolve_bouncer_dsn(pool.pgbouncer.admin_dsn) if pool and pool.pgbouncer else None
    if not needed or dsn is None:
        yield None
        return
    with Console(dsn) as console:
        yield console
