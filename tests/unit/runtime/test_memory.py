"""streams/runtime/memory.py: the worker caps glibc's malloc arenas unless told otherwise,
and hands memory malloc keeps free back to the system when asked."""

from __future__ import annotations

import os
import platform

import pytest

from streams.runtime.memory import limit_malloc_arenas, release_free_memory

GLIBC = platform.libc_ver()[0] == "glibc"


@pytest.mark.skipif(not GLIBC, reason="mallopt is glibc's")
def test_the_cap_is_set_on_glibc() -> None:
    assert limit_malloc_arenas(2, environ={}) is True


def test_an_operators_malloc_arena_max_is_left_alone() -> None:
    assert limit_malloc_arenas(2, environ={"MALLOC_ARENA_MAX": "4"}) is False


def resident_mib() -> float:
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


@pytest.mark.skipif(not GLIBC, reason="malloc_trim is glibc's")
def test_free_memory_held_by_malloc_goes_back_to_the_system() -> None:
    # 200 MiB of 1 KB blocks (malloc's, not Python's small-object allocator), all freed but
    # the last one, which keeps malloc from shrinking its heap by itself.
    blocks = [bytes(1000) for _ in range(200_000)]
    last = blocks[-1]
    del blocks
    held = resident_mib()
    assert release_free_memory() is True
    released = held - resident_mib()
    assert released > 100, f"only {released:.0f} MiB released of about 190 held free"
    assert len(last) == 1000
