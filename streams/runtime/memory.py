"""Process-wide memory settings of a worker, applied once at start-up.

glibc's malloc gives each thread that allocates its own arena (up to 8 per core), and an
arena keeps the memory freed in it for reuse rather than returning it to the system. A
worker's threads (the ranker index refresh runs in one, RocksDB and the Kafka clients have
theirs) each build up such an arena; capping their number makes the threads share freed
memory instead. Measured with ``bench.scale`` at 10,000 products: RSS after 10,000 orders
735 MiB with two arenas against 843 MiB without the cap (``bench/results/issue14_memory.md``).

A full build of the ranker's index makes and frees hundreds of megabytes of short-lived
objects at a large catalog; what malloc keeps free afterwards stays in the process's RSS
until `release_free_memory` (``malloc_trim``) hands the free pages back.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os
from collections.abc import Mapping
from functools import cache

M_ARENA_MAX = -8
"""glibc's ``mallopt`` parameter for the largest number of malloc arenas."""
DEFAULT_MALLOC_ARENAS = 2


@cache
def _libc() -> ctypes.CDLL | None:
    """The C library, loaded once: finding it runs `ldconfig` in a subprocess, and
    `release_free_memory` is called after every full index build."""
    name = ctypes.util.find_library("c")
    if name is None:
        return None
    try:
        return ctypes.CDLL(name)
    except OSError:
        return None


def limit_malloc_arenas(
    arenas: int = DEFAULT_MALLOC_ARENAS, environ: Mapping[str, str] = os.environ
) -> bool:
    """Cap glibc's malloc arenas at `arenas`; True when the cap was set.

    Nothing is changed when ``MALLOC_ARENA_MAX`` is in the environment (glibc read it at
    start-up: the operator's choice stands) or when the C library is not glibc.
    """
    if "MALLOC_ARENA_MAX" in environ:
        return False
    libc = _libc()
    mallopt = getattr(libc, "mallopt", None)
    if mallopt is None:
        return False
    mallopt.argtypes = [ctypes.c_int, ctypes.c_int]
    mallopt.restype = ctypes.c_int
    return bool(mallopt(M_ARENA_MAX, arenas))


def release_free_memory() -> bool:
    """Return the memory glibc's malloc holds free, in every arena, to the system
    (``malloc_trim(0)``); True when it released some, False when there was none or the C
    library is not glibc. Through ctypes the call runs without the GIL; it holds malloc's
    locks while it walks the heap, so call it off the event loop."""
    trim = getattr(_libc(), "malloc_trim", None)
    if trim is None:
        return False
    trim.argtypes = [ctypes.c_size_t]
    trim.restype = ctypes.c_int
    return bool(trim(0))
