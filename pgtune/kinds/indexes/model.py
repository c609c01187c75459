"""What an index is on both sides: the live index, the declared one, the catalog they are compared
in, and names that fit in 63 bytes."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from functools import cached_property, lru_cache
from typing import NamedTuple

from pgtune.base.errors import Location, ProfileError
from pgtune.base.identifiers import qualified_text
from pgtune.kinds.indexdef import ParsedIndex, parse_live, restore
from pgtune.kinds.tables import Leaf, Table
from pgtune.profile.loader import LoadedProfile
from pgtune.profile.model import IndexSpec
from pgtune.profile.source import PathKey

KIND = "index"


MAX_NAME_BYTES = 63


TMP_SUFFIX = "_pgtune_new"


PROBE_PREFIX = "pgtune_probe_"


CIC_LOCK = "SHARE UPDATE EXCLUSIVE"


class LiveIndex(NamedTuple):  # tens of thousands per plan: a tuple is the cheapest record to make, and never changes
    oid: int
    table_oid: int
    schema: str
    name: str
    partitioned: bool
    valid: bool
    constraint: str | None  # name of the PRIMARY KEY/UNIQUE/EXCLUDE constraint it backs
    parent_index: int | None  # the partitioned index it is attached to
    # Indexes of declared tables: the definition with placeholders for name and table
    # (`indexdef.anonymous`), shared by every index of that shape, and the name and table as the
    # server quotes them; or, with `quoted` None, the index's own pg_get_indexdef().
    shape: str | None = None
    quoted: tuple[str, str] | None = None

    @property
    def definition(self) -> str | None:
        """pg_get_indexdef(), for indexes of declared tables (rebuilt from the shape on demand)."""
        if self.shape is None or self.quoted is None:
            return self.shape
        return restore(self.shape, *self.quoted)

    def parsed(self) -> ParsedIndex:
        """The canonical form (parsed once per shape)."""
        assert self.shape is not None
        return parse_live(self.shape)

    @property
    def qualified(self) -> str:
        return qualified_text(self.schema, self.name)


@dataclass(slots=True)  # one per declared index: 40,000 in a fleet's plan
class Desired:
    table: Table
    name: str
    spec: IndexSpec | None  # None: absent
    loaded: LoadedProfile = field(repr=False)
    parsed: ParsedIndex | None = None
    server: ParsedIndex | None = None  # the server's canonical form, when probed
    rejected: bool = False  # has a validation error: not probed, not diffed
    unchanged: bool = False  # the live index is printed as declared: not parsed, validated or diffed
    _temporary: str | None = field(default=None, init=False, repr=False)

    @property
    def temporary(self) -> str:
        """Where a replacement is built (`tmp_name`): worked out once, and only for an index that may
        need it — at fleet scale most indexes are unchanged and never ask."""
        if self._temporary is None:
            self._temporary = tmp_name(self.name)
        return self._temporary

    @property
    def path(self) -> PathKey:
        """Of the entry in the profile."""
        return ("tables", self.table.key, "indexes", self.name)

    # Positions are looked up only for an error: a plan of 40,000 unchanged indexes needs none.
    @property
    def location(self) -> Location | None:
        """Of the definition."""
        return self.loaded.location(self.path)

    @property
    def key_location(self) -> Location | None:
        """Of the name."""
        return self.loaded.location(self.path, key=True)

    @property
    def qualified(self) -> str:
        return qualified_text(self.table.schema, self.name)


@dataclass
class Catalog:
    by_table: dict[int, dict[str, LiveIndex]] = field(default_factory=dict)  # declared table -> name -> index
    replacing: set[int] = field(default_factory=set)  # declared tables with a replacement's index (TMP_SUFFIX)
    by_leaf: dict[int, list[LiveIndex]] = field(default_factory=dict)
    names: dict[tuple[str, str], dict[str, object]] = field(default_factory=dict)


def bounded_name(base: str, suffix: str) -> str:
    """`base + suffix` within PostgreSQL's 63-byte names; a trimmed base gets a hash to stay unique."""
    if len((base + suffix).encode()) <= MAX_NAME_BYTES:
        return base + suffix
    digest = "_" + hashlib.sha1(base.encode()).hexdigest()[:6]
    room = MAX_NAME_BYTES - len((digest + suffix).encode())
    trimmed = base.encode()[:room].decode(errors="ignore")
    return trimmed + digest + suffix


@lru_cache(maxsize=65536)
def tmp_name(name: str) -> str:
    """Where a replacement is built before it takes the name over."""
    return bounded_name(name, TMP_SUFFIX)


def leaf_index_name(leaf: Leaf, desired: Desired, built_as: str) -> str:
    """A partition's index name: readable, and different for each definition (so a replacement's
    leaf indexes never collide with the ones they replace)."""
    assert desired.parsed is not None
    digest = hashlib.sha1(f"{built_as}|{desired.parsed.canon!r}".encode()).hexdigest()[:6]
    return bounded_name(f"{leaf.name}_{desired.name}", "_" + digest)


@dataclass
class Wanted:
    desired: list[Desired]  # declared indexes (spec None: absent)
    pruned: list[Table]  # tables with prune_indexes: true
    errors: list[ProfileError]
    owned: tuple[tuple[str, tuple[str, ...]], ...] = ()  # (owner, patterns): never pruned (profile owned_by)

    @cached_property
    def tables(self) -> dict[int, Table]:
        """The tables concerned, by oid: declaring indexes, or pruning them (worked out once)."""
        return {d.table.oid: d.table for d in self.desired} | {t.oid: t for t in self.pruned}

    def owner(self, schema: str, name: str) -> str | None:
        """Who owns schema.name, by the profile's owned_by (None: nobody else)."""
        from pgtune.profile.model import owner_of

        return owner_of(self.owned, f"{schema}.{name}")


@dataclass
class IndexLive:
    """The catalog's indexes of the tables concerned, and what reading them taught about the wants:
    declarations the server rejected are left out (their errors kept), the rest are canonical."""

    catalog: Catalog
    desired: list[Desired]
    probed: bool  # False: a read-only server, definitions compared as parsed
    building: dict[int, int]  # index oid -> pid of a build in progress
    errors: list[ProfileError]
