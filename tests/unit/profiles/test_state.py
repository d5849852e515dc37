"""Profile state: dedupe, round trip, immutability, arrival order, config, adapters, consent."""

from __future__ import annotations

import dataclasses
import json
import random
import statistics
from types import MappingProxyType
from typing import Any

import orjson
import pytest

from schemas.events import ClickEvent, OrderEvent, OrderItem
from streams.profiles import (
    ClickFacts,
    OrderFacts,
    OrderLineFacts,
    ProfileConfig,
    ShopperProfile,
    click_facts_from_event,
    consent_after,
    is_granted,
    order_facts_from_event,
    remember_event,
)
from tests.unit.profiles.helpers import CONFIG, T0, click, days, fold, order, order_of_value


def busy_profile() -> ShopperProfile:
    """A profile touched by every kind of update."""
    profile = fold(
        [
            order(
                "o1",
                T0,
                OrderLineFacts("tea", 2, 3.5, "tea", 4.0),
                OrderLineFacts("pot", 1, 25.0, "kitchen"),
                shipping_fee=3.99,
            ),
            order("o2", T0 + days(40), OrderLineFacts("mug", 4, 2.25, "mugs", 2.25)),
            order_of_value("o3", T0 + days(10), 7.0),
        ]
    )
    profile = profile.with_click(click("c1", T0 + days(41), "view", "tea"), CONFIG)
    return profile.with_click(click("c2", T0 + days(42), "offer_click"), CONFIG)


# Dedupe


def test_an_applied_order_is_seen_and_not_counted_twice() -> None:
    facts = order_of_value("o1", T0, 10.0)
    profile = fold([facts])

    assert profile.has_seen("o1")
    assert not profile.has_seen("o2")
    assert profile.with_order(facts, CONFIG) is profile
    assert profile.with_click(click("o1", T0), CONFIG) is profile


def test_dedupe_window_is_bounded() -> None:
    config = ProfileConfig(max_recent_event_ids=3)
    profile = fold((order_of_value(f"o{i}", T0 + i, 1.0) for i in range(4)), config)

    assert profile.recent_event_ids == ("o1", "o2", "o3")
    assert not profile.has_seen("o0")
    # Beyond the window a redelivery is no longer recognised: the bound's trade-off.
    assert profile.with_order(order_of_value("o0", T0, 1.0), config).order_count == 5


def test_remember_event_drops_the_oldest_and_ignores_repeats() -> None:
    ids: tuple[str, ...] = ()
    for event_id in ["a", "b", "a", "c", "d"]:
        ids = remember_event(ids, event_id, 3)

    assert ids == ("b", "c", "d")
    assert remember_event(("a", "b", "c"), "b", 2) == ("b", "c")
    with pytest.raises(ValueError, match="max_ids"):
        remember_event((), "a", 0)


def test_json_round_trip_is_equal() -> None:
    profile = busy_profile()

    assert ShopperProfile.from_dict(json.loads(json.dumps(profile.to_dict()))) == profile
    assert ShopperProfile.from_dict(orjson.loads(orjson.dumps(profile.to_dict()))) == profile


def test_round_trip_keeps_zero_timestamps_and_empty_profiles() -> None:
    at_epoch = fold([order("o1", 0, OrderLineFacts("free", 1, 0.0))])
    empty = ShopperProfile.empty("s1")

    for profile in [at_epoch, empty]:
        assert ShopperProfile.from_dict(json.loads(json.dumps(profile.to_dict()))) == profile
    assert empty.to_dict() == {"s": "s1"}


def test_from_dict_rejects_unknown_fields() -> None:
    with pytest.raises(ValueError, match="unknown"):
        ShopperProfile.from_dict({"s": "s1", "zz": 1})


def test_stored_form_is_compact() -> None:
    encoded = orjson.dumps(busy_profile().to_dict())

    assert len(encoded) < 600


def test_updates_never_mutate_their_inputs() -> None:
    profile = busy_profile()
    before = profile.to_dict()
    lines = [OrderLineFacts("tea", 1, 3.5, "tea", 4.0)]
    facts = OrderFacts("o9", T0 + days(43), lines)  # type: ignore[arg-type]
    facts_before = dataclasses.astuple(facts)

    updated = profile.with_order(facts, CONFIG)
    updated = updated.with_click(click("c9", T0 + days(44)), CONFIG)
    updated = updated.with_click(click("c10", T0, "add_to_cart", "kitchen"), CONFIG)

    assert profile.to_dict() == before
    assert dataclasses.astuple(facts) == facts_before
    assert lines == [OrderLineFacts("tea", 1, 3.5, "tea", 4.0)]
    assert updated.order_count == profile.order_count + 1


