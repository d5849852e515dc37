"""The garbage collector's pauses: measured, and kept from growing with the catalog.

CPython's cyclic garbage collector runs on whichever thread allocates, holding the GIL, so
the event loop stops until it is done. A full (oldest-generation) collection visits every
container object the collector tracks. The views and the ranker's index hold the catalog as
plain tuples it does not track (``streams.kafka.replicated``, ``ProductIndex``), so the
catalog does not lengthen the pause; what remains is what the process holds besides, most of
it as long-lived as the process, which need not be visited again and again: `gc.freeze`
moves every object alive into a permanent generation that collections skip. Frozen objects
that die are still freed by reference counting when nothing refers to them; only reference
cycles among them wait, until the next freeze that runs a full collection first (unfrozen):
frozen cyclic garbage is freed then and never accumulates.

- `observe_gc_pauses` records every collection's duration, by generation, into a histogram
  (the worker's ``basketlift_gc_pause_seconds``).
- `set_young_threshold` sets how many allocations the young generation takes before it is
  collected (``BASKETLIFT_GC_YOUNG_THRESHOLD``; see its docstring).
- `freeze_survivors` freezes what is alive, after one full collection when asked. The
  worker calls it after its imports and, when ``BASKETLIFT_GC_FREEZE`` is on, after every
  full build of the ranker's index (``streams.offers.live``: every
  ``BASKETLIFT_INDEX_FULL_BUILD_SECONDS`` of event time, and whenever the product set
  changes), when the bulk of the long-lived objects has just been made, with the full
  collection at most every ``FULL_COLLECTION_EVERY_S``. Between those, the collector's
  full collections visit only what was made since the last freeze
  (``bench/results/gc_pauses.md``).
"""

from __future__ import annotations

import gc
import time
from collections.abc import Callable
from typing import Any, Final

__all__ = [
    "FULL_COLLECTION_EVERY_S",
    "GcPauseObserver",
    "freeze_survivors",
    "observe_gc_pauses",
    "set_young_threshold",
]


class GcPauseObserver:
    """A `gc.callbacks` entry that times each collection and reports it to `record`
    (generation, seconds). Collections never overlap (they hold the GIL), so one start
    time is enough."""

    def __init__(self, record: Callable[[int, float], None]) -> None:
        self.record = record
        self._started: float | None = None

    def __call__(self, phase: str, info: dict[str, Any]) -> None:
        if phase == "start":
            self._started = time.perf_counter()
        elif phase == "stop" and self._started is not None:
            self.record(int(info["generation"]), time.perf_counter() - self._started)
            self._started = None


def observe_gc_pauses(record: Callable[[int, float], None]) -> GcPauseObserver:
    """Report every garbage collection's generation and duration to `record` from now on;
    the observer returned is in `gc.callbacks` (remove it from there to stop)."""
    observer = GcPauseObserver(record)
    gc.callbacks.append(observer)
    return observer


FULL_COLLECTION_EVERY_S: Final = 600.0
"""Wall-clock seconds at least between the full collections of `freeze_survivors` in the
worker (``streams.offers.live``): its full builds can come every few seconds while the
product set changes, and each full collection holds the event loop for as long as it
visits everything tracked."""


def set_young_threshold(allocations: int) -> None:
    """Collect the young generation every `allocations` tracked allocations (the older
    generations' thresholds stay CPython's: the middle one is collected every 10 young
    collections). A batch's decoded events and its decisions' objects all live until the
    batch ends, tens of thousands of allocations for a large batch. With CPython's 700 the
    middle generation is collected every 7,000 allocations, inside a batch, and moves the
    batch's live objects into the oldest generation, which then fills up and is collected in
    full every few batches, visiting everything. With 10,000 the middle generation is
    collected every 100,000 allocations, mostly after the batch is over, and the batch's
    objects die there."""
    if allocations < 1:
        raise ValueError(f"allocations must be >= 1, got {allocations}")
    _young, middle, old = gc.get_threshold()
    gc.set_threshold(allocations, middle, old)


def freeze_survivors(full_collection: bool = True) -> int:
    """Move every object the collector tracks into the permanent generation, which
    collections skip (see the module docstring); the number of objects frozen.

    With `full_collection`, every generation is collected first, the frozen one included:
    that frees the reference cycles that died since the last such freeze, frozen or not
    (frozen ones are out of every other collection's reach), so frozen cyclic garbage is
    kept for one period at most. It holds the interpreter as long as any full collection.
    Without, only the young generations are collected first (milliseconds), so that recent
    garbage in reference cycles, such as a finished batch's, is freed rather than frozen.
    """
    if full_collection:
        gc.unfreeze()
        gc.collect()
    else:
        gc.collect(1)
    gc.freeze()
    return gc.get_freeze_count()
