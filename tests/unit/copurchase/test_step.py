"""streams/copurchase/step.py: orders to deltas, deltas absorbed once per product."""

from __future__ import annotations

import pytest

from streams.copurchase.model import (
    TOTAL_ORDERS_KEY,
    CopurchaseConfig,
    OrderedProduct,
    OrderFacts,
    ProductDelta,
    ProductState,
)
from streams.copurchase.step import PositionedDelta, absorb, absorb_new, merge_into, order_deltas

T0 = 1_763_740_800_000
CONFIG = CopurchaseConfig(half_life_days=0, neighbours_k=2)


def test_an_order_counts_its_products_its_pairs_and_itself() -> None:
    facts = OrderFacts(T0, (OrderedProduct("a", 1.0), OrderedProduct("b", 2.0)))
    deltas = order_deltas(facts, {"old": T0 - 1000}, CONFIG)
    assert set(deltas) == {"a", "b", "old", TOTAL_ORDERS_KEY}
    assert deltas["a"].neighbours == {"b": 1.0, "old": 0.5}
    assert deltas[TOTAL_ORDERS_KEY].purchases == 1.0


def test_merge_into_keeps_one_delta_per_product() -> None:
    batch: dict[str, ProductDelta] = {}
    merge_into(batch, {"a": ProductDelta("a", T0, 1.0, {"b": 1.0})}, CONFIG)
    merge_into(batch, {"a": ProductDelta("a", T0, 1.0, {"c": 1.0})}, CONFIG)
    assert batch == {"a": ProductDelta("a", T0, 2.0, {"b": 1.0, "c": 1.0})}


def test_absorb_applies_merged_deltas_and_prunes_once() -> None:
    deltas = [
        ProductDelta("a", T0, 1.0, {"b": 1.0, "c": 1.0}),
        ProductDelta("a", T0, 1.0, {"c": 1.0, "d": 1.0}),
    ]
    state = absorb(ProductState.empty("a"), deltas, CONFIG)
    assert state.purchases == 2.0
    # Pruned after the merge (c: 2 kept); pruning after each delta would keep b, c then c, d.
    assert dict(state.neighbours) == {"b": 1.0, "c": 2.0}


def test_absorb_new_skips_what_the_state_already_holds() -> None:
    first = absorb_new(
        ProductState.empty("a"), [PositionedDelta(5, ProductDelta("a", T0, 1.0))], 0, CONFIG
    )
    assert first.state is not None and first.state.applied_through == (0, 5)
    again = absorb_new(
        first.state,
        [
            PositionedDelta(5, ProductDelta("a", T0, 1.0)),
            PositionedDelta(6, ProductDelta("a", T0, 1.0)),
        ],
        0,
        CONFIG,
    )
    assert again.skipped == 1
    assert again.state is not None and again.state.purchases == 2.0
    assert again.state.applied_through == (0, 6)
    nothing = absorb_new(again.state, [PositionedDelta(6, ProductDelta("a", T0, 1.0))], 0, CONFIG)
    assert nothing == (None, 1)


def test_positions_are_per_partition() -> None:
    state = ProductState.empty("a").with_applied_through(0, 10)
    other = absorb_new(state, [PositionedDelta(3, ProductDelta("a", T0, 1.0))], 1, CONFIG)
    assert other.skipped == 0 and other.state is not None
    assert other.state.purchases == pytest.approx(1.0)