def test_stored_mappings_are_read_only_copies() -> None:
    bought = {"tea": T0}
    profile = ShopperProfile("s1", recent_products=bought)
    bought["mug"] = T0

    assert dict(profile.recent_products) == {"tea": T0}
    assert isinstance(profile.recent_products, MappingProxyType)
    with pytest.raises(dataclasses.FrozenInstanceError):
        profile.order_count = 3  # type: ignore[misc]


# Arrival order


def random_orders(seed: int, count: int) -> list[OrderFacts]:
    """Orders at distinct random times over two years, with random lines."""
    rng = random.Random(seed)
    times = rng.sample(range(T0, T0 + days(730), 60_000), count)
    return [
        order(
            f"o{i}",
            ts,
            *(
                OrderLineFacts(
                    f"p{rng.randrange(40)}",
                    rng.randint(1, 5),
                    round(rng.uniform(0.5, 80.0), 2),
                    rng.choice(["tea", "mugs", "kitchen", None]),
                    rng.choice([None, round(rng.uniform(0.5, 90.0), 2)]),
                )
                for _ in range(rng.randint(1, 6))
            ),
            shipping_fee=rng.choice([0.0, 3.99]),
        )
        for i, ts in enumerate(times)
    ]


ROUNDING_DEPENDENT = ("ls", "ds", "sp", "ca")  # float sums, and affinity (decayed sums)


def exact_part(profile: ShopperProfile) -> dict[str, Any]:
    """The stored form without float sums and the arrival-ordered dedupe window."""
    data = profile.to_dict()
    for key in ("e", *ROUNDING_DEPENDENT):
        data.pop(key, None)
    return data


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_out_of_order_orders_give_the_same_profile(seed: int) -> None:
    orders = random_orders(seed, 60)
    in_time_order = fold(sorted(orders, key=lambda facts: facts.ts_ms))
    shuffled = fold(orders)
    now = in_time_order.last_order_ts
    assert now is not None

    assert shuffled.order_count == in_time_order.order_count == 60
    assert shuffled.lifetime_spend == pytest.approx(in_time_order.lifetime_spend, rel=1e-12)
    assert shuffled.typical_order_value() == in_time_order.typical_order_value()
    assert shuffled.trailing_spend(now, CONFIG) == pytest.approx(
        in_time_order.trailing_spend(now, CONFIG), rel=1e-12
    )
    assert shuffled.recent_products == in_time_order.recent_products
    assert shuffled.item_prices == in_time_order.item_prices
    assert shuffled.first_order_ts == in_time_order.first_order_ts
    assert shuffled.affinity_as_of_ts == in_time_order.affinity_as_of_ts
    assert shuffled.category_affinity == pytest.approx(in_time_order.category_affinity)
    assert exact_part(shuffled) == exact_part(in_time_order)
    assert shuffled.discounted_spend == pytest.approx(in_time_order.discounted_spend)
    assert shuffled.shipping_paid == pytest.approx(in_time_order.shipping_paid)


@pytest.mark.parametrize("seed", [11, 12])
def test_offline_recomputation_agrees(seed: int) -> None:
    orders = random_orders(seed, 45)
    profile = fold(orders)

    by_time = sorted(orders, key=lambda facts: facts.ts_ms)
    values = [sum(line.quantity * line.unit_price for line in facts.lines) for facts in by_time]
    assert profile.order_count == len(orders)
    assert profile.lifetime_spend == pytest.approx(sum(values), rel=1e-9)
    assert profile.typical_order_value() == pytest.approx(statistics.median(values[-20:]))
    assert profile.shipping_paid == pytest.approx(sum(facts.shipping_fee for facts in orders))
    assert profile.free_shipping_orders == sum(facts.shipping_fee == 0 for facts in orders)
    now = by_time[-1].ts_ms
    assert profile.trailing_spend(now, CONFIG) == pytest.approx(
        sum(v for facts, v in zip(by_time, values, strict=True) if facts.ts_ms >= now - days(365))
    )


# Config


@pytest.mark.parametrize(
    "changes",
    [
        {"typical_orders": 0},
        {"max_categories": 0},
        {"max_recent_event_ids": 0},
        {"new_max_orders": -1},
        {"trailing_days": 0},
        {"recent_days": float("nan")},
        {"affinity_half_life_days": -1.0},
        {"lapsed_days": float("inf")},
        {"click_affinity_weight": -0.1},
        {"high_ltv_spend": float("nan")},
        {"discount_seeker_share": 1.5},
        {"price_band_edges": (20.0, 5.0)},
        {"price_band_edges": (-1.0, 5.0)},
    ],
)
def test_config_rejects_nonsense(changes: dict[str, Any]) -> None:
    with pytest.raises(ValueError):
        ProfileConfig(**changes)


