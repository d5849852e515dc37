"""Spend rules of the shopper profile: order value, windows, typical value, discounts, bands."""

from __future__ import annotations

import pytest

from schemas.events import CartItem, OrderItem
from streams.profiles import OrderLineFacts, ProfileConfig, order_value
from tests.unit.profiles.helpers import CONFIG, T0, days, fold, order, order_of_value


def test_order_value_is_quantity_times_price_without_shipping() -> None:
    facts = order(
        "o1",
        T0,
        OrderLineFacts("p1", 3, 2.50),
        OrderLineFacts("p2", 1, 10.00),
        shipping_fee=4.99,
    )

    assert order_value(facts.lines) == pytest.approx(17.50)
    assert fold([facts]).lifetime_spend == pytest.approx(17.50)


def test_order_value_takes_contract_items_and_empty_orders() -> None:
    items = [
        OrderItem(product_id="p1", quantity=2, unit_price=1.25),
        OrderItem(product_id="p2", quantity=1, unit_price=0.10),
    ]

    assert order_value(items) == pytest.approx(2.60)
    assert order_value([CartItem(product_id="p1", quantity=4, unit_price=0.5)]) == 2.0
    assert order_value([]) == 0.0


def test_order_value_is_not_rounded() -> None:
    assert order_value([OrderLineFacts("p1", 3, 0.333)]) == pytest.approx(0.999, abs=1e-12)
    assert fold([order_of_value("o1", T0, 0.333)]).lifetime_spend == 0.333


def test_order_count_and_lifetime_spend_add_up() -> None:
    profile = fold(order_of_value(f"o{i}", T0 + i, 10.0 * i) for i in range(1, 5))

    assert profile.order_count == 4
    assert profile.lifetime_spend == pytest.approx(100.0)
    assert profile.first_order_ts == T0 + 1
    assert profile.last_order_ts == T0 + 4


def test_typical_value_is_the_median_of_the_last_20_orders() -> None:
    twenty = fold(order_of_value(f"o{i}", T0 + i, float(i)) for i in range(1, 21))
    assert twenty.typical_order_value() == 10.5
    assert twenty.recent_order_values == tuple(float(i) for i in range(1, 21))

    twenty_one = twenty.with_order(order_of_value("o21", T0 + 21, 21.0), CONFIG)

    assert twenty_one.recent_order_values == tuple(float(i) for i in range(2, 22))
    assert twenty_one.typical_order_value() == 11.5
    assert twenty_one.order_count == 21


def test_typical_value_window_follows_the_config() -> None:
    config = ProfileConfig(typical_orders=3)
    profile = fold((order_of_value(f"o{i}", T0 + i, v) for i, v in enumerate([9, 1, 2, 3])), config)

    assert profile.recent_order_values == (1.0, 2.0, 3.0)
    assert profile.typical_order_value() == 2.0


def test_no_orders_no_typical_value_spread_or_band() -> None:
    profile = fold([])

    assert profile.typical_order_value() is None
    assert profile.order_value_spread() is None
    assert profile.price_band(CONFIG) is None
    assert profile.discount_share() is None
    assert profile.trailing_spend(T0, CONFIG) == 0.0


def test_spread_is_the_median_absolute_deviation() -> None:
    profile = fold(order_of_value(f"o{i}", T0 + i, v) for i, v in enumerate([10, 20, 30, 100]))

    # median 25; deviations 15, 5, 5, 75 -> median 10
    assert profile.order_value_spread() == 10.0
    assert fold([order_of_value("o1", T0, 42.0)]).order_value_spread() == 0.0


def test_trailing_spend_counts_orders_up_to_365_days_before_now() -> None:
    now = T0 + days(400)
    profile = fold(
        [
            order_of_value("too-old", now - days(365.1), 1.0),
            order_of_value("at-edge", now - days(365), 10.0),
            order_of_value("inside", now - days(364.9), 100.0),
            order_of_value("today", now, 1000.0),
        ]
    )

    assert profile.trailing_spend(now, CONFIG) == pytest.approx(1110.0)
    assert profile.trailing_spend(now + days(0.05), CONFIG) == pytest.approx(1100.0)
    assert profile.lifetime_spend == pytest.approx(1111.0)


def test_trailing_state_is_bounded_by_the_window_from_the_latest_order() -> None:
    profile = fold([order_of_value("old", T0, 1.0), order_of_value("new", T0 + days(365.1), 2.0)])

    assert profile.trailing_orders == ((T0 + days(365.1), 2.0),)
    assert profile.order_count == 2


