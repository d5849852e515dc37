"""Orders at the contract's size limits: the pair cap and size-bounded delta messages."""

from __future__ import annotations

import orjson
import pytest

from schemas.events import MAX_ITEMS
from streams.copurchase.model import (
    CopurchaseConfig,
    OrderedProduct,
    OrderFacts,
    ProductDelta,
    delta_messages,
    deltas_for_order,
    merge_delta_maps,
)

T0 = 1_700_000_000_000


def big_order(n: int, ts: int = T0) -> OrderFacts:
    # Prices cycle so that many tie: the cap must break ties by product_id.
    return OrderFacts(
        ts, tuple(OrderedProduct(f"p{i:05d}", float(1 + i % 7), "c") for i in range(n))
    )


def test_paired_ids_are_the_highest_priced_with_ties_by_id_in_line_order() -> None:
    order = OrderFacts(
        T0,
        (
            OrderedProduct("d", 1.0),
            OrderedProduct("b", 5.0),
            OrderedProduct("c", 5.0),
            OrderedProduct("a", 5.0),
            OrderedProduct("e", 9.0),
        ),
    )
    assert order.paired_ids(3) == ("b", "a", "e")
    assert order.paired_ids(5) == order.product_ids
    reversed_lines = OrderFacts(T0, tuple(reversed(order.products)))
    assert set(reversed_lines.paired_ids(3)) == {"a", "b", "e"}


def test_an_order_at_the_item_limit_counts_every_purchase_and_caps_pairs() -> None:
    config = CopurchaseConfig(max_paired_products=300)
    order = big_order(MAX_ITEMS)
    earlier = {"old-1": T0 - 1000}
    deltas = deltas_for_order(order, earlier, config)
    paired = set(order.paired_ids(300))
    assert len(paired) == 300
    products = set(order.product_ids)
    assert set(deltas) == products | {"old-1"}
    assert all(deltas[p].purchases == 1.0 for p in products)
    for product_id in products:
        neighbours = deltas[product_id].neighbours
        if product_id in paired:
            assert set(neighbours) == (paired - {product_id}) | {"old-1"}
        else:
            assert neighbours == {}
    assert set(deltas["old-1"].neighbours) == paired
    # Price and category are kept for every product, paired or not.
    assert deltas["p09999"].last_price == float(1 + 9999 % 7)


def test_orders_within_the_cap_pair_every_product() -> None:
    order = big_order(50)
    deltas = deltas_for_order(order, {}, CopurchaseConfig(max_paired_products=50))
    assert all(len(delta.neighbours) == 49 for delta in deltas.values())


@pytest.mark.parametrize("cap", [1, 0, True, 2.5])
def test_the_cap_must_allow_a_pair(cap: object) -> None:
    with pytest.raises(ValueError, match="max_paired_products"):
        CopurchaseConfig(max_paired_products=cap)  # type: ignore[arg-type]


def merged_by_product(messages: list[bytes]) -> dict[str, ProductDelta]:
    merged: dict[str, ProductDelta] = {}
    for message in messages:
        for data in orjson.loads(message):
            delta = ProductDelta.from_dict(data)
            merge_delta_maps(merged, {delta.product_id: delta}, 90.0)
    return merged


def test_messages_stay_under_the_limit_and_add_up_to_the_deltas() -> None:
    deltas = deltas_for_order(big_order(400), {}, CopurchaseConfig())
    limit = 64 * 1024
    messages = delta_messages(deltas.values(), limit)
    whole = len(orjson.dumps([d.to_dict() for d in deltas.values()]))
    assert whole > 10 * limit  # the case that needs splitting
    assert len(messages) > 10
    assert all(len(message) <= limit for message in messages)
    assert merged_by_product(messages) == deltas


def test_a_delta_too_large_for_one_message_is_split_by_neighbours() -> None:
    neighbours = {f"n{i:05d}": float(i % 3 + 1) for i in range(20_000)}
    delta = ProductDelta("big", T0, 1.0, neighbours, 4.5, T0, "mugs")
    messages = delta_messages([delta], 32 * 1024)
    assert len(messages) > 1
    assert all(len(message) <= 32 * 1024 for message in messages)
    parts = [ProductDelta.from_dict(d) for m in messages for d in orjson.loads(m)]
    # Only the first part carries the purchase and the price: summing parts counts it once.
    assert sum(part.purchases for part in parts) == 1.0
    assert [part.last_price for part in parts].count(4.5) == 1
    assert merged_by_product(messages) == {"big": delta}


def test_small_batches_make_one_message() -> None:
    deltas = deltas_for_order(big_order(5), {}, CopurchaseConfig())
    messages = delta_messages(deltas.values())
    assert len(messages) == 1
    assert [ProductDelta.from_dict(d) for d in orjson.loads(messages[0])] == list(deltas.values())
    assert delta_messages([]) == []


def test_an_impossible_limit_is_an_error_not_a_loop() -> None:
    delta = ProductDelta("p", T0, 1.0, {"a-very-long-neighbour-id": 1.0})
    with pytest.raises(ValueError, match="cannot fit"):
        delta_messages([delta], 20)
