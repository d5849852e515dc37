"""AOV lift with a confidence interval: recovers a planted lift; the t quantile is right."""

from __future__ import annotations

import numpy as np
import pytest

from streams.experiment import lift_with_ci, student_t_quantile

TRUE_LIFT = 0.08


def cohorts(seed: int, n: int = 4000) -> tuple[np.ndarray, np.ndarray]:
    """Skewed (log-normal) order values; the treatment's mean is planted 8% higher."""
    rng = np.random.default_rng(seed)
    holdout = rng.lognormal(3.5, 0.8, n)
    treatment = rng.lognormal(3.5, 0.8, n) * (1 + TRUE_LIFT)
    return treatment, holdout


@pytest.mark.parametrize("method", ["bootstrap", "welch"])
def test_recovers_a_planted_lift_and_covers_it(method: str) -> None:
    treatment, holdout = cohorts(seed=7)
    result = lift_with_ci(treatment, holdout, method=method)  # type: ignore[arg-type]
    assert result.lift == pytest.approx(treatment.mean() / holdout.mean() - 1)
    assert abs(result.lift - TRUE_LIFT) < 0.05
    assert result.ci_low < TRUE_LIFT < result.ci_high
    assert result.ci_low < result.lift < result.ci_high
    assert result.ci_high - result.ci_low < 0.15
    assert (result.n_treatment, result.n_holdout) == (4000, 4000)
    assert result.aov_treatment == pytest.approx(treatment.mean())


def test_bootstrap_and_welch_agree_on_large_samples() -> None:
    treatment, holdout = cohorts(seed=3)
    boot = lift_with_ci(treatment, holdout, method="bootstrap")
    welch = lift_with_ci(treatment, holdout, method="welch")
    assert boot.ci_low == pytest.approx(welch.ci_low, abs=0.01)
    assert boot.ci_high == pytest.approx(welch.ci_high, abs=0.01)


def test_welch_interval_covers_the_truth_about_95_percent_of_the_time() -> None:
    covered = 0
    runs = 300
    for seed in range(runs):
        treatment, holdout = cohorts(seed=1000 + seed, n=300)
        result = lift_with_ci(treatment, holdout, method="welch")
        covered += result.ci_low < TRUE_LIFT < result.ci_high
    assert 0.91 <= covered / runs <= 0.99


def test_no_lift_is_not_significant_and_a_big_one_is() -> None:
    rng = np.random.default_rng(11)
    same = rng.lognormal(3.5, 0.8, (2, 3000))
    assert not lift_with_ci(same[0], same[1], method="welch").significant
    assert lift_with_ci(same[0] * 1.3, same[1]).significant


def test_bootstrap_is_reproducible_with_a_seed() -> None:
    treatment, holdout = cohorts(seed=5, n=500)
    first = lift_with_ci(treatment, holdout, seed=1, resamples=500)
    assert first == lift_with_ci(treatment, holdout, seed=1, resamples=500)
    assert first != lift_with_ci(treatment, holdout, seed=2, resamples=500)


def test_a_wider_confidence_gives_a_wider_interval() -> None:
    treatment, holdout = cohorts(seed=9, n=800)
    narrow = lift_with_ci(treatment, holdout, method="welch", confidence=0.8)
    wide = lift_with_ci(treatment, holdout, method="welch", confidence=0.99)
    assert wide.ci_low < narrow.ci_low < narrow.ci_high < wide.ci_high


@pytest.mark.parametrize(
    ("p", "df", "expected"),
    [
        (0.975, 1, 12.7062),
        (0.975, 2, 4.3027),
        (0.975, 5, 2.5706),
        (0.975, 30, 2.0423),
        (0.95, 10, 1.8125),
        (0.995, 100, 2.6259),
        (0.975, 1e9, 1.9600),
        (0.025, 5, -2.5706),
    ],
)
def test_student_t_quantile_matches_tables(p: float, df: float, expected: float) -> None:
    assert student_t_quantile(p, df) == pytest.approx(expected, abs=1e-4)


def test_arguments_are_validated() -> None:
    with pytest.raises(ValueError, match="at least 2 values"):
        lift_with_ci([1.0], [1.0, 2.0])
    with pytest.raises(ValueError, match="finite"):
        lift_with_ci([1.0, float("nan")], [1.0, 2.0])
    with pytest.raises(ValueError, match="holdout's mean is 0"):
        lift_with_ci([1.0, 2.0], [0.0, 0.0])
    with pytest.raises(ValueError, match="method"):
        lift_with_ci([1.0, 2.0], [1.0, 2.0], method="magic")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="confidence"):
        lift_with_ci([1.0, 2.0], [1.0, 2.0], confidence=1.0)
