"""Hardware-aware settings: le0pard's PGTune formulas (pgtune.leopard.in.ua), Linux.

Source: github.com/le0pard/pgtune, src/features/configuration/configurationSlice.js (the version
with the 8GB maintenance_work_mem cap, autovacuum_work_mem, the 4MB work_mem floor, huge_pages
`try` from 2GB of shared_buffers, jit, wal_compression, autovacuum_max_workers, the database-size
input and PostgreSQL 18's io_method/io_workers). Every formula below names the selector it
mirrors; README "Workload" documents them. Memory is computed in kB with the same integer
flooring, and rendered the way PGTune prints it (GB or MB when exact, else kB), so the values
are the calculator's, character for character.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from pgtune.base.units import parse_bytes

if TYPE_CHECKING:
    from pgtune.profile.model import WorkloadSpec

KB_PER_MB = 1024
KB_PER_GB = 1024 * 1024

TYPES = ("web", "oltp", "dw", "desktop", "mixed")
STORAGE = ("ssd", "nvme", "hdd", "san")
DB_SIZES = ("less_than_ram", "around_ram", "more_than_ram")
NEWEST_PG = 18
"""`recommend` without --pg-version assumes the newest PostgreSQL pgtune supports."""

DEFAULT_CONNECTIONS = {"web": 200, "oltp": 300, "dw": 40, "desktop": 20, "mixed": 100}
DEFAULT_MAX_WORKER_PROCESSES = 8
WAL_SIZES_MB = {  # (min_wal_size, max_wal_size)
    "web": (1024, 4096),
    "oltp": (2048, 8192),
    "dw": (4096, 16384),
    "desktop": (100, 2048),
    "mixed": (1024, 4096),
}
IO_CONCURRENCY = {"hdd": 2, "ssd": 200, "san": 300, "nvme": 1000}


@dataclass(frozen=True)
class Workload:
    type: str
    memory_bytes: int
    cpus: int | None
    storage: str
    connections: int | None
    pg_version: int
    db_size: str = "around_ram"


@dataclass
class Recommendation:
    settings: dict[str, str] = field(default_factory=dict)  # name -> value as PGTune prints it
    reasons: dict[str, str] = field(default_factory=dict)

    def set(self, name: str, value: str | int | float, reason: str) -> None:
        self.settings[name] = str(value)
        self.reasons[name] = reason


def from_spec(spec: WorkloadSpec, default_pg_version: int) -> Workload:
    """The inputs a profile's `workload:` (or `pgtune recommend`) declares; `auto` reads this host
    (callers decide whether this host may be asked)."""
    return Workload(
        spec.type,
        host_memory_bytes() if spec.memory == "auto" else parse_bytes(spec.memory),
        host_cpus() if spec.cpus == "auto" else spec.cpus,
        spec.storage,
        spec.connections,
        spec.pg_version or default_pg_version,
        spec.db_size,
    )


def format_kb(value: int) -> str:
    """PGTune's formatValue: the largest of GB/MB that divides exactly, else kB."""
    if value % KB_PER_GB == 0:
        return f"{value // KB_PER_GB}GB"
    if value % KB_PER_MB == 0:
        return f"{value // KB_PER_MB}MB"
    return f"{value}kB"


def _parallel(w: Workload) -> dict[str, int]:
    """selectParallelSettings: only with 4+ CPUs."""
    if not w.cpus or w.cpus < 4:
        return {}
    per_gather = math.ceil(w.cpus / 2)
    if w.type != "dw":
        per_gather = min(per_gather, 4)
    out = {"max_worker_processes": w.cpus, "max_parallel_workers_per_gather": per_gather}
    if w.pg_version >= 10:
        out["max_parallel_workers"] = w.cpus
    if w.pg_version >= 11:
        out["max_parallel_maintenance_workers"] = min(math.ceil(w.cpus / 2), 4)
    return out


