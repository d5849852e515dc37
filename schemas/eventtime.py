"""Event-time bounds of the contract: which `ts` values are plausible epoch milliseconds.

Two rules, both applied at the boundary:

- A `ts` must lie in [MIN_TS_MS, MAX_TS_MS), 2000-01-01 to 3000-01-01 UTC. Below it, the
  value is almost always epoch seconds sent as milliseconds (read as 1970); above it,
  micro- or nanoseconds. This is a property of the message alone (the JSON Schemas carry
  it) and the decoder rejects it as `ts_implausible`.
- A `ts` must not be more than the allowed skew (BASKETLIFT_MAX_FUTURE_SKEW_SECONDS)
  ahead of the receiving worker's wall clock, else it is `ts_in_future`. This depends on
  when the message is read, so it is checked with an explicit `now_ms`, never inside the
  models. Every clock the worker shares between events (its event clock, a product's
  `as_of_ts`) only moves forward, so one event from the far future would pin it there.

Real data from 2000 onwards (such as the 2009-2011 sample replays) is in range.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime
from typing import Final

MIN_TS_MS: Final = 946_684_800_000
"""2000-01-01T00:00:00Z: earlier values are rejected (epoch seconds read as 1970)."""
MAX_TS_MS: Final = 32_503_680_000_000
"""3000-01-01T00:00:00Z: this and later values are rejected (micro- or nanoseconds)."""


def wall_clock_ms() -> int:
    """This host's wall-clock time in epoch milliseconds."""
    return int(time.time() * 1000)


def latest_allowed_ts(now_ms: int, max_future_skew_ms: int) -> int:
    """The latest event time accepted when the wall clock reads `now_ms`."""
    return now_ms + max_future_skew_ms


def iso_utc(ts_ms: int) -> str:
    """`ts_ms` as an ISO 8601 UTC time with milliseconds, or the bare number out of range."""
    try:
        moment = datetime.fromtimestamp(ts_ms / 1000, UTC)
    except (OverflowError, OSError, ValueError):
        return str(ts_ms)
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")
