"""A sliding-window mean (average order value over the last hour): pure, no Faust."""

from __future__ import annotations

from collections import deque


class SlidingMean:
    """Mean of the values added in the last `window_s` seconds (times given by the caller)."""

    def __init__(self, window_s: float) -> None:
        if window_s <= 0:
            raise ValueError(f"window_s must be > 0, got {window_s!r}")
        self.window_s = window_s
        self._values: deque[tuple[float, float]] = deque()
        self._sum = 0.0

    def add(self, now_s: float, value: float) -> None:
        """Add a value observed at `now_s`."""
        self._values.append((now_s, value))
        self._sum += value
        self.expire(now_s)

    def expire(self, now_s: float) -> None:
        """Drop values older than the window."""
        while self._values and now_s - self._values[0][0] > self.window_s:
            self._sum -= self._values.popleft()[1]
        if not self._values:
            self._sum = 0.0

    def mean(self, now_s: float) -> float | None:
        """The mean over the window at `now_s`, None when it is empty."""
        self.expire(now_s)
        return self._sum / len(self._values) if self._values else None

    def __len__(self) -> int:
        return len(self._values)
