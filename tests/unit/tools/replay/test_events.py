"""Contract events derived from an order log (streams.tools.replay.events)."""

from __future__ import annotations

from itertools import pairwise
from typing import Any

import orjson
import pytest

from schemas.decode import decode_event
from schemas.events import CartEvent, CatalogEvent, OrderEvent
from streams.tools.replay import (
    CART_STEP_MS,
    FALLBACK_CATEGORY,
    MAX_CART_SPAN_MS,
    Order,
    OrderLine,
    OrderLog,
    cart_events,
    catalog_events,
    order_event,
    replay_events,
)

T0 = 1_323_435_000_000  # 2011-12-09T12:50:00Z


def make_order(
    order_id: str, shopper_id: str | None, ts_ms: int, lines: list[tuple[str, int, float, Any]]
) -> Order:
    """An order with lines given as (product, quantity, unit price, category)."""
    order_lines = tuple(
        OrderLine(order_id, shopper_id, ts_ms, product, qty, price, category, f"TITLE {product}")
        for product, qty, price, category in lines
    )
    return Order(order_id, shopper_id, ts_ms, order_lines)


KNOWN = make_order("581001", "12345", T0, [
    ("85123A", 6, 2.55, "holder"), ("71053", 2, 3.39, "lantern"), ("22423", 1, 12.75, None),
])  # fmt: skip
GUEST = make_order("581002", None, T0 + 60_000, [
    ("85123A", 1, 2.95, "holder"), ("22086", 12, 2.55, "kit"),
])  # fmt: skip
LOG = OrderLog(orders=(KNOWN, GUEST))


def test_cart_events_are_cumulative_one_line_at_a_time() -> None:
    events = cart_events(KNOWN)

    assert [len(event["items"]) for event in events] == [1, 2, 3]
    full_cart = order_event(KNOWN)["items"]
    for event in events:
        assert event["items"] == full_cart[: len(event["items"])]
    assert events[0]["items"] == [
        {"product_id": "85123A", "quantity": 6, "unit_price": 2.55, "category": "holder"}
    ]
    assert "category" not in events[2]["items"][2]  # unknown category is left out


def test_cart_events_come_a_few_seconds_before_the_order_never_after() -> None:
    timestamps = [event["ts"] for event in cart_events(KNOWN)]

    assert timestamps == [T0 - 3 * CART_STEP_MS, T0 - 2 * CART_STEP_MS, T0 - CART_STEP_MS]
    assert order_event(KNOWN)["ts"] == T0


def test_large_baskets_are_built_within_the_maximum_cart_span() -> None:
    big = make_order("581003", "1", T0, [(f"{n:05d}", 1, 1.0, None) for n in range(1_000)])

    timestamps = [event["ts"] for event in cart_events(big)]

    assert all(a < b for a, b in pairwise(timestamps))
    assert timestamps[-1] < T0
    assert T0 - timestamps[0] <= MAX_CART_SPAN_MS


def test_known_shopper_and_guest_ids_and_routing_keys() -> None:
    events = list(replay_events(LOG))
    by_id = {event["event_id"]: (topic, key, event) for topic, key, event in events}

    topic, key, order = by_id["order-581001"]
    assert (topic, key) == ("orders", "c-12345")
    assert (order["shopper_id"], order["session_id"], order["order_id"]) == (
        "c-12345", "w-581001", "o-581001",
    )  # fmt: skip
    topic, key, cart = by_id["cart-581002-2"]
    assert (topic, key) == ("carts", "g-581002")  # guests are keyed by their session
    assert (cart["shopper_id"], cart["session_id"], cart["cart_id"]) == (
        None, "g-581002", "k-581002",
    )  # fmt: skip
    topic, key, _ = by_id["order-581002"]
    assert (topic, key) == ("orders", "g-581002")