def recommend(w: Workload) -> Recommendation:
    """The settings PGTune derives for this machine and workload, with a reason each."""
    kb = w.memory_bytes // 1024
    r = Recommendation()
    max_connections = w.connections or DEFAULT_CONNECTIONS[w.type]
    r.set(
        "max_connections",
        max_connections,
        f"{'as declared' if w.connections else f'PGTune default for {w.type}'}",
    )
    shared_buffers = kb // 16 if w.type == "desktop" else kb // 4
    r.set("shared_buffers", format_kb(shared_buffers), f"RAM / {16 if w.type == 'desktop' else 4}")
    cache = kb // 4 if w.type == "desktop" else kb * 3 // 4
    r.set("effective_cache_size", format_kb(cache), f"RAM x {'1/4' if w.type == 'desktop' else '3/4'}: OS cache")
    maintenance = kb // 8 if w.type == "dw" else kb // 16
    cap = 8 * KB_PER_GB
    maintenance = min(maintenance, cap)
    r.set(
        "maintenance_work_mem",
        format_kb(maintenance),
        f"RAM / {8 if w.type == 'dw' else 16}, capped at 8GB",
    )
    r.set("checkpoint_completion_target", "0.9", "spread checkpoint writes (PostgreSQL 14's default)")
    wal_buffers = 3 * shared_buffers // 100
    wal_buffers = min(wal_buffers, 16 * KB_PER_MB)
    if 14 * KB_PER_MB < wal_buffers < 16 * KB_PER_MB:
        wal_buffers = 16 * KB_PER_MB
    wal_buffers = max(wal_buffers, 32)
    r.set("wal_buffers", format_kb(wal_buffers), "3% of shared_buffers, at most 16MB")
    r.set(
        "default_statistics_target",
        500 if w.type == "dw" else 100,
        "more detailed statistics for analytics" if w.type == "dw" else "PostgreSQL's default",
    )
    if w.db_size == "less_than_ram":
        rpc, why = "1.1", "the whole database fits in RAM: reads come from cache"
    elif w.storage == "hdd":
        rpc, why = "4", "spinning disks: random reads cost 4x sequential"
    elif w.type == "dw":
        rpc, why = "4", "a warehouse larger than RAM: keep the default so big reads stay sequential"
    else:
        rpc, why = "1.1", f"{w.storage}: random reads almost as cheap as sequential"
    r.set("random_page_cost", rpc, why)
    r.set("effective_io_concurrency", IO_CONCURRENCY[w.storage], f"concurrent I/O {w.storage} sustains")
    parallel = _parallel(w)
    workers = parallel.get("max_worker_processes") or DEFAULT_MAX_WORKER_PROCESSES
    base = (kb - shared_buffers) / ((max_connections + workers) * 3)
    divisor = {"dw": 2, "mixed": 2, "desktop": 6}.get(w.type, 1)
    work_mem = math.floor(base / divisor)
    if w.db_size == "less_than_ram":
        work_mem = math.floor(work_mem * 1.3)
    elif w.db_size == "more_than_ram":
        work_mem = math.floor(work_mem * 0.9)
    work_mem = max(work_mem, 4 * KB_PER_MB)
    r.set(
        "work_mem",
        format_kb(work_mem),
        f"(RAM - shared_buffers) / ((max_connections + {workers} workers) x 3)"
        + (f" / {divisor}" if divisor > 1 else "")
        + ", at least 4MB",
    )
    r.set(
        "huge_pages",
        "try" if shared_buffers >= 2 * KB_PER_GB else "off",
        "huge pages pay off from 2GB of shared_buffers",
    )
    if w.pg_version >= 12 and w.type in ("web", "oltp", "mixed"):
        r.set("jit", "off", "JIT costs planning time and CPU spikes on short queries")
    if w.pg_version >= 15:
        r.set("wal_compression", "lz4", "lz4 compresses full-page writes cheaply (PostgreSQL 15+)")
    elif w.pg_version >= 10:
        r.set("wal_compression", "on", "compress full-page writes (pglz)")
    if w.cpus and w.cpus >= 32:
        r.set("autovacuum_max_workers", 5, "32+ CPUs: more autovacuum workers")
    elif w.cpus and w.cpus >= 16:
        r.set("autovacuum_max_workers", 4, "16+ CPUs: more autovacuum workers")
    if maintenance >= 2 * KB_PER_GB:
        r.set("autovacuum_work_mem", format_kb(2 * KB_PER_GB), "cap each autovacuum worker at 2GB (OOM safety)")
    if w.pg_version >= 18:
        r.set("io_method", "io_uring", "asynchronous I/O on Linux (PostgreSQL 18)")
        if w.cpus:
            io_workers = min(32, max(3, w.cpus // 4))
            if io_workers > 3:
                r.set("io_workers", io_workers, "a quarter of the CPUs")
    low, high = WAL_SIZES_MB[w.type]
    r.set("min_wal_size", format_kb(low * KB_PER_MB), f"checkpoint spacing for {w.type}")
    r.set("max_wal_size", format_kb(high * KB_PER_MB), f"checkpoint spacing for {w.type}")
    for name, value in parallel.items():
        r.set(name, value, "parallel query sized to the CPUs")
    if w.type == "desktop":
        r.set("wal_level", "minimal", "a desktop needs no replication")
        r.set("max_wal_senders", "0", "required by wal_level minimal")
    return r


# --- memory: auto / cpus: auto ------------------------------------------------------------------


def _read(path: str) -> str | None:
    try:
        return Path(path).read_text().strip()
    except OSError:
        return None


def host_memory_bytes() -> int:
    """RAM available here: /proc/meminfo's MemTotal, lowered by a cgroup memory limit."""
    total = None
    for line in (_read("/proc/meminfo") or "").splitlines():
        if line.startswith("MemTotal:"):
            total = int(line.split()[1]) * 1024
    if total is None:
        total = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    for limit_file in ("/sys/fs/cgroup/memory.max", "/sys/fs/cgroup/memory/memory.limit_in_bytes"):
        limit = _read(limit_file)
        if limit and limit.isdigit() and 0 < int(limit) < total:
            total = int(limit)
    return total


def host_cpus() -> int:
    """CPUs available here: the affinity mask, lowered by a cgroup CPU quota."""
    cpus = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
    quota = _read("/sys/fs/cgroup/cpu.max")
    if quota:
        limit, _, period = quota.partition(" ")
        if limit.isdigit() and period.isdigit() and int(period) > 0:
            cpus = min(cpus, max(1, math.ceil(int(limit) / int(period))))
    return cpus


def as_profile_fragment(result: Recommendation, title: str) -> str:
    """`settings:` YAML with each reason as an end-of-line comment, ready to paste into a profile."""
    from ruamel.yaml.comments import CommentedMap

    from pgtune.profile.edit import dump_document, yaml_number

    body = CommentedMap()
    for name, value in result.settings.items():
        body[name] = yaml_number(value)
        body.yaml_add_eol_comment(result.reasons[name], name, column=40)
    return dump_document({"settings": body}, f"# {title}\n")
