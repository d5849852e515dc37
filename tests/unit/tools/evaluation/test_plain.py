"""streams/tools/evaluation/plain: same-order co-purchase counts and their index."""

from __future__ import annotations

import numpy as np
import pytest

from streams.offers.ranking import ProductFacts, ProductIndex, rank_by_copurchase_count
from streams.offers.ranking.inputs import CartItem
from streams.tools.evaluation.plain import PlainCounts
from streams.tools.replay.orderlog import Order, OrderLine


def order(order_id: str, *products: str, shopper: str | None = None) -> Order:
    lines = tuple(OrderLine(order_id, shopper, 0, p, 1, 2.0, None, None) for p in products)
    return Order(order_id, shopper, 0, lines)


def test_counts_orders_with_both_products_once_per_order() -> None:
    counts = PlainCounts()
    # a twice in o1 (two lines) still counts once; o4 has one product: no pair.
    counts.add([order("o1", "a", "b", "a"), order("o2", "b", "a", "c"), order("o3", "c", "b")])
    counts.add([order("o4", "a")])
    assert counts.orders == 4
    assert [counts.purchases(p) for p in "abcz"] == [3, 3, 2, 0]
    assert counts.count("a", "b") == counts.count("b", "a") == 2.0
    assert counts.count("b", "c") == 2.0 and counts.count("a", "c") == 1.0
    assert counts.count("a", "a") == 0.0 and counts.count("a", "z") == 0.0


def test_no_cross_order_pairs_no_decay_no_pruning() -> None:
    # The same shopper's consecutive orders never pair; 150 neighbours are all kept.
    counts = PlainCounts()
    counts.add([order("o1", "a", shopper="s"), order("o2", "b", shopper="s")])
    assert counts.count("a", "b") == 0.0
    counts.add([order("big", "hub", *[f"n{i:03d}" for i in range(150)])])
    live = ProductIndex([ProductFacts(p, 1.0, None) for p in counts.product_ids])
    index = counts.index_like(live, price_bins=5)
    hub = index.facts("hub")
    assert hub is not None and len(hub.neighbours) == 150 and not hub.pruned


def test_counts_merged_across_chunks_equal_counting_at_once(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    orders = [
        order(f"o{i}", *[f"p{(i * 7 + j) % 13}" for j in range(2 + i % 6)]) for i in range(60)
    ]
    at_once = PlainCounts()
    at_once.add(orders)
    monkeypatch.setattr("streams.tools.evaluation.plain._CHUNK_KEYS", 4)
    chunked = PlainCounts()
    chunked.add(orders[:30])
    chunked.add(orders[30:])
    assert np.array_equal(at_once.pair_keys, chunked.pair_keys)
    assert np.array_equal(at_once.pair_counts, chunked.pair_counts)
    expected = sum(1 for o in orders if {"p1", "p2"} <= {ln.product_id for ln in o.lines})
    assert at_once.count("p1", "p2") == expected > 0


def test_index_like_takes_prices_categories_and_stock_from_the_live_index() -> None:
    counts = PlainCounts()
    counts.add([order("o1", "a", "b"), order("o2", "a", "c"), order("o3", "a", "c"),
                order("o4", "a", "new")])  # fmt: skip
    live = ProductIndex([
        ProductFacts("a", 1.0, "cups"),
        ProductFacts("b", 9.0, "bags", purchases=50.0, neighbours=(("a", 40.0),)),
        ProductFacts("c", 2.0, "bags", in_stock=False),
        ProductFacts("d", 4.0, "bags"),
    ])  # fmt: skip
    index = counts.index_like(live, price_bins=5)
    assert index.product_ids == live.product_ids  # "new" is unknown to the live index
    b, c, d = index.facts("b"), index.facts("c"), index.facts("d")
    assert b == ProductFacts("b", 9.0, "bags", None, 1.0, (("a", 1.0),), False)
    assert c is not None and c.in_stock is False and c.neighbours == (("a", 2.0),)
    assert d is not None and d.purchases == 0.0 and d.neighbours == ()
    # c has the most co-purchases with a but is out of stock: b, then the fallback d.
    offers = rank_by_copurchase_count([CartItem("a")], index)
    assert [o.product_id for o in offers] == ["b", "d"]


def test_rows_given_to_the_index_must_match_its_products() -> None:
    counts = PlainCounts()
    live = ProductIndex([ProductFacts("a", 1.0, None)])
    assert len(counts.index_like(live, price_bins=5)) == 1
    with pytest.raises(ValueError, match="rows"):
        ProductIndex([ProductFacts("a", 1.0, None)], rows=[])
