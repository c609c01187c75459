"""Cloud SQL's own flag names and the PostgreSQL parameters it keeps for itself (flags.json), for
`validate --service cloudsql`: `cloudsql.enable_pgaudti` or `shared_preload_libraries` is caught in a
pull request, not by instances.patch in a deploy."""

from __future__ import annotations

import json
from functools import cache
from importlib import resources

from pgtune.kinds.offline import ServiceCatalog

LABEL = "Cloud SQL for PostgreSQL"
FOREIGN = frozenset({"cloudsql", "rds", "azure"})
"""Namespaces checked completely: Cloud SQL's own, and other services' (never Cloud SQL flags)."""


@cache
def catalog() -> ServiceCatalog:
    data = json.loads(resources.files(__package__).joinpath("flags.json").read_text(encoding="utf-8"))
    own = dict.fromkeys(data["service"], "")
    return ServiceCatalog(LABEL, "pgtune's bundled list of its flags", own, FOREIGN, dict(data["managed"]))
