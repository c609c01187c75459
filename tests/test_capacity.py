"""Capacity arithmetic on several topologies, with the exact numbers a DBA would compute."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from pgtune.kinds.capacity import AppPools, BouncerPools, ServerLimits, check

PG15_DEFAULTS = ServerLimits(100, 3, None)
PG16_DEFAULTS = ServerLimits(100, 3, 0)


def test_available_connections_per_version() -> None:
    assert PG15_DEFAULTS.available == 97
    assert ServerLimits(100, 3, 5).available == 92
    assert PG15_DEFAULTS.explain() == "97 available (max_connections 100 - superuser_reserved_connections 3)"
    assert ServerLimits(100, 3, 5).explain() == (
        "92 available (max_connections 100 - superuser_reserved_connections 3 - reserved_connections 5)"
    )


def test_two_letta_processes_fit_three_do_not() -> None:
    """The reference case: Letta's 25 + 10 per process against PostgreSQL's defaults."""
    two = check(PG16_DEFAULTS, AppPools(2, 25, 10, False), None, 0)
    assert two.fits and two.numbers["server_demand"] == 70
    assert two.lines == [
        "server: applications 2 x (pool_size 25 + max_overflow 10) = 70 ≤ 97 available "
        "(max_connections 100 - superuser_reserved_connections 3 - reserved_connections 0)"
    ]
    three = check(PG16_DEFAULTS, AppPools(3, 25, 10, False), None, 0)
    assert not three.fits and three.numbers["server_demand"] == 105
    assert three.violations[0].startswith("server: applications 3 x (pool_size 25 + max_overflow 10) = 105 > 97")


def test_other_connections_count_against_the_server() -> None:
    verdict = check(PG15_DEFAULTS, AppPools(2, 25, 10, False), None, 27)
    assert verdict.fits and verdict.numbers["server_demand"] == 97  # exactly full still fits
    verdict = check(PG15_DEFAULTS, AppPools(2, 25, 10, False), None, 28)
    assert verdict.numbers["server_demand"] == 98 and not verdict.fits


def test_reserved_connections_on_16_shrink_the_room() -> None:
    apps = AppPools(2, 25, 10, False)
    assert check(ServerLimits(100, 3, 0), apps, None, 20).fits  # 90 ≤ 97
    tight = check(ServerLimits(100, 3, 10), apps, None, 20)  # 90 > 87
    assert not tight.fits and "87 available" in tight.violations[0]


def test_through_pgbouncer_counts_pools_not_applications() -> None:
    """The issue's example: 4 Letta processes through PgBouncer (25 + reserve 5, cap 80)."""
    apps = AppPools(4, 25, 10, True)
    bouncer = BouncerPools(1, 25, 5, 80, 1000)
    verdict = check(PG16_DEFAULTS, apps, bouncer, 0)
    assert verdict.fits
    assert verdict.numbers["application_peak"] == 140
    assert verdict.numbers["pgbouncer_server_connections"] == 30
    assert verdict.numbers["server_demand"] == 30
    assert verdict.lines[0] == (
        "PgBouncer clients: applications 4 x (pool_size 25 + max_overflow 10) = 140 ≤ max_client_conn 1000"
    )
    assert verdict.lines[1].startswith(
        "server: PgBouncer 1 x (default_pool_size 25 + reserve_pool_size 5) = 30 ≤ 97 available"
    )


def test_pgbouncer_pools_capped_by_max_db_connections() -> None:
    bouncer = BouncerPools(4, 25, 5, 80, 1000)  # 4 pools x 30 = 120, capped at 80
    verdict = check(PG16_DEFAULTS, None, bouncer, 10)
    assert verdict.numbers["server_demand"] == 90
    assert "capped by max_db_connections 80" in verdict.lines[0]
    over = check(PG16_DEFAULTS, None, BouncerPools(4, 25, 5, 0, 1000), 0)  # 120 > 97
    assert not over.fits and over.numbers["server_demand"] == 120


