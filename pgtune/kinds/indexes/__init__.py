"""Indexes: declared by definition, compared semantically, built and dropped online.

Identity is schema + name (an index lives in its table's schema). Equality is decided in two
steps. First both definitions are parsed and canonicalised (`indexdef.py`); most indexes end
there. A declared index that is new, or differs after that step, goes to the **probe**: inside
a savepoint of the (always rolled back) plan transaction, the server builds it on an empty
temporary copy of the table and prints it back with `pg_get_indexdef()`. That validates it
exactly as apply would (columns, expressions, operators, opclasses, access method, WITH
options, version support) and yields the server's own spelling (added casts, folded constants,
default opclasses dropped), so the final comparison is canonical against canonical. The probe
is one batch whatever the number of indexes.

Changes, all online:
- create:  CREATE INDEX CONCURRENTLY;
- replace: build under a temporary name, DROP INDEX CONCURRENTLY the old one, rename — the name
  backs queries at every moment; an INVALID index is dropped first, then built again;
- delete:  DROP INDEX CONCURRENTLY.
Partitioned tables: CREATE INDEX ... ON ONLY the parent, CREATE INDEX CONCURRENTLY on each leaf,
ALTER INDEX ... ATTACH PARTITION; the parent index turns valid once every leaf is attached. An
interrupted run is finished from where it stopped. Dropping a partitioned index cannot be
concurrent: it takes ACCESS EXCLUSIVE, and the plan says so.

Modules: `model` (both sides and names), `read` (profile and catalog), `validate` (catalog checks
and the probe), `statements` (each change with its lock and hazards), `diff` (what to build,
replace and drop), `kind` (what the engine runs).
"""

from pgtune.kinds.indexes.kind import IndexKind, index_spec, resource
from pgtune.kinds.indexes.model import (
    KIND,
    MAX_NAME_BYTES,
    Catalog,
    Desired,
    IndexLive,
    LiveIndex,
    Wanted,
    bounded_name,
    tmp_name,
)
from pgtune.kinds.indexes.read import parse_definitions, read
from pgtune.kinds.indexes.statements import create_sql

__all__ = [
    "KIND",
    "MAX_NAME_BYTES",
    "Catalog",
    "Desired",
    "IndexKind",
    "IndexLive",
    "LiveIndex",
    "Wanted",
    "bounded_name",
    "create_sql",
    "index_spec",
    "parse_definitions",
    "read",
    "resource",
    "tmp_name",
]