def test_order_facts_reject_impossible_lines() -> None:
    with pytest.raises(ValueError):
        order("o1", T0, OrderLineFacts("p", 0, 1.0))
    with pytest.raises(ValueError):
        order("o1", T0, OrderLineFacts("p", 1, float("nan")))
    with pytest.raises(ValueError):
        order("o1", T0, shipping_fee=-1.0)


def test_order_facts_accept_plain_tuples() -> None:
    facts = OrderFacts("o1", T0, (("p", 2, 1.5),))  # type: ignore[arg-type]

    assert facts.lines == (OrderLineFacts("p", 2, 1.5, None, None),)


# Adapters


def test_order_facts_from_a_contract_order() -> None:
    event = OrderEvent(
        event_id="e1",
        ts=T0,
        shopper_id="s1",
        order_id="ord-1",
        currency="GBP",
        shipping_fee=2.5,
        items=[
            OrderItem(product_id="p1", quantity=2, unit_price=4.0, category="tea"),
            OrderItem(product_id="p2", quantity=1, unit_price=9.0),
        ],
    )
    catalog = {"p1": 5.0, "p2": 9.0}
    categories = {"p1": "ignored", "p2": "mugs"}

    facts = order_facts_from_event(event, catalog.get, categories.get)

    assert facts == OrderFacts(
        "e1",
        T0,
        (
            OrderLineFacts("p1", 2, 4.0, "tea", 5.0),
            OrderLineFacts("p2", 1, 9.0, "mugs", 9.0),
        ),
        2.5,
    )
    assert order_facts_from_event(event).lines[1] == OrderLineFacts("p2", 1, 9.0, None, None)


def test_click_facts_from_a_contract_click() -> None:
    event = ClickEvent(event_id="e2", ts=T0, session_id="x", action="view", product_id="p2")

    assert click_facts_from_event(event, {"p2": "mugs"}.get) == ClickFacts(
        "e2", T0, "view", "p2", "mugs"
    )
    assert click_facts_from_event(event).category is None


# Consent


@pytest.mark.parametrize("current", [True, False, None])
@pytest.mark.parametrize("default_granted", [True, False])
def test_consent_actions(current: bool | None, default_granted: bool) -> None:
    assert consent_after("grant", current, default_granted) is True
    assert consent_after("revoke", current, default_granted) is False
    assert consent_after("erase", current, default_granted) is None
    with pytest.raises(ValueError):
        consent_after("maybe", current, default_granted)


def test_consent_default_applies_only_without_a_recorded_choice() -> None:
    assert is_granted(None, True) is True
    assert is_granted(None, False) is False
    assert is_granted(True, False) is True
    assert is_granted(False, True) is False


# Inspection view


def test_public_dict_is_rounded_for_display() -> None:
    profile = busy_profile()
    now = T0 + days(42)

    public = profile.to_public_dict(now, CONFIG)

    assert list(public) == [
        "shopper_id",
        "order_count",
        "lifetime_spend",
        "trailing_365d_spend",
        "typical_order_value",
        "order_value_spread",
        "last_order_ts",
        "recent_products",
        "discount_share",
        "category_affinity",
        "price_band",
        "segments",
    ]
    assert public["order_count"] == 3
    assert public["lifetime_spend"] == 48.0  # 7.00 + 25.00 + 9.00 + 7.00; shipping excluded
    assert public["trailing_365d_spend"] == 48.0
    assert public["typical_order_value"] == 9.0
    assert public["order_value_spread"] == 2.0
    assert public["last_order_ts"] == T0 + days(40)
    assert public["recent_products"] == {"mug": T0 + days(40)}
    assert public["discount_share"] == round(7.0 / 48.0, 4)
    assert list(public["category_affinity"]) == ["mugs", "kitchen", "tea"]  # strongest first
    assert all(round(s, 4) == s for s in public["category_affinity"].values())
    assert public["price_band"] == "mid"  # median of 2.25, 3.50, 7.00, 25.00
    assert public["segments"] == []
    json.dumps(public)


def test_public_dict_of_an_empty_profile() -> None:
    public = ShopperProfile.empty("s1").to_public_dict(T0, CONFIG)

    assert public["typical_order_value"] is None
    assert public["segments"] == ["new"]
    assert public["category_affinity"] == {}
