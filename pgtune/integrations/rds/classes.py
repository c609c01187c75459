"""What an instance class gives a formula: vCPUs and memory, from the class name alone.

AWS publishes each class's vCPUs and memory ("DB instance classes", RDS User Guide); pgtune keeps
the rule their names follow rather than a table that ages: the size word gives the vCPUs
(`large` 2, `xlarge` 4, `Nxlarge` 4·N), the family its memory per vCPU (m 4 GiB, r 8 GiB, x 16 GiB;
the burstable t classes by size). `DBInstanceClassMemory` is that memory less what RDS reserves
for itself — an amount AWS does not publish — so an evaluated formula is an upper bound, shown as
"about", and what runs is read back from `pg_settings` on the instance.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

GIB = 1024**3
_SIZES = {"large": 2, "xlarge": 4}
_PER_VCPU_GIB = {"m": 4, "r": 8, "x": 16, "z": 8}
_BURSTABLE_GIB = {"micro": 1, "small": 2, "medium": 4, "large": 8, "xlarge": 16, "2xlarge": 32}
_CLASS = re.compile(r"^db\.(?P<family>[a-z]+)(?P<gen>\d+)(?P<extra>[a-z-]*)\.(?P<size>\d*x?large|micro|small|medium)$")


@dataclass(frozen=True)
class InstanceClass:
    name: str
    vcpus: int
    memory: int  # bytes, before RDS's reservation


def lookup(name: str) -> InstanceClass | None:
    """The class's vCPUs and memory, or None for a name pgtune cannot read (e.g. db.serverless)."""
    m = _CLASS.match(name)
    if m is None:
        return None
    family, size = m.group("family"), m.group("size")
    if family == "t":
        gib = _BURSTABLE_GIB.get(size)
        return None if gib is None else InstanceClass(name, 2 if size != "2xlarge" else 8, gib * GIB)
    per = _PER_VCPU_GIB.get(family[0])
    if per is None:
        return None
    if size in _SIZES:
        vcpus = _SIZES[size]
    elif size.endswith("xlarge") and size[:-6].isdigit():
        vcpus = 4 * int(size[:-6])
    else:
        return None
    return InstanceClass(name, vcpus, vcpus * per * GIB)
