"""Segment thresholds: just below and at each boundary."""

from __future__ import annotations

import pytest

from streams.profiles import SEGMENTS, OrderLineFacts, ProfileConfig, ShopperProfile
from tests.unit.profiles.helpers import CONFIG, T0, days, fold, order, order_of_value


def test_no_orders_is_new_only() -> None:
    assert ShopperProfile.empty("s1").segments(T0, CONFIG) == ("new",)


@pytest.mark.parametrize(("orders", "is_new"), [(1, True), (2, False)])
def test_new_up_to_new_max_orders(orders: int, is_new: bool) -> None:
    profile = fold(order_of_value(f"o{i}", T0 + i, 1.0) for i in range(orders))

    assert ("new" in profile.segments(T0, CONFIG)) is is_new


def test_new_max_orders_follows_the_config() -> None:
    profile = fold(order_of_value(f"o{i}", T0 + i, 1.0) for i in range(3))

    assert "new" in profile.segments(T0, ProfileConfig(new_max_orders=3))
    assert "new" not in profile.segments(T0, ProfileConfig(new_max_orders=2))


@pytest.mark.parametrize(("value", "member"), [(99.99, False), (100.0, True)])
def test_high_spender_from_typical_order_of_100(value: float, member: bool) -> None:
    profile = fold([order_of_value("o1", T0, value), order_of_value("o2", T0 + 1, value)])

    assert ("high_spender" in profile.segments(T0, CONFIG)) is member


@pytest.mark.parametrize(("spend", "member"), [(999.99, False), (1000.0, True)])
def test_high_ltv_from_lifetime_spend_of_1000(spend: float, member: bool) -> None:
    profile = fold([order_of_value("o1", T0, spend / 2), order_of_value("o2", T0 + 1, spend / 2)])

    assert ("high_ltv" in profile.segments(T0, CONFIG)) is member


def discount_orders(count: int, discounted_value: float, full_value: float) -> ShopperProfile:
    """count orders, each with one discounted line and one at list price of the given values."""
    return fold(
        order(
            f"o{i}",
            T0 + i,
            OrderLineFacts("cut", 1, discounted_value, list_price=discounted_value * 2),
            OrderLineFacts("full", 1, full_value, list_price=full_value),
        )
        for i in range(count)
    )


@pytest.mark.parametrize(
    ("count", "discounted", "member"),
    [(3, 50.0, True), (3, 49.99, False), (2, 50.0, False), (4, 50.0, True)],
)
def test_discount_seeker_from_half_of_spend_and_three_orders(
    count: int, discounted: float, member: bool
) -> None:
    profile = discount_orders(count, discounted, 50.0)

    assert ("discount_seeker" in profile.segments(T0, CONFIG)) is member


@pytest.mark.parametrize(("age_ms", "member"), [(days(90), False), (days(90) + 1, True)])
def test_lapsed_when_the_last_order_is_older_than_90_days(age_ms: int, member: bool) -> None:
    profile = fold([order_of_value("o1", T0, 5.0)])

    assert profile.is_lapsed(T0 + age_ms, CONFIG) is member
    assert ("lapsed" in profile.segments(T0 + age_ms, CONFIG)) is member


def test_a_shopper_never_ordering_is_not_lapsed() -> None:
    assert "lapsed" not in ShopperProfile.empty("s1").segments(T0 + days(1000), CONFIG)


def test_segments_come_in_a_stable_order() -> None:
    profile = discount_orders(1, 1000.0, 1000.0)
    config = ProfileConfig(discount_seeker_min_orders=1)

    assert profile.segments(T0 + days(91), config) == SEGMENTS
    assert SEGMENTS == ("new", "high_spender", "high_ltv", "discount_seeker", "lapsed")
