"""The commit gate: commits and batches never overlap (see CommitGate)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager

__all__ = ["CommitGate", "CommitHold"]


class CommitHold:
    """One commit's hold on new batches, from the moment it asked until it is released.

    A commit releases its hold early (`release`) once its transactions' scope is
    fixed: every record of the batches it commits has been handed to its transaction, and no
    later record can join it (the transactions' send locks are held until they have ended
    and the next ones have begun). Batches that start then send into the next
    transactions, and their input offsets commit with those. Otherwise the hold ends with
    the commit.
    """

    __slots__ = ("_gate", "asked", "released")

    def __init__(self, gate: CommitGate) -> None:
        self._gate = gate
        self.asked = time.perf_counter()
        self.released = False

    def release(self) -> None:
        """Let new batches start (once; later calls do nothing)."""
        if not self.released:
            self.released = True
            self._gate._end_hold(self)


class CommitGate:
    """Commits wait for batches in flight, and new batches wait for a commit in progress.

    Faust commits on a timer from another task. Under exactly-once, a commit that ran while a
    batch was between its writes and its acks would commit some of the batch's outputs
    without its input offsets, and a crash then would apply the batch twice. Batches are
    the readers, the commit the writer; the acks that follow a batch run without suspending,
    so they complete before a waiting commit resumes. A commit holds new batches off until
    its transactions can take no further record (`CommitHold`), not until they have ended.

    What must hold before any offset is committed (records sent outside the transaction are
    on the broker: ``streams.kafka.publisher``) is registered with `add_before_commit`; the
    commit awaits `before_commit` and does not commit if it raises.
    """

    def __init__(
        self,
        on_held: Callable[[float], None] | None = None,
        on_committed: Callable[[float], None] | None = None,
    ) -> None:
        """For the worker's metrics: `on_held` is told how many seconds each commit held new
        batches off (from the moment it asked until its hold was released), `on_committed`
        how long the whole commit took (until its transactions had ended)."""
        self.on_held = on_held
        self.on_committed = on_committed
        self._before_commit: list[Callable[[], Awaitable[None]]] = []
        self._batches = 0
        self._no_batches = asyncio.Event()
        self._no_batches.set()
        self._holds = 0
        self._no_commit = asyncio.Event()
        self._no_commit.set()

    @property
    def batches_in_flight(self) -> int:
        """Batches between `start_batch` and `end_batch` now."""
        return self._batches

    @property
    def commit_waiting(self) -> bool:
        """Whether a commit holds new batches off now."""
        return not self._no_commit.is_set()

    async def start_batch(self) -> None:
        """Wait for any commit holding batches off, then count this batch in."""
        await self._no_commit.wait()
        self._batches += 1
        self._no_batches.clear()

    def end_batch(self) -> None:
        """Count this batch out."""
        self._batches -= 1
        if self._batches == 0:
            self._no_batches.set()

    def add_before_commit(self, check: Callable[[], Awaitable[None]]) -> None:
        """Have every commit await `check()` first (a raise means: do not commit)."""
        self._before_commit.append(check)

    async def before_commit(self) -> None:
        """Await every registered check, in the order they were added."""
        for check in self._before_commit:
            await check()

    @asynccontextmanager
    async def committing(self) -> AsyncIterator[CommitHold]:
        """Hold new batches off and wait for the running ones; the hold lasts until the
        commit releases it (`CommitHold.release`) or ends."""
        hold = CommitHold(self)
        self._holds += 1
        self._no_commit.clear()
        try:
            await self._no_batches.wait()
            yield hold
        finally:
            hold.release()
            if self.on_committed is not None:
                self.on_committed(time.perf_counter() - hold.asked)

    def _end_hold(self, hold: CommitHold) -> None:
        self._holds -= 1
        if self._holds == 0:
            self._no_commit.set()
        if self.on_held is not None:
            self.on_held(time.perf_counter() - hold.asked)