def test_replay_order_catalog_first_then_each_orders_carts_then_the_order() -> None:
    sequence = [(topic, event["event_id"]) for topic, _, event in replay_events(LOG)]

    assert sequence == [
        ("catalog", "22423@1323435000000"),  # by (last seen, product id)
        ("catalog", "71053@1323435000000"),
        ("catalog", "22086@1323435060000"),
        ("catalog", "85123A@1323435060000"),
        ("carts", "cart-581001-1"),
        ("carts", "cart-581001-2"),
        ("carts", "cart-581001-3"),
        ("orders", "order-581001"),
        ("carts", "cart-581002-1"),
        ("carts", "cart-581002-2"),
        ("orders", "order-581002"),
    ]


def test_replay_without_carts() -> None:
    topics = [topic for topic, _, _ in replay_events(LOG, carts=False)]

    assert topics == ["catalog"] * 4 + ["orders"] * 2


def test_replay_with_the_last_cart_steps_only() -> None:
    sequence = [
        event["event_id"]
        for topic, _, event in replay_events(LOG, cart_steps=1)
        if topic != "catalog"
    ]

    assert sequence == ["cart-581001-3", "order-581001", "cart-581002-2", "order-581002"]
    with pytest.raises(ValueError, match="cart_steps"):
        list(replay_events(LOG, cart_steps=0))


def test_event_ids_are_deterministic_and_unique() -> None:
    first = list(replay_events(LOG))
    second = list(replay_events(LOG))

    assert first == second
    ids = [event["event_id"] for _, _, event in first]
    assert len(ids) == len(set(ids))


def test_catalog_has_one_event_per_product_at_its_last_seen_price() -> None:
    events = {event["product_id"]: event for event in catalog_events(LOG)}

    assert sorted(events) == ["22086", "22423", "71053", "85123A"]
    assert events["85123A"] == {
        "event_id": "85123A@1323435060000",
        "ts": T0 + 60_000,
        "product_id": "85123A",
        "title": "TITLE 85123A",
        "category": "holder",
        "unit_price": 2.95,  # the guest order's price, seen last
        "in_stock": True,
    }
    assert events["22423"]["category"] == FALLBACK_CATEGORY


def test_order_event_fields() -> None:
    event = order_event(KNOWN)

    assert event["currency"] == "GBP"
    assert event["shipping_fee"] == 0.0
    assert [item["product_id"] for item in event["items"]] == ["85123A", "71053", "22423"]


def required_keys(example: dict[str, Any], optional: set[str]) -> set[str]:
    """The keys of a contract example minus the ones the contract calls optional."""
    return set(example) - optional


@pytest.mark.parametrize("carts", [True, False])
def test_every_event_has_the_contract_fields(
    contract_examples: dict[str, dict[str, Any]], carts: bool
) -> None:
    optional = {
        "carts": set(),
        "orders": set(),
        "catalog": {"title", "margin"},
    }
    item_optional = {"category", "offer_id"}
    for topic, _, event in replay_events(LOG, carts=carts):
        example = contract_examples[topic]
        assert required_keys(example, optional[topic]) <= set(event), (topic, event)
        assert set(event) <= set(example), (topic, event)  # nothing outside the contract
        for item in event.get("items", []):
            assert required_keys(example["items"][0], item_optional) <= set(item)
            assert set(item) <= set(example["items"][0])
        for name, value in event.items():
            if value is not None and example[name] is not None:
                assert type(value) is type(example[name]), (topic, name, value)


def test_every_event_decodes_with_the_contract_models() -> None:
    models: dict[str, type[CartEvent | OrderEvent | CatalogEvent]] = {
        "carts": CartEvent,
        "orders": OrderEvent,
        "catalog": CatalogEvent,
    }
    for topic, key, event in replay_events(LOG):
        decoded = decode_event(models[topic], orjson.dumps(event))
        assert decoded.event_id == event["event_id"]
        if isinstance(decoded, CartEvent | OrderEvent):
            assert key == decoded.routing_key
