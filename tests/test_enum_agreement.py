"""pgtune accepts exactly the enum spellings the server accepts, for every enum setting of the
server, and maps them to the server's value (generated from pg_settings, not a hand-picked list)."""

from __future__ import annotations

import psycopg

from pgtune.base.guc import HIDDEN_ENUM_WORDS, ON_OFF_WORDS, GucSpec, InvalidValue
from tests.conftest import Server

PROBES = sorted(
    {*ON_OFF_WORDS, *(w for words in HIDDEN_ENUM_WORDS.values() for w in words)}
    | {"t", "f", "y", "n", "tr", "of", "On", "TRUE", "maybe", "debug", "archive", "hot_standby"}
)


def test_every_enum_setting_agrees_with_the_server(pg: Server) -> None:
    disagreements = []
    checked = 0
    with psycopg.connect(pg.dsn, autocommit=True) as conn:
        rows = conn.execute(
            "SELECT name, context, enumvals FROM pg_settings WHERE vartype = 'enum' AND context <> 'internal'"
        ).fetchall()
        for name, context, enumvals in rows:
            spec = GucSpec(name, "enum", context=context, enumvals=tuple(enumvals))
            try:
                conn.execute(f"ALTER SYSTEM SET {name} = '{enumvals[0]}'".encode())
            except psycopg.Error:
                continue  # not settable in files at all (transaction_isolation ...): nothing to agree on
            for word in sorted({*PROBES, *enumvals}):
                try:
                    conn.execute(f"ALTER SYSTEM SET {name} = '{word}'".encode())
                    server = True
                except psycopg.Error:
                    server = False
                try:
                    mine = spec.canonical(word)
                    ours = True
                except InvalidValue:
                    ours, mine = False, None
                checked += 1
                if server != ours:
                    disagreements.append((name, word, "server accepts" if server else "server refuses"))
                elif server and context in ("user", "superuser"):
                    # The value the server makes of it, where a session can show it.
                    with conn.transaction():
                        conn.execute(f"SET LOCAL {name} = '{word}'".encode())
                        shown = conn.execute(f"SHOW {name}".encode()).fetchone()[0]  # type: ignore[index]
                    if shown.lower() != str(mine):
                        disagreements.append((name, word, f"server shows {shown}, pgtune {mine}"))
        conn.execute("ALTER SYSTEM RESET ALL")
    assert checked > 300
    assert not disagreements, disagreements
