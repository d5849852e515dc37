"""Calibration of ``p_accept``: predicted against observed acceptance, by decile.

Each offer is one forecast: its ``p_accept`` and whether it was accepted (0 or 1). The
offers are sorted by ``p_accept`` and cut into ``bins`` groups of equal size (deciles by
default; the first groups get one more offer when the count does not divide, and equal
predictions on a boundary may fall on both sides, deterministically by the stable sort).
Per group: the offers, the mean ``p_accept`` and the observed acceptance rate. The expected
calibration error is the offer-weighted mean absolute gap between the two,
``ECE = sum_g n_g / n x |mean p_g - observed_g|``: 0 for a calibrated forecast (on this
binning), at most 1. Pure: numpy.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

__all__ = ["CalibrationBin", "expected_calibration_error", "reliability_bins"]


@dataclass(frozen=True, slots=True)
class CalibrationBin:
    """One group of offers with similar ``p_accept``."""

    offers: int
    mean_predicted: float
    observed: float
    """Share of the group's offers that were accepted."""


def reliability_bins(
    predicted: Sequence[float], accepted: Sequence[bool], bins: int = 10
) -> list[CalibrationBin]:
    """The offers in `bins` equal-size groups by predicted probability, lowest first.

    Fewer groups when there are fewer offers than `bins` (no empty group); none without
    offers. ValueError when the two sequences differ in length, `bins` < 1 or a prediction
    is outside [0, 1].
    """
    if bins < 1:
        raise ValueError(f"bins must be >= 1, got {bins!r}")
    if len(predicted) != len(accepted):
        raise ValueError(f"{len(predicted)} predictions but {len(accepted)} outcomes")
    p = np.asarray(predicted, np.float64)
    if len(p) and not (np.all(p >= 0.0) and np.all(p <= 1.0)):
        raise ValueError("predictions must be probabilities in [0, 1]")
    y = np.asarray(accepted, np.float64)
    order = np.argsort(p, kind="stable")
    groups = np.array_split(order, min(bins, len(p))) if len(p) else []
    return [
        CalibrationBin(len(group), float(p[group].mean()), float(y[group].mean()))
        for group in groups
    ]


def expected_calibration_error(groups: Sequence[CalibrationBin]) -> float:
    """Offer-weighted mean |mean predicted - observed| over the groups (0.0 without offers)."""
    total = sum(group.offers for group in groups)
    if not total:
        return 0.0
    return (
        sum(group.offers * abs(group.mean_predicted - group.observed) for group in groups) / total
    )
