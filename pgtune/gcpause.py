"""Pausing CPython's cyclic garbage collector while pgtune builds large acyclic structures."""

from __future__ import annotations

import gc
from collections.abc import Iterator
from contextlib import contextmanager


@contextmanager
def paused_gc() -> Iterator[None]:
    """Run the block with the cyclic collector off (reference counting still frees everything).

    Loading a profile and planning allocate hundreds of thousands of small objects (dicts,
    tuples, positions, catalog rows) and keep most of them; the collector wakes every 700
    allocations and, as the heap grows, walks all of it again and again. At 10,000 tables that
    was 5.7 s of a 13 s plan (bench/plan_scale.py). These phases create no garbage cycles worth
    collecting early. Nests; the collector's previous state is restored.

    On the way out what the block made is frozen (`gc.freeze`: moved out of the collector's
    generations, still freed by reference counting): otherwise the first allocation after
    re-enabling pays for everything skipped at once, a full collection over the whole heap
    (~0.9 s at 10,000 tables). The cost is that a reference cycle made inside the block is
    never collected; these phases make next to none."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        gc.freeze()
        if enabled:
            gc.enable()
