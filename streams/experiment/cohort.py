"""Deterministic holdout assignment: the same unit and salt give the same cohort everywhere.

The unit (a shopper id, or the session id of an anonymous visitor) is hashed with BLAKE2b
as ``salt + ":" + unit_id`` (UTF-8); the top 53 bits of the first 8 digest bytes (read
big-endian) give ``u = h / 2**53``, exactly representable and in [0, 1); the unit is in
the holdout when ``u < holdout_fraction``. No Python ``hash()`` (randomised per process),
so every worker, replay and report agrees. Raising the fraction only moves treatment
units into the holdout (the holdout at 5% is a subset of the holdout at 10%); a new salt
draws a fresh, independent split.
"""

from __future__ import annotations

import hashlib
import math
from typing import Final

from schemas.events import Cohort

__all__ = ["Cohort", "cohort_for", "unit_position"]

_SCALE: Final = float(2**53)


def unit_position(unit_id: str, salt: str) -> float:
    """The unit's uniform position in [0, 1) for this salt."""
    digest = hashlib.blake2b(f"{salt}:{unit_id}".encode(), digest_size=8).digest()
    return (int.from_bytes(digest, "big") >> 11) / _SCALE


def cohort_for(unit_id: str, salt: str, holdout_fraction: float) -> Cohort:
    """The unit's cohort: "holdout" for a stable ``holdout_fraction`` share of units."""
    if (
        isinstance(holdout_fraction, bool)
        or not isinstance(holdout_fraction, int | float)
        or not math.isfinite(holdout_fraction)
        or not 0 <= holdout_fraction <= 1
    ):
        raise ValueError(f"holdout_fraction must be in [0, 1], got {holdout_fraction!r}")
    return "holdout" if unit_position(unit_id, salt) < holdout_fraction else "treatment"
