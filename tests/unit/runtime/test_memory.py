"""streams/runtime/memory.py: the worker caps glibc's malloc arenas unless told otherwise."""

from __future__ import annotations

import platform

import pytest

from streams.runtime.memory import limit_malloc_arenas


@pytest.mark.skipif(platform.libc_ver()[0] != "glibc", reason="mallopt is glibc's")
def test_the_cap_is_set_on_glibc() -> None:
    assert limit_malloc_arenas(2, environ={}) is True


def test_an_operators_malloc_arena_max_is_left_alone() -> None:
    assert limit_malloc_arenas(2, environ={"MALLOC_ARENA_MAX": "4"}) is False
