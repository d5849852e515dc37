"""streams/tools/evaluation/calibration: reliability deciles and the expected calibration error."""

from __future__ import annotations

import pytest

from streams.tools.evaluation.calibration import (
    CalibrationBin,
    expected_calibration_error,
    reliability_bins,
)


def test_deciles_are_equal_size_groups_sorted_by_prediction() -> None:
    # 20 offers, predictions 0.00..0.19 given out of order; the top half was accepted.
    predicted = [i / 100 for i in reversed(range(20))]
    accepted = [i >= 10 for i in reversed(range(20))]
    groups = reliability_bins(predicted, accepted, bins=10)
    assert [g.offers for g in groups] == [2] * 10
    assert [g.mean_predicted for g in groups] == pytest.approx(
        [(2 * i + 0.5) / 100 for i in range(10)]
    )
    assert [g.observed for g in groups] == [0.0] * 5 + [1.0] * 5


def test_ece_is_the_offer_weighted_gap() -> None:
    groups = [CalibrationBin(3, 0.2, 0.0), CalibrationBin(1, 0.5, 0.5)]
    assert expected_calibration_error(groups) == pytest.approx(3 * 0.2 / 4)
    assert expected_calibration_error([]) == 0.0


def test_a_calibrated_forecast_has_no_error_and_a_confident_one_has_its_gap() -> None:
    # Each decile's acceptance equals its prediction exactly: ECE 0.
    predicted = [0.1] * 10 + [0.5] * 10
    accepted = [i == 0 for i in range(10)] + [i < 5 for i in range(10)]
    assert expected_calibration_error(reliability_bins(predicted, accepted, bins=2)) == 0.0
    # p_accept 0.4 where 1 offer in 50 is accepted (the offline protocol's scale): 0.38.
    predicted = [0.4] * 50
    accepted = [i == 0 for i in range(50)]
    assert expected_calibration_error(reliability_bins(predicted, accepted)) == pytest.approx(0.38)


def test_fewer_offers_than_bins_and_bad_input() -> None:
    assert [g.offers for g in reliability_bins([0.3, 0.1, 0.2], [True, False, False])] == [1, 1, 1]
    assert reliability_bins([], []) == []
    with pytest.raises(ValueError, match="outcomes"):
        reliability_bins([0.1], [])
    with pytest.raises(ValueError, match="probabilities"):
        reliability_bins([1.5], [True])
    with pytest.raises(ValueError, match="bins"):
        reliability_bins([0.1], [True], bins=0)
