"""Writing Faust tables from batches: each key is written in the context of its own event.

Faust places a table write (its RocksDB partition and its changelog partition) by the
"current event". When an agent processes a batch taken with `stream.take_events`, there is
no single current event, so every write names the event it belongs to. Because ingest
routes every event to the partition of its key, that event's partition is the key's.
"""

from __future__ import annotations

import asyncio
import logging
import weakref
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import asynccontextmanager, contextmanager

from faust.types import EventT

from schemas.eventtime import iso_utc, latest_allowed_ts, wall_clock_ms
from streams import metrics
from streams.faustcompat import current_event_var
from streams.settings import get_settings

log = logging.getLogger(__name__)


@contextmanager
def acting_for(event: EventT | None) -> Iterator[None]:
    """Make `event` Faust's current event for the table reads, writes and sends in this block."""
    current_event = current_event_var()
    token = current_event.set(weakref.ref(event) if event is not None else None)
    try:
        yield
    finally:
        current_event.reset(token)


class EventClock:
    """The latest event time (`ts`) this worker has processed: "now" for event-time logic.

    It only moves forward, so a single event time far ahead would hold it there (every
    shopper lapsed until a restart). It therefore never moves more than `max_future_skew_ms`
    past the wall clock: a later time is refused, counted and logged. The boundary already
    rejects such events (ts_in_future); this holds even for an event that got past it.
    """

    def __init__(
        self, max_future_skew_ms: int, wall_clock: Callable[[], int] = wall_clock_ms
    ) -> None:
        self.now_ms = 0
        self.max_future_skew_ms = max_future_skew_ms
        self._wall_clock = wall_clock

    def observe(self, ts_ms: int) -> bool:
        """Advance the clock to `ts_ms` if it is later; False if refused as too far ahead."""
        if ts_ms <= self.now_ms:
            return True
        wall_ms = self._wall_clock()
        if ts_ms > latest_allowed_ts(wall_ms, self.max_future_skew_ms):
            metrics.EVENT_TIMES_REFUSED.labels(clock="event_clock").inc()
            log.warning(
                "event clock refused ts %d (%s): more than %g s ahead of the wall clock (%s)",
                ts_ms,
                iso_utc(ts_ms),
                self.max_future_skew_ms / 1000,
                iso_utc(wall_ms),
            )
            return False
        self.now_ms = ts_ms
        return True


event_clock = EventClock(get_settings().max_future_skew_ms)


def event_time_now() -> int:
    """The latest event time seen by this worker (0 before any event)."""
    return event_clock.now_ms


class CommitGate:
    """Commits wait for batches in flight, and new batches wait for a commit in progress.

    Faust commits on a timer from another task. Under exactly-once, a commit that ran while a
    batch was between its writes and its acks would commit some of the batch's outputs
    without its input offsets, and a crash then would apply the batch twice. Batches are
    the readers, the commit the writer; the acks that follow a batch run without suspending,
    so they complete before a waiting commit resumes.
    """

    def __init__(self) -> None:
        self._batches = 0
        self._no_batches = asyncio.Event()
        self._no_batches.set()
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
        """Wait for any commit in progress, then count this batch in."""
        await self._no_commit.wait()
        self._batches += 1
        self._no_batches.clear()

    def end_batch(self) -> None:
        """Count this batch out."""
        self._batches -= 1
        if self._batches == 0:
            self._no_batches.set()

    @asynccontextmanager
    async def committing(self) -> AsyncIterator[None]:
        """Hold new batches off and wait for the running ones, for the duration of a commit."""
        self._no_commit.clear()
        try:
            await self._no_batches.wait()
            yield
        finally:
            self._no_commit.set()


commit_gate = CommitGate()
