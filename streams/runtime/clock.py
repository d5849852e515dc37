"""The worker's event clock: the latest event time it has processed, "now" for event-time
logic such as whether a shopper counts as lapsed."""

from __future__ import annotations

import logging
from collections.abc import Callable

from schemas.eventtime import iso_utc, latest_allowed_ts, wall_clock_ms
from streams.ops import metrics

__all__ = ["EventClock"]

log = logging.getLogger(__name__)


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
