"""Partitions of tables the application already partitioned: ranges kept ahead of now, retention,
list partitions and the default partition.

`model` reads the layouts and the wanted ranges; `diff` decides what to create and retire;
`statements` builds each change (locks and hazards stated); `kind` is what the engine runs.
"""

from pgtune.kinds.partitions.diff import ServerFacts, diff
from pgtune.kinds.partitions.kind import PartitionKind, resource
from pgtune.kinds.partitions.model import (
    KIND,
    Child,
    Declared,
    Layout,
    PartitionLive,
    Wanted,
    display,
    int_ranges,
    read_layouts,
    time_ranges,
)

__all__ = [
    "KIND",
    "Child",
    "Declared",
    "Layout",
    "PartitionKind",
    "PartitionLive",
    "ServerFacts",
    "Wanted",
    "diff",
    "display",
    "int_ranges",
    "read_layouts",
    "resource",
    "time_ranges",
]
