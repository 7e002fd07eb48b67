"""Handing freed memory back to the system between the steps of a long job that peak."""

from __future__ import annotations

import gc
from collections.abc import Iterator
from contextlib import contextmanager


def release_freed_memory() -> None:
    """Free unreachable cycles, then hand freed heap memory back to the system.

    Cycles first: a library's leftovers (GX's, after each validation) can hold whole columns
    until the collector happens to run, which put the 1,000,000-customer affinity gate's peak
    anywhere from 14 to 19 GiB. glibc's allocator keeps freed heap memory for reuse, and over
    ten chunks of a 100,000 customer training set it kept 1.8 GiB that the next steps could
    not use; Arrow's pool kept another 0.4 (``docs/benchmarks.md``, "Training at scale").
    Dask's workers trim the same way. Elsewhere than glibc there is no ``malloc_trim``.
    """
    import ctypes
    import ctypes.util

    import pyarrow as pa

    gc.collect()
    pa.default_memory_pool().release_unused()
    library = ctypes.util.find_library("c")
    trim = getattr(ctypes.CDLL(library), "malloc_trim", None) if library else None
    if trim is not None:
        trim(0)


@contextmanager
def heap_frozen() -> Iterator[None]:
    """Within, a collection (:func:`release_freed_memory`'s) skips every object alive on entry.

    A full collection walks the whole heap: with GX, pandas and a test runner loaded, about a
    third of a second each, which after every batch of a wide table doubled the gate's time.
    The cycles it is there for are made after entry. ``gc.freeze`` is what it is for.
    """
    gc.freeze()
    try:
        yield
    finally:
        gc.unfreeze()
