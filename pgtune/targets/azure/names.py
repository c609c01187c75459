"""Azure Flexible Server's published parameter list (parameters.json), for `validate --service
azure`: a typo in `pgbouncer.default_pool_size`, an extension Azure does not offer or a parameter the
service fixes is caught in a pull request, not by the configurations API in a deploy."""

from __future__ import annotations

import json
from functools import cache
from importlib import resources

from pgtune.kinds.offline import ServiceCatalog

LABEL = "Azure Database for PostgreSQL flexible server"


@cache
def catalog() -> ServiceCatalog:
    data = json.loads(resources.files(__package__).joinpath("parameters.json").read_text(encoding="utf-8"))
    source = f"its PostgreSQL {data['version']} parameter tables"
    fixed = {
        name: f"the service fixes it (read-only in {source})"
        for name, kind in data["postgres"].items()
        if kind == "read-only"
    }
    # Azure lists every dotted parameter it offers: any other namespace is an extension it does not ship.
    return ServiceCatalog(LABEL, source, dict(data["service"]), frozenset({"*"}), fixed)
