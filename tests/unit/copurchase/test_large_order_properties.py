"""Properties of one order's deltas, for contract-valid orders up to MAX_ITEMS lines.

The expectation is recomputed from the order's lines with plain loops (tests/support/
strategies.py draws the orders: Unicode ids, repeated products, tied prices, bulk orders at
the item limit). What holds, whatever the order: every distinct product counts one purchase
at the price of its last line; only the `max_paired_products` highest-priced products (ties:
the smaller id) form pairs, each pair once in each direction, with each other and with the
shopper's earlier products; the rest pair with nothing.
"""

from __future__ import annotations

import random
from collections.abc import Mapping

from hypothesis import example, given
from hypothesis import strategies as st

from schemas import OrderEvent
from streams.copurchase.model import (
    CopurchaseConfig,
    OrderFacts,
    ProductDelta,
    deltas_for_order,
)
from tests.support.strategies import DAY_MS, ids, limit_order, orders

CAPS = st.integers(2, 40) | st.just(CopurchaseConfig().max_paired_products)


def last_lines(order: OrderEvent) -> dict[str, tuple[float, str | None]]:
    """Product -> (price, category) of its last line."""
    return {item.product_id: (item.unit_price, item.category) for item in order.items}


def expected_paired(products: Mapping[str, tuple[float, str | None]], cap: int) -> set[str]:
    """The `cap` products of highest price, ties to the smaller id."""
    ranked = sorted(products, key=lambda pid: (-products[pid][0], pid))
    return set(ranked[:cap])


@st.composite
def recent_products(draw: st.DrawFn, order: OrderEvent) -> dict[str, int]:
    """A shopper's recently bought products: others and the order's own, before and after it."""
    own = [item.product_id for item in order.items[:5]]
    others = draw(st.lists(ids(), max_size=6, unique=True))
    offsets = st.one_of(
        st.integers(-40 * DAY_MS, 40 * DAY_MS),
        st.sampled_from([0, 1, -1, -30 * DAY_MS, -30 * DAY_MS - 1]),
    )
    return {pid: order.ts + draw(offsets) for pid in [*own, *others]}


@given(
    order=orders(),
    cap=CAPS,
    cross_weight=st.sampled_from([0.0, 0.5, 1.0]),
    data=st.data(),
)
@example(
    order=limit_order(), cap=CopurchaseConfig().max_paired_products, cross_weight=0.5, data=None
).via("the contract's item limit with the default cap")
def test_order_deltas_count_each_product_once_and_pair_only_the_capped_products(
    order: OrderEvent, cap: int, cross_weight: float, data: st.DataObject | None
) -> None:
    config = CopurchaseConfig(cross_order_weight=cross_weight, max_paired_products=cap)
    recent = data.draw(recent_products(order)) if data is not None else {"earlier": order.ts - 1}
    products = last_lines(order)
    paired = expected_paired(products, cap)
    earlier = {
        pid
        for pid, bought in recent.items()
        if 0 < order.ts - bought <= 30 * DAY_MS and pid not in products and cross_weight
    }

    deltas = deltas_for_order(OrderFacts.from_lines(order.ts, order.items), recent, config)

    assert set(deltas) == set(products) | earlier
    assert len(paired) == min(len(products), cap)
    assert sum(delta.purchases for delta in deltas.values()) == len(products)
    for pid, (price, category) in products.items():
        delta = deltas[pid]
        assert (delta.product_id, delta.as_of_ts, delta.purchases) == (pid, order.ts, 1.0)
        assert (delta.last_price, delta.last_price_ts, delta.category) == (
            price,
            order.ts,
            category,
        )
        want = {}
        if pid in paired:
            want = {other: 1.0 for other in paired if other != pid}
            want.update(dict.fromkeys(earlier, cross_weight))
        assert delta.neighbours == want, pid
    for pid in earlier:
        delta = deltas[pid]
        assert delta == ProductDelta(pid, order.ts, 0.0, dict.fromkeys(paired, cross_weight))


@given(order=orders(), cap=CAPS, seed=st.randoms(use_true_random=False))
@example(
    order=OrderEvent.model_validate_json(
        b'{"event_id":"e","ts":1300000000000,"shopper_id":"s","order_id":"o","currency":"GBP",'
        b'"items":[{"product_id":"b","quantity":1,"unit_price":2.0},'
        b'{"product_id":"c","quantity":1,"unit_price":2.0},'
        b'{"product_id":"a","quantity":1,"unit_price":2.0},'
        b'{"product_id":"d","quantity":1,"unit_price":1.0}]}'
    ),
    cap=2,
    seed=random.Random(0),
).via("a tie in price at the cap: the smaller ids win")
def test_the_paired_products_depend_on_the_order_content_not_its_line_order(
    order: OrderEvent, cap: int, seed: random.Random
) -> None:
    facts = OrderFacts.from_lines(order.ts, order.items)
    shuffled = list(facts.products)
    seed.shuffle(shuffled)
    again = OrderFacts(facts.ts_ms, tuple(shuffled))
    chosen = facts.paired_ids(cap)
    assert len(chosen) == min(len(facts.products), cap)
    assert set(again.paired_ids(cap)) == set(chosen)
    assert list(chosen) == [pid for pid in facts.product_ids if pid in set(chosen)]
    unpaired = [p for p in facts.products if p.product_id not in set(chosen)]
    for product in facts.products:
        if product.product_id in set(chosen):
            # No product left out ranks above a chosen one: higher price, or equal and smaller.
            assert all(
                (-product.unit_price, product.product_id) < (-other.unit_price, other.product_id)
                for other in unpaired
            )
