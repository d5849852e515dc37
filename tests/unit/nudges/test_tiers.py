"""Loyalty-tier nudge: proximity bounds, the top tier and parsing tiers from settings."""

from __future__ import annotations

import pytest

from streams.nudges import NudgeConfig, Tier, next_tier, parse_tiers, tier_nudge

TIERS = parse_tiers("Silver:200,Gold:500,Platinum:1500")


def test_parse_tiers() -> None:
    expected = (Tier("Silver", 200.0), Tier("Gold", 500.0), Tier("Platinum", 1500.0))
    assert parse_tiers("Silver:200,Gold:500,Platinum:1500") == expected
    assert parse_tiers(" Silver : 200.5 , Gold:500 ") == (
        Tier("Silver", 200.5),
        Tier("Gold", 500.0),
    )
    assert parse_tiers("") == ()
    assert parse_tiers("   ") == ()


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("Silver200", r"tier 1 'Silver200': expected NAME:THRESHOLD"),
        (":200", r"tier 1 ':200': expected NAME:THRESHOLD"),
        ("Silver:abc", r"tier 'Silver': threshold must be a number, got 'abc'"),
        ("Silver:-5", r"tier 'Silver' threshold must be > 0, got -5.0"),
        ("Silver:inf", r"tier 'Silver' threshold must be finite"),
        ("Silver:200,,Gold:500", r"tier 2 is empty"),
        ("Silver:200,Silver:500", r"tier 'Silver' is listed twice"),
        (
            "Gold:500,Silver:200",
            r"tier thresholds must increase: 'Silver' \(200\) comes after 'Gold' \(500\)",
        ),
        ("Silver:200,Gold:200", r"must increase: 'Gold' \(200\) comes after 'Silver' \(200\)"),
    ],
)
def test_parse_tiers_errors(text: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        parse_tiers(text)


def test_next_tier() -> None:
    assert next_tier(0.0, TIERS) == Tier("Silver", 200.0)
    assert next_tier(200.0, TIERS) == Tier("Gold", 500.0)  # reaching a tier counts
    assert next_tier(1499.99, TIERS) == Tier("Platinum", 1500.0)
    assert next_tier(1500.0, TIERS) is None


def test_seed_message_names_the_tier_and_the_gap() -> None:
    nudge = tier_nudge(460.0, 25.0, TIERS)
    assert nudge is not None
    assert (nudge.kind, nudge.threshold, nudge.gap) == ("loyalty_tier", 500.0, 40.0)
    assert nudge.message == "Spend 40.00 GBP more this year to reach Gold"


def test_proximity_bounds_just_inside_and_just_outside() -> None:
    # Gold at 500, proximity_max 0.3: a gap of at most 150.00, i.e. spend from 350.00.
    inside = tier_nudge(350.00, 10.0, TIERS)
    assert inside is not None and inside.gap == 150.00
    assert tier_nudge(349.99, 10.0, TIERS) is None
    # A tighter window (20%): at most 100.00 short of Gold.
    assert tier_nudge(400.00, 10.0, TIERS, proximity_max=0.2) is not None
    assert tier_nudge(399.99, 10.0, TIERS, proximity_max=0.2) is None
    # proximity_min: shoppers already closer than 5% (25.00) are not prompted.
    assert tier_nudge(475.00, 10.0, TIERS, proximity_min=0.05) is not None
    assert tier_nudge(475.01, 10.0, TIERS, proximity_min=0.05) is None


def test_no_prompt_at_the_top_tier_or_with_an_empty_cart() -> None:
    assert tier_nudge(1500.0, 100.0, TIERS) is None
    assert tier_nudge(9000.0, 100.0, TIERS) is None
    assert tier_nudge(460.0, 0.0, TIERS) is None
    assert tier_nudge(460.0, 10.0, ()) is None


def test_the_first_tier_and_currency() -> None:
    nudge = tier_nudge(150.0, 5.0, TIERS, currency="EUR")
    assert nudge is not None
    assert nudge.message == "Spend 50.00 EUR more this year to reach Silver"


def test_tier_arguments_are_validated() -> None:
    with pytest.raises(ValueError, match=r"proximity_min .* must not exceed proximity_max"):
        tier_nudge(460.0, 10.0, TIERS, proximity_min=0.4, proximity_max=0.3)
    with pytest.raises(ValueError, match="proximity_max must be in"):
        tier_nudge(460.0, 10.0, TIERS, proximity_max=1.5)
    with pytest.raises(ValueError, match="spend_365 must be >= 0"):
        tier_nudge(-1.0, 10.0, TIERS)
    with pytest.raises(ValueError, match="must increase"):
        NudgeConfig(tiers=(Tier("Gold", 500.0), Tier("Silver", 200.0)))