def test_recent_products_keep_30_days_from_the_latest_order() -> None:
    first = order("o1", T0, OrderLineFacts("kettle", 1, 30.0))
    within = order("o2", T0 + days(29.9), OrderLineFacts("tea", 1, 3.0))
    beyond = order("o3", T0 + days(30.1), OrderLineFacts("mug", 1, 5.0))

    assert dict(fold([first, within]).recent_products) == {
        "kettle": T0,
        "tea": T0 + days(29.9),
    }
    assert dict(fold([first, within, beyond]).recent_products) == {
        "tea": T0 + days(29.9),
        "mug": T0 + days(30.1),
    }


def test_rebuying_refreshes_a_recent_product() -> None:
    first = order("o1", T0, OrderLineFacts("tea", 1, 3.0))
    again = order("o2", T0 + days(20), OrderLineFacts("tea", 2, 3.0))
    later = order("o3", T0 + days(45), OrderLineFacts("mug", 1, 5.0))

    profile = fold([first, again, later])

    assert dict(profile.recent_products) == {"tea": T0 + days(20), "mug": T0 + days(45)}


def test_recently_bought_is_relative_to_now() -> None:
    profile = fold([order("o1", T0, OrderLineFacts("tea", 1, 3.0))])

    assert profile.recently_bought(T0 + days(29.9), CONFIG) == {"tea": T0}
    assert profile.recently_bought(T0 + days(30), CONFIG) == {"tea": T0}
    assert profile.recently_bought(T0 + days(30.1), CONFIG) == {}


def test_recent_products_are_bounded_keeping_the_latest() -> None:
    config = ProfileConfig(max_recent_products=2)
    profile = fold(
        [
            order("o1", T0, OrderLineFacts("a", 1, 1.0)),
            order("o2", T0 + 1, OrderLineFacts("b", 1, 1.0)),
            order("o3", T0 + 2, OrderLineFacts("c", 1, 1.0)),
        ],
        config,
    )

    assert dict(profile.recent_products) == {"b": T0 + 1, "c": T0 + 2}


def test_discount_share_uses_list_prices_with_a_rounding_tolerance() -> None:
    facts = order(
        "o1",
        T0,
        OrderLineFacts("cut", 2, 8.00, list_price=10.00),  # 16.00 discounted
        OrderLineFacts("rounding", 1, 9.96, list_price=10.00),  # within 0.5%: full price
        OrderLineFacts("just-cut", 1, 9.94, list_price=10.00),  # 9.94 discounted
        OrderLineFacts("unknown", 1, 4.10),  # no list price: full price
        OrderLineFacts("dearer", 1, 12.00, list_price=10.00),
    )
    profile = fold([facts])

    assert profile.discounted_spend == pytest.approx(25.94)
    assert profile.discount_share() == pytest.approx(25.94 / 52.00)


def test_discount_share_over_several_orders() -> None:
    profile = fold(
        [
            order("o1", T0, OrderLineFacts("a", 1, 5.0, list_price=10.0)),
            order("o2", T0 + 1, OrderLineFacts("b", 1, 15.0, list_price=15.0)),
        ]
    )

    assert profile.discount_share() == pytest.approx(0.25)


def test_free_shipping_and_shipping_paid() -> None:
    profile = fold(
        [
            order("o1", T0, shipping_fee=4.99),
            order("o2", T0 + 1, shipping_fee=0.0),
            order("o3", T0 + 2, shipping_fee=2.50),
            order("o4", T0 + 3),
        ]
    )

    assert profile.shipping_paid == pytest.approx(7.49)
    assert profile.free_shipping_orders == 2
    assert profile.lifetime_spend == pytest.approx(40.0)


@pytest.mark.parametrize(
    ("unit_price", "band"),
    [(0.5, "budget"), (4.99, "budget"), (5.0, "mid"), (19.99, "mid"), (20.0, "premium")],
)
def test_price_band_by_median_unit_price(unit_price: float, band: str) -> None:
    facts = order(
        "o1",
        T0,
        OrderLineFacts("cheap", 1, 0.01),
        OrderLineFacts("median", 1, unit_price),
        OrderLineFacts("dear", 1, 1000.0),
    )

    assert fold([facts]).price_band(CONFIG) == band


def test_price_band_uses_the_last_50_item_prices() -> None:
    cheap = order("o1", T0, *(OrderLineFacts(f"c{i}", 5, 1.0) for i in range(50)))
    dear = order("o2", T0 + 1, *(OrderLineFacts(f"d{i}", 1, 50.0) for i in range(26)))

    profile = fold([cheap, dear])

    assert len(profile.item_prices) == 50
    assert profile.item_prices.count(50.0) == 26
    assert profile.price_band(CONFIG) == "premium"
    assert fold([cheap]).price_band(CONFIG) == "budget"


def test_price_band_edges_follow_the_config() -> None:
    config = ProfileConfig(price_band_edges=(1.0, 2.0))
    profile = fold([order_of_value("o1", T0, 1.5)])

    assert profile.price_band(config) == "mid"
