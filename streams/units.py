"""Time units in epoch milliseconds, the unit of every event time (``ts``) and window.

Defined once here and imported wherever a duration in days or hours becomes milliseconds,
so that every window (decay half-lives, fatigue, attribution, cross-order pairs, the offline
evaluation's refresh) converts the same way. Pure constants: no imports.
"""

from __future__ import annotations

from typing import Final

__all__ = ["DAY_MS", "HOUR_MS", "MINUTE_MS", "SECOND_MS"]

SECOND_MS: Final = 1_000
MINUTE_MS: Final = 60 * SECOND_MS
HOUR_MS: Final = 60 * MINUTE_MS
DAY_MS: Final = 24 * HOUR_MS
