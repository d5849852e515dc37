"""Builders for profile tests: orders and clicks from a few numbers."""

from __future__ import annotations

from collections.abc import Iterable

from streams.profiles import ClickFacts, OrderFacts, OrderLineFacts, ProfileConfig, ShopperProfile
from streams.units import DAY_MS

T0 = 1_700_000_000_000  # 2023-11-14T22:13:20Z
CONFIG = ProfileConfig()


def days(n: float) -> int:
    """n days in milliseconds."""
    return round(n * DAY_MS)


def order(
    event_id: str,
    ts_ms: int,
    *lines: OrderLineFacts,
    shipping_fee: float = 0.0,
) -> OrderFacts:
    """An order of the given lines (one 10.00 line of product p1 if none are given)."""
    return OrderFacts(event_id, ts_ms, lines or (OrderLineFacts("p1", 1, 10.0),), shipping_fee)


def order_of_value(event_id: str, ts_ms: int, value: float) -> OrderFacts:
    """An order of one line worth value."""
    return order(event_id, ts_ms, OrderLineFacts("p1", 1, value))


def click(
    event_id: str, ts_ms: int, action: str = "view", category: str | None = "tea"
) -> ClickFacts:
    """A click on a product of the category."""
    return ClickFacts(event_id, ts_ms, action, "p1", category)


def fold(
    orders: Iterable[OrderFacts], config: ProfileConfig = CONFIG, shopper_id: str = "s1"
) -> ShopperProfile:
    """The profile after applying the orders in the given order."""
    profile = ShopperProfile.empty(shopper_id)
    for facts in orders:
        profile = profile.with_order(facts, config)
    return profile
