"""streams/runtime/clock.py: the event clock moves forward, never past wall clock + skew."""

from __future__ import annotations

import logging

import pytest

from streams.ops import metrics
from streams.runtime.clock import EventClock

WALL_MS = 1_763_740_800_000
SKEW_MS = 300_000
YEAR_2984_MS = 31_998_758_400_000


def refused_count() -> float:
    value = metrics.REGISTRY.get_sample_value(
        "basketlift_event_times_refused_total", {"clock": "event_clock"}
    )
    return value or 0.0


def clock_at(wall_ms: int) -> EventClock:
    return EventClock(SKEW_MS, wall_clock=lambda: wall_ms)


def test_the_clock_moves_up_to_exactly_the_skew_past_the_wall_clock_and_no_further() -> None:
    clock = clock_at(WALL_MS)
    assert clock.observe(WALL_MS + SKEW_MS)
    assert not clock.observe(WALL_MS + SKEW_MS + 1)
    assert clock.now_ms == WALL_MS + SKEW_MS


def test_a_time_beyond_the_skew_is_refused_counted_and_logged(
    caplog: pytest.LogCaptureFixture,
) -> None:
    clock = clock_at(WALL_MS)
    clock.observe(WALL_MS - 1000)
    before = refused_count()
    with caplog.at_level(logging.WARNING, logger="streams.runtime.clock"):
        assert not clock.observe(YEAR_2984_MS)
        assert not clock.observe(WALL_MS + SKEW_MS + 1)
    assert clock.now_ms == WALL_MS - 1000
    assert refused_count() - before == 2
    lines = [r.getMessage() for r in caplog.records if r.name == "streams.runtime.clock"]
    assert len(lines) == 2
    assert lines[0].startswith(f"event clock refused ts {YEAR_2984_MS} (2984-01-01T00:00:00.000Z)")


def test_the_limit_follows_the_wall_clock() -> None:
    wall = [WALL_MS]
    clock = EventClock(SKEW_MS, wall_clock=lambda: wall[0])
    assert not clock.observe(WALL_MS + 2 * SKEW_MS)
    wall[0] += SKEW_MS  # time passes: the same event time is now within the skew
    assert clock.observe(WALL_MS + 2 * SKEW_MS)
    assert clock.now_ms == WALL_MS + 2 * SKEW_MS
