"""Holdout assignment: deterministic, stable across processes, the right share, salt-driven."""

from __future__ import annotations

import subprocess
import sys

import pytest

from streams.experiment import cohort_for, unit_position

IDS = [f"shopper-{i}" for i in range(20_000)]


def test_same_input_same_cohort() -> None:
    first = [cohort_for(uid, "s1", 0.1) for uid in IDS[:500]]
    assert first == [cohort_for(uid, "s1", 0.1) for uid in IDS[:500]]


def test_stable_across_processes() -> None:
    # Another interpreter (own hash seed) must agree: no Python hash() involved.
    code = (
        "from streams.experiment import cohort_for;"
        "print(''.join('h' if cohort_for(f'shopper-{i}', 's1', 0.5) == 'holdout' else 't'"
        " for i in range(200)))"
    )
    env = {"PYTHONHASHSEED": "12345"}
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, env=env
    ).stdout.strip()
    here = "".join(
        "h" if cohort_for(f"shopper-{i}", "s1", 0.5) == "holdout" else "t" for i in range(200)
    )
    assert out == here
    assert "h" in here and "t" in here


@pytest.mark.parametrize("fraction", [0.05, 0.1, 0.5])
def test_fraction_within_2_percent_over_20k_ids(fraction: float) -> None:
    share = sum(cohort_for(uid, "s1", fraction) == "holdout" for uid in IDS) / len(IDS)
    assert abs(share - fraction) <= 0.02


def test_zero_and_one() -> None:
    assert all(cohort_for(uid, "s1", 0.0) == "treatment" for uid in IDS[:2000])
    assert all(cohort_for(uid, "s1", 1.0) == "holdout" for uid in IDS[:2000])


def test_raising_the_fraction_only_adds_to_the_holdout() -> None:
    small = {uid for uid in IDS if cohort_for(uid, "s1", 0.05) == "holdout"}
    large = {uid for uid in IDS if cohort_for(uid, "s1", 0.10) == "holdout"}
    assert small < large


def test_a_new_salt_reshuffles_like_an_independent_draw() -> None:
    fraction = 0.2
    a = {uid for uid in IDS if cohort_for(uid, "s1", fraction) == "holdout"}
    b = {uid for uid in IDS if cohort_for(uid, "s2", fraction) == "holdout"}
    assert a != b
    # Independent splits: P(holdout under both) = 0.2 * 0.2 = 4%.
    overlap = len(a & b) / len(IDS)
    assert abs(overlap - fraction * fraction) <= 0.01
    # P(same cohort) = 0.2^2 + 0.8^2 = 68%.
    same = sum((uid in a) == (uid in b) for uid in IDS) / len(IDS)
    assert abs(same - 0.68) <= 0.02


def test_positions_are_uniform_in_the_unit_interval() -> None:
    positions = [unit_position(uid, "s1") for uid in IDS]
    assert all(0.0 <= p < 1.0 for p in positions)
    deciles = [0] * 10
    for p in positions:
        deciles[int(p * 10)] += 1
    assert all(abs(count / len(IDS) - 0.1) <= 0.01 for count in deciles)


@pytest.mark.parametrize("bad", [-0.1, 1.1, float("nan"), True])
def test_fraction_is_validated(bad: float) -> None:
    with pytest.raises(ValueError, match=r"holdout_fraction must be in \[0, 1\]"):
        cohort_for("x", "s1", bad)
