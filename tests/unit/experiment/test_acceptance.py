"""Acceptance rates: two-level Beta smoothing toward the placement's rate and a prior."""

from __future__ import annotations

import pytest

from streams.experiment import AcceptanceStats, Counts


def stats_with(
    shown: dict[tuple[str, str], int], accepted: dict[tuple[str, str], int]
) -> AcceptanceStats:
    stats = AcceptanceStats()
    for (placement, product), n in shown.items():
        stats = stats.with_shown(placement, product, n)
    for (placement, product), n in accepted.items():
        stats = stats.with_accepted(placement, product, n)
    return stats


def test_nothing_known_gives_the_prior() -> None:
    assert AcceptanceStats().rate("cart", "mug", 0.05, 20) == pytest.approx(0.05)


def test_an_unseen_product_gets_the_placements_smoothed_rate() -> None:
    stats = stats_with({("cart", "a"): 80, ("cart", "b"): 20}, {("cart", "a"): 10})
    placement = (10 + 20 * 0.05) / (100 + 20)
    assert stats.placement_rate("cart", 0.05, 20) == pytest.approx(placement)
    assert stats.rate("cart", "new", 0.05, 20) == pytest.approx(placement)
    assert stats.rate("confirmation", "a", 0.05, 20) == pytest.approx(0.05)


def test_a_product_is_shrunk_toward_its_placement() -> None:
    stats = stats_with({("cart", "a"): 80, ("cart", "b"): 20}, {("cart", "a"): 10})
    placement = (10 + 20 * 0.05) / 120
    assert stats.rate("cart", "a", 0.05, 20) == pytest.approx((10 + 20 * placement) / (80 + 20))
    assert stats.rate("cart", "b", 0.05, 20) == pytest.approx((0 + 20 * placement) / (20 + 20))
    assert stats.rate("cart", "b", 0.05, 20) < placement < stats.rate("cart", "a", 0.05, 20)


def test_many_showings_approach_the_measured_rate() -> None:
    stats = stats_with({("cart", "a"): 100_000}, {("cart", "a"): 30_000})
    assert stats.rate("cart", "a", 0.01, 10) == pytest.approx(0.3, abs=1e-3)


def test_acceptances_without_showings_still_give_a_rate_in_range() -> None:
    stats = stats_with({}, {("cart", "a"): 5})
    assert 0 < stats.rate("cart", "a", 0.05, 1) <= 1
    assert Counts(shown=2, accepted=5).posterior_mean(0.5, 1) == pytest.approx((5 + 0.5) / (5 + 1))


def test_batch_updates_merge_and_round_trip() -> None:
    batch = AcceptanceStats().with_counts(
        shown=[("cart", "a"), ("cart", "a"), ("confirmation", "b")], accepted=[("cart", "a")]
    )
    assert batch.placements["cart"] == Counts(2, 1)
    assert batch.products[("confirmation", "b")] == Counts(1, 0)
    merged = batch.merged(batch)
    assert merged.products[("cart", "a")] == Counts(4, 2)
    assert merged.placements["confirmation"] == Counts(2, 0)
    assert AcceptanceStats.from_dict(merged.to_dict()) == merged
    assert batch.with_counts() is batch


def test_arguments_are_validated() -> None:
    with pytest.raises(ValueError, match="prior_rate"):
        AcceptanceStats().rate("cart", "a", 1.5, 10)
    with pytest.raises(ValueError, match="prior_strength"):
        AcceptanceStats().rate("cart", "a", 0.1, 0)
    with pytest.raises(ValueError, match="count"):
        AcceptanceStats().with_shown("cart", "a", -1)