def test_client_side_must_fit_max_client_conn() -> None:
    verdict = check(PG16_DEFAULTS, AppPools(4, 25, 10, True), BouncerPools(1, 20, 0, 0, 100), 0)
    assert not verdict.fits
    assert verdict.violations == [
        "PgBouncer clients: applications 4 x (pool_size 25 + max_overflow 10) = 140 > max_client_conn 100"
    ]


def test_app_direct_and_pgbouncer_for_others_add_up() -> None:
    """Applications connecting directly while PgBouncer serves someone else: both count."""
    verdict = check(PG16_DEFAULTS, AppPools(2, 25, 10, False), BouncerPools(1, 20, 5, 0, 100), 0)
    assert verdict.numbers["server_demand"] == 95 and verdict.fits


def test_unbounded_pools_never_fit() -> None:
    for app in (AppPools(1, 0, 10, False), AppPools(1, 5, -1, False)):
        verdict = check(PG16_DEFAULTS, app, None, 0)
        assert not verdict.fits and "unbounded" in verdict.violations[0]
        assert verdict.numbers["server_demand"] is None
    behind = check(PG16_DEFAULTS, AppPools(1, 5, -1, True), BouncerPools(1, 20, 0, 0, 100), 0)
    assert not behind.fits and "max_client_conn" in behind.violations[0]


counts = st.integers(min_value=0, max_value=500)


@given(st.integers(1, 20), st.integers(1, 50), st.integers(0, 50), counts, st.integers(10, 1000), st.integers(0, 5))
def test_verdict_is_exactly_demand_against_available(
    instances: int, pool_size: int, overflow: int, other: int, max_conn: int, su: int
) -> None:
    limits = ServerLimits(max_conn, su, 0)
    verdict = check(limits, AppPools(instances, pool_size, overflow, False), None, other)
    demand = instances * (pool_size + overflow) + other
    assert verdict.numbers["server_demand"] == demand
    assert verdict.fits == (demand <= max_conn - su)


@given(st.integers(1, 20), st.integers(1, 50), st.integers(0, 50), st.integers(10, 1000), st.integers(1, 500))
def test_more_max_connections_never_breaks_a_fit(
    instances: int, pool_size: int, overflow: int, max_conn: int, extra: int
) -> None:
    apps = AppPools(instances, pool_size, overflow, False)
    if check(ServerLimits(max_conn, 3, 0), apps, None, 0).fits:
        assert check(ServerLimits(max_conn + extra, 3, 0), apps, None, 0).fits


def test_an_application_that_does_not_pool_holds_a_connection_per_session() -> None:
    """Letta's default (NullPool): the peak is instances x concurrency; without a concurrency it is unbounded."""
    direct = check(PG15_DEFAULTS, AppPools(2, 5, 10, False, pooled=False, concurrency=40), None, 10)
    assert direct.fits and direct.numbers["application_peak"] == 80 and direct.numbers["server_demand"] == 90
    assert direct.lines == [
        "server: applications 2 x concurrency 40 (pool: none, a connection per session) = 80 + other connections 10 "
        "= 90 ≤ 97 available (max_connections 100 - superuser_reserved_connections 3)"
    ]
    unbounded = check(PG15_DEFAULTS, AppPools(2, 5, 10, False, pooled=False), None, 0)
    assert not unbounded.fits and "unpooled (pool: none without concurrency" in unbounded.violations[0]
    # Behind PgBouncer the clients are Letta's sessions; the server sees PgBouncer's pools only.
    bouncer = BouncerPools(1, 25, 5, 80, 500)
    fronted = check(PG15_DEFAULTS, AppPools(2, 5, 10, True, pooled=False, concurrency=100), bouncer, 10)
    assert fronted.fits and fronted.numbers["server_demand"] == 40
    assert (
        fronted.lines[0].startswith("PgBouncer clients: applications 2 x concurrency 100")
        and "≤ max_client_conn 500" in (fronted.lines[0])
    )
    crowded = check(PG15_DEFAULTS, AppPools(6, 5, 10, True, pooled=False, concurrency=100), bouncer, 10)
    assert not crowded.fits and "= 600 > max_client_conn 500" in crowded.violations[0]
