"""Free-shipping nudge: personal threshold (friendly rounding, clamping) and the gap."""

from __future__ import annotations

import pytest

from schemas.events import Nudge
from streams.nudges import (
    NudgeConfig,
    Tier,
    free_shipping_nudge,
    friendly_amount,
    personal_threshold,
    propose_nudges,
)

BOUNDS = {"base": 40.0, "minimum": 20.0, "maximum": 150.0}


def test_seed_case_typical_42_gives_threshold_50_and_a_gap_of_8() -> None:
    threshold = personal_threshold(42.00, **BOUNDS)
    assert threshold == 50.00
    nudge = free_shipping_nudge(42.00, threshold)
    assert nudge is not None
    assert nudge.kind == "free_shipping"
    assert nudge.threshold == 50.00
    assert nudge.gap == 8.00
    assert nudge.message == "Add 8.00 GBP more for free shipping"


def test_the_proposal_maps_onto_the_contract_nudge() -> None:
    nudge = free_shipping_nudge(42.00, 50.00, currency="EUR")
    assert nudge is not None
    wire = Nudge(kind=nudge.kind, threshold=nudge.threshold, gap=nudge.gap, message=nudge.message)
    assert wire.message == "Add 8.00 EUR more for free shipping"


@pytest.mark.parametrize(
    ("raw", "friendly"),
    [
        (50.4, 50.0),
        (52.4, 50.0),
        (52.5, 55.0),  # halves round up
        (57.6, 60.0),
        (97.4, 95.0),
        (97.5, 100.0),
        (100.0, 100.0),
        (104.9, 100.0),
        (105.0, 110.0),
        (123.0, 120.0),
        (2.4, 0.0),
    ],
)
def test_friendly_rounding_is_to_5_below_100_and_to_10_from_100(
    raw: float, friendly: float
) -> None:
    assert friendly_amount(raw) == friendly


@pytest.mark.parametrize(
    ("typical", "expected"),
    [
        (42.00, 50.00),  # 50.40
        (60.00, 70.00),  # 72.00
        (90.00, 110.00),  # 108.00
        (10.00, 20.00),  # 12.00 -> 10 -> clamped up to the minimum
        (500.00, 150.00),  # 600 -> clamped down to the maximum
        (None, 40.00),  # no profile: the base
        (0.0, 40.00),
    ],
)
def test_personal_threshold(typical: float | None, expected: float) -> None:
    assert personal_threshold(typical, **BOUNDS) == expected


def test_factor_changes_the_threshold() -> None:
    assert personal_threshold(42.00, **BOUNDS, factor=1.5) == 65.00  # 63.00 -> 65


def test_threshold_arguments_are_validated() -> None:
    with pytest.raises(ValueError, match=r"minimum .* must not exceed maximum"):
        personal_threshold(42.0, base=40, minimum=100, maximum=50)
    with pytest.raises(ValueError, match="factor must be > 0"):
        personal_threshold(42.0, **BOUNDS, factor=0)
    with pytest.raises(ValueError, match="base must be finite"):
        personal_threshold(42.0, base=float("nan"), minimum=1, maximum=2)


def test_no_nudge_at_or_over_the_threshold() -> None:
    assert free_shipping_nudge(50.00, 50.00) is None
    assert free_shipping_nudge(50.01, 50.00) is None
    assert free_shipping_nudge(80.00, 50.00) is None


def test_no_nudge_when_the_gap_is_too_large() -> None:
    # 30% of 50.00 is 15.00: 35.00 is exactly at the limit, 34.99 just beyond it.
    at_limit = free_shipping_nudge(35.00, 50.00)
    assert at_limit is not None and at_limit.gap == 15.00
    assert free_shipping_nudge(34.99, 50.00) is None
    assert free_shipping_nudge(0.0, 50.00) is None
    wider = free_shipping_nudge(30.00, 50.00, max_gap_share=0.5)
    assert wider is not None and wider.message == "Add 20.00 GBP more for free shipping"


def test_gap_is_exact_to_the_cent() -> None:
    nudge = free_shipping_nudge(49.99, 50.00)
    assert nudge is not None
    assert nudge.gap == 0.01
    assert nudge.message == "Add 0.01 GBP more for free shipping"
    other = free_shipping_nudge(41.335, 50.0)  # cart values are rounded to the cent first
    assert other is not None and other.message.startswith("Add 8.66 ")


def test_nudge_arguments_are_validated() -> None:
    with pytest.raises(ValueError, match="max_gap_share must be in"):
        free_shipping_nudge(40.0, 50.0, max_gap_share=0)
    with pytest.raises(ValueError, match="cart_value must be >= 0"):
        free_shipping_nudge(-1.0, 50.0)
    with pytest.raises(ValueError, match="threshold must be > 0"):
        free_shipping_nudge(1.0, 0.0)


def test_propose_nudges_uses_the_profile_threshold_and_the_tiers() -> None:
    config = NudgeConfig(shipping_base=40.0, tiers=(Tier("Gold", 500.0),))
    proposals = propose_nudges(42.00, 42.00, 460.0, config)
    assert [p.kind for p in proposals] == ["free_shipping", "loyalty_tier"]
    assert proposals[0].gap == 8.00
    assert proposals[1].gap == 40.00
    # Anonymous: the base threshold (40.00), already reached; no spend, so no tier prompt.
    assert propose_nudges(42.00, None, None, config) == ()
