"""The garbage collector's view of test objects: what it still tracks once it has settled."""

from __future__ import annotations

import gc

__all__ = ["settle_collector", "tracked_objects"]


def settle_collector() -> None:
    """Collect until untracking has reached every container that qualifies.

    A tuple is untracked by a collection that finds its items untracked, and an item may be
    visited after the tuple holding it (it sits in another generation), so it can take a
    second collection for the tuple to be untracked too.
    """
    gc.collect()
    gc.collect()


def tracked_objects() -> int:
    """How many objects the garbage collector tracks, once it has settled."""
    settle_collector()
    return len(gc.get_objects())
