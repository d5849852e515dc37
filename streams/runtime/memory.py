"""Process-wide memory settings of a worker, applied once at start-up.

glibc's malloc gives each thread that allocates its own arena (up to 8 per core), and an
arena keeps the memory freed in it for reuse rather than returning it to the system. A
worker's threads (the ranker index refresh runs in one, RocksDB and the Kafka clients have
theirs) each build up such an arena; capping their number makes the threads share freed
memory instead. Measured with ``bench.scale`` at 10,000 products: RSS after 10,000 orders
735 MiB with two arenas against 843 MiB without the cap (``bench/results/issue14_memory.md``).
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os
from collections.abc import Mapping

M_ARENA_MAX = -8
"""glibc's ``mallopt`` parameter for the largest number of malloc arenas."""
DEFAULT_MALLOC_ARENAS = 2


def limit_malloc_arenas(
    arenas: int = DEFAULT_MALLOC_ARENAS, environ: Mapping[str, str] = os.environ
) -> bool:
    """Cap glibc's malloc arenas at `arenas`; True when the cap was set.

    Nothing is changed when ``MALLOC_ARENA_MAX`` is in the environment (glibc read it at
    start-up: the operator's choice stands) or when the C library is not glibc.
    """
    if "MALLOC_ARENA_MAX" in environ:
        return False
    name = ctypes.util.find_library("c")
    if name is None:
        return False
    try:
        libc = ctypes.CDLL(name)
        mallopt = libc.mallopt
    except (OSError, AttributeError):
        return False
    mallopt.argtypes = [ctypes.c_int, ctypes.c_int]
    mallopt.restype = ctypes.c_int
    return bool(mallopt(M_ARENA_MAX, arenas))
